package agents_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
)

func TestUserProxyAsksInput(t *testing.T) {
	var prompts []string
	u, err := agents.NewUserProxy(agents.UserProxyConfig{Input: func(_ context.Context, prompt string) (string, error) {
		prompts = append(prompts, prompt)
		return "  yes, go on \n", nil
	}})
	require.NoError(t, err)
	assert.Equal(t, "user_proxy", u.Name())
	out := drain(t, u, agents.NewText("planner", "Shall I continue?"))
	require.Len(t, out, 1)
	assert.Equal(t, agents.KindText, out[0].Kind)
	assert.Equal(t, "yes, go on", out[0].Content)
	assert.Equal(t, []string{"Shall I continue?"}, prompts)

	// Handed the conversation, it hands it back with the answer.
	h := &agents.Message{Kind: agents.KindHandoff, Source: "coder", Target: "user_proxy", Content: "Which column?"}
	out = drain(t, u, h)
	assert.Equal(t, agents.KindHandoff, out[0].Kind)
	assert.Equal(t, "coder", out[0].Target)
	assert.Equal(t, "yes, go on", out[0].Content)
}

func TestUserProxyInputFails(t *testing.T) {
	u, err := agents.NewUserProxy(agents.UserProxyConfig{Name: "human", Input: func(context.Context, string) (string, error) {
		return "", errors.New("EOF")
	}})
	require.NoError(t, err)
	for _, err := range u.Run(context.Background(), nil) {
		assert.ErrorIs(t, err, agents.ErrNoInput)
		assert.ErrorContains(t, err, "EOF")
	}
	_, err = agents.NewUserProxy(agents.UserProxyConfig{})
	assert.Error(t, err)
}
