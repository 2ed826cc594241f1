package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/executor/local"
)

func TestSandboxHint(t *testing.T) {
	err := sandboxHint(fmt.Errorf("start: %w", &local.FeatureError{Feature: "user namespaces", Detail: "switched off"}))
	assert.ErrorIs(t, err, local.ErrNoSandbox)
	assert.Contains(t, err.Error(), "sandbox unavailable: user namespaces: switched off")
	assert.Contains(t, err.Error(), "--no-sandbox")
	err = sandboxHint(&local.FeatureError{Feature: "workspace disk limit"})
	assert.Contains(t, err.Error(), "sandbox.disk: none")
	plain := errors.New("other")
	assert.Equal(t, plain, sandboxHint(plain))
	assert.Empty(t, sandboxHintText(nil))
}
