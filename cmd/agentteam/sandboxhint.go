package main

import (
	"errors"
	"fmt"

	"github.com/agentteam/agentteam/executor/local"
)

// How each command turns a part of the sandbox off: exec by flags, the
// others by their settings (config file, environment or flags).
const (
	execKnobs     = "exec"
	settingsKnobs = "settings"
)

// sandboxHint adds what to do when the host cannot sandbox kernels; knobs
// is execKnobs or settingsKnobs.
func sandboxHint(err error, knobs string) error {
	if h := sandboxHintText(err, knobs); h != "" {
		return fmt.Errorf("%w%s", err, h)
	}
	return err
}

// sandboxHintText is "; <what to do>" when err says the host cannot
// sandbox kernels, else "".
func sandboxHintText(err error, knobs string) string {
	var fe *local.FeatureError
	if err == nil || !errors.As(err, &fe) {
		return ""
	}
	hint := "run kernels unsandboxed on purpose with --no-sandbox (sandbox.enabled: false), or use a remote server with --jupyter-url"
	if knobs == execKnobs {
		hint = "run kernels unsandboxed on purpose with --no-sandbox, or use a remote server with --jupyter-url"
	}
	switch fe.Feature {
	case "workspace disk limit":
		if knobs == execKnobs {
			hint = "run without a disk limit with --disk none, or " + hint
		} else {
			hint = "run without a disk limit with sandbox.disk: none (or AGENTTEAM_SANDBOX_DISK=none), or " + hint
		}
	case "memory limit":
		if knobs == execKnobs {
			hint = "run without a memory limit with --memory none, or " + hint
		} else {
			hint = "run without a memory limit with sandbox.memory: none, or " + hint
		}
	case "process limit":
		if knobs == execKnobs {
			hint = "run without a process limit with --processes -1, or " + hint
		} else {
			hint = "run without a process limit with sandbox.processes: -1, or " + hint
		}
	}
	return "; " + hint
}

// limitNotesLine is the one short line that says the sandbox's limits are
// weaker on this host (without root); the details are logged with --verbose.
func limitNotesLine(summary string) string {
	return summary + " (--verbose for details)"
}
