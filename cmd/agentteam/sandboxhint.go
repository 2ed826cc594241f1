package main

import (
	"errors"
	"fmt"

	"github.com/agentteam/agentteam/executor/local"
)

// sandboxHint adds what to do when the host cannot sandbox kernels.
func sandboxHint(err error) error {
	if h := sandboxHintText(err); h != "" {
		return fmt.Errorf("%w%s", err, h)
	}
	return err
}

// sandboxHintText is "; <what to do>" when err says the host cannot
// sandbox kernels, else "".
func sandboxHintText(err error) string {
	var fe *local.FeatureError
	if err == nil || !errors.As(err, &fe) {
		return ""
	}
	hint := "run kernels unsandboxed on purpose with --no-sandbox (sandbox.enabled: false), or use a remote server with --jupyter-url"
	if fe.Feature == "workspace disk limit" {
		hint = "set sandbox.disk: none to run without a disk limit, or " + hint
	}
	return "; " + hint
}
