package agents_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/prompts"
)

func drain(t *testing.T, a agents.Agent, msgs ...*agents.Message) []*agents.Message {
	t.Helper()
	var out []*agents.Message
	for m, err := range a.Run(context.Background(), msgs) {
		require.NoError(t, err)
		out = append(out, m)
	}
	require.NotEmpty(t, out)
	return out
}

func TestAssistantStreamsChunksThenReplyWithUsage(t *testing.T) {
	model := &agenttest.Model{Replies: []string{"Here is the program\n```python\nprint(1)\n```"}}
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "coder", Client: model, SystemPrompt: "be brief"})
	require.NoError(t, err)
	out := drain(t, a, agents.NewText("user", "write code"))

	resp := out[len(out)-1]
	assert.Equal(t, agents.KindText, resp.Kind)
	assert.Equal(t, "coder", resp.Source)
	assert.Equal(t, "Here is the program\n```python\nprint(1)\n```", resp.Content)
	require.NotNil(t, resp.Usage)
	assert.Equal(t, llm.Usage{PromptTokens: 4, CompletionTokens: 7}, *resp.Usage)

	var chunks strings.Builder
	for _, m := range out[:len(out)-1] {
		assert.Equal(t, agents.KindChunk, m.Kind)
		assert.Equal(t, "coder", m.Source)
		chunks.WriteString(m.Content)
	}
	assert.Greater(t, len(out), 3, "streamed in several chunks")
	assert.Equal(t, resp.Content, chunks.String())

	reqs := model.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, []llm.Message{
		{Role: llm.RoleSystem, Content: "be brief"},
		{Role: llm.RoleUser, Content: "write code", Name: "user"},
	}, reqs[0].Messages)
}

func TestAssistantContextHistoryWindowAndState(t *testing.T) {
	model := &agenttest.Model{Repeat: "ok"}
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "a", Client: model, SystemPrompt: "sys", MaxHistory: 3})
	require.NoError(t, err)
	ev := agents.NewEvent(agents.KindOutput, "executor")
	drain(t, a, agents.NewText("user", "one"), ev)
	drain(t, a, agents.NewText("executor", "two"), agents.NewText("b c", "three"))
	reqs := model.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, []llm.Message{
		{Role: llm.RoleSystem, Content: "sys"},
		{Role: llm.RoleAssistant, Content: "ok"},
		{Role: llm.RoleUser, Content: "two", Name: "executor"},
		{Role: llm.RoleUser, Content: "three", Name: "b_c"},
	}, reqs[1].Messages, "system prompt kept, window of 3, events ignored")
	assert.Len(t, a.History(), 5)

	state, err := a.SaveState()
	require.NoError(t, err)
	b, err := agents.NewAssistant(agents.AssistantConfig{Name: "a", Client: model})
	require.NoError(t, err)
	require.NoError(t, b.LoadState(state))
	assert.Equal(t, a.History(), b.History())

	require.NoError(t, a.Reset(context.Background()))
	assert.Empty(t, a.History())
	assert.Error(t, b.LoadState(json.RawMessage(`{"type":"code_executor"}`)))
	assert.Error(t, b.LoadState(json.RawMessage(`nope`)))
}

func TestAssistantModelErrorEndsTurn(t *testing.T) {
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "a", Client: &agenttest.Model{}})
	require.NoError(t, err)
	_, err = agents.Respond(context.Background(), a, []*agents.Message{agents.NewText("user", "hi")}, nil)
	require.ErrorIs(t, err, agenttest.ErrScriptEnded)
	assert.Contains(t, err.Error(), "a: model:")
}

func TestPlannerAndCoderPrompts(t *testing.T) {
	model := &agenttest.Model{}
	p, err := agents.NewPlanner(agents.AssistantConfig{Client: model})
	require.NoError(t, err)
	assert.Equal(t, "planner", p.Name())
	assert.Equal(t, prompts.MustGet(prompts.Planner), p.SystemPrompt())
	c, err := agents.NewCoder(agents.AssistantConfig{Client: model})
	require.NoError(t, err)
	assert.Equal(t, "coder", c.Name())
	assert.Equal(t, prompts.MustGet(prompts.Coder), c.SystemPrompt())

	set, err := prompts.New(prompts.Config{Overrides: map[string]string{"coder": "custom coder"}})
	require.NoError(t, err)
	c, err = agents.NewCoder(agents.AssistantConfig{Client: model, Prompts: set})
	require.NoError(t, err)
	assert.Equal(t, "custom coder", c.SystemPrompt())
	c, err = agents.NewCoder(agents.AssistantConfig{Client: model, SystemPrompt: "inline"})
	require.NoError(t, err)
	assert.Equal(t, "inline", c.SystemPrompt())

	_, err = agents.NewAssistant(agents.AssistantConfig{Client: model, Prompt: "missing"})
	assert.ErrorIs(t, err, prompts.ErrNotFound)
	_, err = agents.NewAssistant(agents.AssistantConfig{})
	assert.Error(t, err)
}
