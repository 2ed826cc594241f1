package llm_test

import (
	"context"
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
