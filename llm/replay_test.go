package llm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/llm"
)

func TestReplayInOrderStreamedAndRecorded(t *testing.T) {
	r := llm.NewReplay("first answer", "second\nanswer here")
	req := llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "a b c"}}}
	resp, err := r.Complete(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "first answer", resp.Content)
	assert.Equal(t, llm.Usage{PromptTokens: 3, CompletionTokens: 2}, resp.Usage)

	var pieces []string
	resp, err = llm.Collect(r.Stream(context.Background(), req), func(s string) { pieces = append(pieces, s) })
	require.NoError(t, err)
	assert.Equal(t, "second\nanswer here", resp.Content)
	assert.Equal(t, []string{"second\n", "answer ", "here"}, pieces)

	_, err = r.Complete(context.Background(), req)
	assert.ErrorIs(t, err, llm.ErrReplayExhausted)
	_, err = llm.Collect(r.Stream(context.Background(), req), nil)
	assert.ErrorIs(t, err, llm.ErrReplayExhausted)
	assert.Len(t, r.Requests(), 4)
	assert.Equal(t, llm.Usage{PromptTokens: 6, CompletionTokens: 5}, r.Usage())
}

func TestLoadReplayFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	for name, body := range map[string]string{
		"r.md":      "<!-- A recorded session (replay). -->\nPlan:\n1. look\n---\n```python\nprint(1)\n```\n---\nDone. TERMINATE\n",
		"list.json": `["Plan:\n1. look", "` + "```python\\nprint(1)\\n```" + `", "Done. TERMINATE"]`,
		"obj.json":  `{"replies": ["Plan:\n1. look", "` + "```python\\nprint(1)\\n```" + `", "Done. TERMINATE"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			r, err := llm.LoadReplay(write(name, body))
			require.NoError(t, err)
			assert.Equal(t, 3, r.Remaining())
			assert.Contains(t, r.ModelName(), "replay")
			resp, _ := r.Complete(context.Background(), llm.Request{})
			assert.Equal(t, "Plan:\n1. look", resp.Content)
			resp, _ = r.Complete(context.Background(), llm.Request{})
			assert.Equal(t, "```python\nprint(1)\n```", resp.Content)
		})
	}
	_, err := llm.LoadReplay(write("empty.md", "\n---\n"))
	assert.ErrorContains(t, err, "no replies")
	_, err = llm.LoadReplay(filepath.Join(dir, "missing.md"))
	assert.Error(t, err)
}

func TestReplayToolCalls(t *testing.T) {
	r := llm.NewReplayResponses(llm.ToolCallReply("run_python", map[string]string{"code": "1+1"}), llm.Response{Content: "2"})
	resp, err := llm.Collect(r.Stream(context.Background(), llm.Request{}), nil)
	require.NoError(t, err)
	require.Len(t, resp.ToolCalls, 1)
	assert.Equal(t, "run_python", resp.ToolCalls[0].Name)
	assert.JSONEq(t, `{"code":"1+1"}`, resp.ToolCalls[0].Arguments)
	assert.NotEmpty(t, resp.ToolCalls[0].ID)
	assert.Equal(t, "tool_calls", resp.FinishReason)
	resp, err = r.Complete(context.Background(), llm.Request{})
	require.NoError(t, err)
	assert.Equal(t, "2", resp.Content)
	assert.Empty(t, resp.ToolCalls)
}

func TestLoadReplayWithToolCalls(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"replies": ["plan", {"content": "running", "tool_calls": [
		{"name": "run_python", "arguments": {"code": "print(1)"}},
		{"id": "c2", "name": "run_shell", "arguments": "{\"command\": \"ls\"}"}]}]}`), 0o600))
	r, err := llm.LoadReplay(p)
	require.NoError(t, err)
	resp, err := r.Complete(context.Background(), llm.Request{})
	require.NoError(t, err)
	assert.Equal(t, "plan", resp.Content)
	resp, err = r.Complete(context.Background(), llm.Request{})
	require.NoError(t, err)
	assert.Equal(t, "running", resp.Content)
	require.Len(t, resp.ToolCalls, 2)
	assert.JSONEq(t, `{"code":"print(1)"}`, resp.ToolCalls[0].Arguments)
	assert.Equal(t, "c2", resp.ToolCalls[1].ID)
	assert.JSONEq(t, `{"command":"ls"}`, resp.ToolCalls[1].Arguments)

	require.NoError(t, os.WriteFile(p, []byte(`[{"content": "x", "tool_calls": [{"arguments": {}}]}]`), 0o600))
	_, err = llm.LoadReplay(p)
	assert.ErrorContains(t, err, "no name")
	require.NoError(t, os.WriteFile(p, []byte(`[42]`), 0o600))
	_, err = llm.LoadReplay(p)
	assert.ErrorContains(t, err, "reply 1")
}

func TestToolCallJSONIsTheWireForm(t *testing.T) {
	m := llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}`, string(b))
	var back llm.Message
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, m, back)
}
