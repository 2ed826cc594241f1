package agents_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/telemetry"
)

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// run_python and run_shell calls run in a real kernel; each call gets its
// result, in order, and an execute_tool span with the kernel id.
func TestCodeExecutorRunsToolCallsInKernel(t *testing.T) {
	srv := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client, Timeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { k.Close(context.Background()) })

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := newExec(t, agents.CodeExecutorConfig{Executor: k, Tracer: telemetry.New(tp, telemetry.Options{})})

	req := agents.NewText("coder", "")
	req.ToolCalls = []llm.ToolCall{
		{ID: "a", Name: agents.ToolRunPython, Arguments: `{"code": "x = 6*7\nprint(x)"}`},
		{ID: "b", Name: agents.ToolRunShell, Arguments: `{"command": "echo shell-ok"}`},
		{ID: "c", Name: "run_ruby", Arguments: `{}`},
		{ID: "d", Name: agents.ToolRunPython, Arguments: `{"code": "print(x + 1)"}`},
	}
	out := drain(t, c, req)
	resp := out[len(out)-1]
	assert.Equal(t, agents.KindText, resp.Kind)
	require.Len(t, resp.ToolResults, 4)
	r := resp.ToolResults
	assert.Equal(t, []string{"a", "b", "c", "d"}, []string{r[0].CallID, r[1].CallID, r[2].CallID, r[3].CallID})
	assert.Equal(t, "42", r[0].Content)
	assert.Equal(t, "shell-ok", r[1].Content)
	assert.True(t, r[2].IsError)
	assert.Contains(t, r[2].Content, `no tool named "run_ruby"`)
	assert.Equal(t, "43", r[3].Content, "the kernel keeps state between calls")
	var gen *agents.Message
	for _, m := range out {
		if m.Kind == agents.KindCodeGeneration {
			gen = m
		}
	}
	require.NotNil(t, gen, "the same code events as with fenced blocks")
	assert.Len(t, gen.Blocks, 3)

	spans := rec.Ended()
	require.Len(t, spans, 3)
	a := attrs(spans[0])
	assert.Equal(t, "execute_tool run_python", spans[0].Name())
	assert.Equal(t, "execute_tool", a["gen_ai.operation.name"])
	assert.Equal(t, "a", a["gen_ai.tool.call.id"])
	assert.Equal(t, k.ID(), a["agentteam.kernel.id"])
	assert.Equal(t, "ok", a["agentteam.execution.outcome"])
	assert.NotContains(t, a, "agentteam.execution.code", "no code without content capture")
	assert.Equal(t, "execute_tool run_shell", spans[1].Name())

	// A failure: the failing call gets the explanation, later ones are not run.
	req = agents.NewText("coder", "")
	req.ToolCalls = []llm.ToolCall{
		{ID: "e", Name: agents.ToolRunPython, Arguments: `{"code": "1/0"}`},
		{ID: "f", Name: agents.ToolRunPython, Arguments: `{"code": "print('after')"}`},
	}
	out = drain(t, c, req)
	resp = out[len(out)-1]
	require.Len(t, resp.ToolResults, 2)
	assert.True(t, resp.ToolResults[0].IsError)
	assert.Contains(t, resp.ToolResults[0].Content, "ZeroDivisionError")
	assert.Equal(t, "Not run: an earlier call failed.", resp.ToolResults[1].Content)
	assert.Equal(t, "error", attrs(rec.Ended()[3])["agentteam.execution.outcome"])

	// Refused by the approval function: the reason goes back as the result.
	c = newExec(t, agents.CodeExecutorConfig{Executor: k, Approve: func(context.Context, []agents.CodeBlock) (bool, string) {
		return false, "not on my machine"
	}})
	req = agents.NewText("coder", "")
	req.ToolCalls = []llm.ToolCall{{ID: "g", Name: agents.ToolRunPython, Arguments: `{"code": "print(1)"}`}}
	out = drain(t, c, req)
	resp = out[len(out)-1]
	require.Len(t, resp.ToolResults, 1)
	assert.Equal(t, "g", resp.ToolResults[0].CallID)
	assert.Contains(t, resp.ToolResults[0].Content, "not approved: not on my machine")
}
