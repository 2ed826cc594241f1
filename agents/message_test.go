package agents

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
)

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

func sampleMessages() []*Message {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	out := executor.Output{Type: executor.OutputStream, Name: "stdout", Text: "6.48\n"}
	errOut := executor.Output{Type: executor.OutputError, EName: "ValueError", EValue: "math domain error",
		Traceback: []string{"Traceback", "ValueError: math domain error"}}
	block := CodeBlock{Language: "python", Code: "import math\nprint(math.sqrt(42))"}
	return []*Message{
		{Kind: KindText, Source: "user", Time: ts, Content: "task"},
		{Kind: KindText, Source: "coder", Time: ts, Content: "code", Usage: &llm.Usage{PromptTokens: 3, CompletionTokens: 4}, Metadata: map[string]string{"model": "m"}},
		{Kind: KindStop, Source: "team", Time: ts, Content: "Text 'TERMINATE' mentioned"},
		{Kind: KindCodeGeneration, Source: "executor", Time: ts, Blocks: []CodeBlock{block}, Metadata: map[string]string{"retry": "1"}},
		{Kind: KindCodeExecution, Source: "executor", Time: ts, Blocks: []CodeBlock{block}, Executions: []CodeExecution{
			{Block: block, Result: &executor.Result{Status: executor.StatusOK, Outputs: []executor.Output{out}, ExecutionCount: 2, Duration: time.Second}},
			{Block: block, Result: &executor.Result{Status: executor.StatusError, Outputs: []executor.Output{errOut}, Error: &errOut, StateLost: true, Message: "m"}},
		}},
		{Kind: KindChunk, Source: "coder", Time: ts, Content: "Here "},
		{Kind: KindOutput, Source: "executor", Time: ts, Output: &executor.Output{Type: executor.OutputDisplayData,
			Data: map[string]any{"text/plain": "<Figure>", "image/png": "iVBOR"}, Metadata: map[string]any{"width": 640.0}, Files: []string{"out/1.png"}}},
	}
}

func TestMessageJSONRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(string(m.Kind), func(t *testing.T) {
			got := roundTrip(t, m)
			assert.Equal(t, m, got)
		})
	}
}

func TestTaskResultJSONRoundTrip(t *testing.T) {
	r := &TaskResult{Messages: sampleMessages(), StopReason: "Text 'TERMINATE' mentioned", Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 4}}
	got := roundTrip(t, r)
	assert.Equal(t, r, got)
	assert.Len(t, got.Chat(), 3)
	assert.Equal(t, llm.Usage{PromptTokens: 3, CompletionTokens: 4}, TotalUsage(got.Messages))

	b, err := json.Marshal(&TaskResult{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"messages":null,"stop_reason":"","usage":{"prompt_tokens":0,"completion_tokens":0}}`, string(b))
}

func TestKindIsEvent(t *testing.T) {
	assert.False(t, KindText.IsEvent())
	assert.False(t, KindStop.IsEvent())
	for _, k := range []Kind{KindChunk, KindOutput, KindCodeExecution, KindCodeGeneration} {
		assert.True(t, k.IsEvent(), k)
	}
}
