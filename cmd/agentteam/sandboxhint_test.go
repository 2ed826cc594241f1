package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/executor/local"
)

func TestSandboxHint(t *testing.T) {
	err := sandboxHint(fmt.Errorf("start: %w", &local.FeatureError{Feature: "user namespaces", Detail: "switched off"}), settingsKnobs)
	assert.ErrorIs(t, err, local.ErrNoSandbox)
	assert.Contains(t, err.Error(), "sandbox unavailable: user namespaces: switched off")
	assert.Contains(t, err.Error(), "--no-sandbox")
	plain := errors.New("other")
	assert.Equal(t, plain, sandboxHint(plain, execKnobs))
	assert.Empty(t, sandboxHintText(nil, execKnobs))
}

// The disk limit's hint names the knob of the command used, once: exec has
// a flag and no config file; solve, eval and serve have the setting.
func TestSandboxHintNamesTheCommandsKnob(t *testing.T) {
	disk := &local.FeatureError{Feature: "workspace disk limit", Detail: "it mounts a size-limited filesystem over the work directory, which needs root"}
	msg := sandboxHint(disk, execKnobs).Error()
	assert.Contains(t, msg, "--disk none")
	assert.NotContains(t, msg, "sandbox.disk")
	assert.NotContains(t, msg, "sandbox.enabled")
	assert.NotContains(t, msg, "negative")
	assert.Equal(t, 1, strings.Count(msg, "disk limit with"), msg)
	msg = sandboxHint(disk, settingsKnobs).Error()
	assert.Contains(t, msg, "sandbox.disk: none")
	assert.NotContains(t, msg, "--disk")
	assert.NotContains(t, msg, "negative")

	// Each limit's hint names the knob that turns it off, for the command.
	for feature, want := range map[string][2]string{
		"memory limit":  {"--memory none", "sandbox.memory: none"},
		"process limit": {"--processes -1", "sandbox.processes: -1"},
	} {
		fe := &local.FeatureError{Feature: feature, Detail: "cgroups are not writable"}
		msg := sandboxHint(fe, execKnobs).Error()
		assert.Contains(t, msg, want[0], feature)
		assert.NotContains(t, msg, "sandbox.", feature)
		msg = sandboxHint(fe, settingsKnobs).Error()
		assert.Contains(t, msg, want[1], feature)
		assert.NotContains(t, msg, want[0], feature)
	}
}
