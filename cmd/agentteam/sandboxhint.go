package main

import (
	"errors"
	"fmt"

	"github.com/agentteam/agentteam/executor/local"
)

// sandboxHint adds what to do when the host cannot sandbox kernels.
func sandboxHint(err error) error {
	var fe *local.FeatureError
	if !errors.As(err, &fe) {
		return err
	}
	hint := "run kernels unsandboxed on purpose with --no-sandbox (sandbox.enabled: false), or use a remote server with --jupyter-url"
	if fe.Feature == "workspace disk limit" {
		hint = "set sandbox.disk: none to run without a disk limit, or " + hint
	}
	return fmt.Errorf("%w; %s", err, hint)
}
