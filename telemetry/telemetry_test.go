package telemetry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/telemetry"
)

const secret = "sk-live-TOPSECRET-42"

func record(opts telemetry.Options) (*telemetry.Tracer, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	return telemetry.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), opts), rec
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

func TestContentOnlyWhenCaptured(t *testing.T) {
	req := llm.Request{Model: "m1", Messages: []llm.Message{{Role: "user", Content: "my key is " + secret}}}
	resp := &llm.Response{Content: "noted " + secret, Model: "m1-2025", FinishReason: "stop", Usage: llm.Usage{PromptTokens: 7, CompletionTokens: 3}}
	for _, capture := range []bool{false, true} {
		tr, rec := record(telemetry.Options{CaptureContent: capture, Secrets: []string{secret}})
		_, s := tr.StartChat(context.Background(), "coder", "default-model", req)
		s.EndChat(resp, nil)
		_, s = tr.StartTool(context.Background(), "coder", llm.ToolCall{ID: "c1", Name: "f", Arguments: `{"k":"` + secret + `"}`})
		s.EndTool("result "+secret, false)
		spans := rec.Ended()
		require.Len(t, spans, 2)
		chat, tool := attrs(spans[0]), attrs(spans[1])
		assert.Equal(t, "chat m1", spans[0].Name())
		assert.Equal(t, "m1", chat["gen_ai.request.model"])
		assert.Equal(t, "m1-2025", chat["gen_ai.response.model"])
		assert.Equal(t, "7", chat["gen_ai.usage.input_tokens"])
		assert.Equal(t, "3", chat["gen_ai.usage.output_tokens"])
		assert.Equal(t, "execute_tool", tool["gen_ai.operation.name"])
		assert.Equal(t, "c1", tool["gen_ai.tool.call.id"])
		for _, sp := range spans {
			for k, v := range attrs(sp) {
				assert.NotContains(t, v, secret, k)
			}
		}
		if capture {
			assert.Contains(t, chat["gen_ai.input.messages"], "my key is [REDACTED]")
			assert.Contains(t, chat["gen_ai.output.messages"], "noted [REDACTED]")
			assert.Contains(t, tool["gen_ai.tool.call.result"], "result [REDACTED]")
		} else {
			assert.NotContains(t, chat, "gen_ai.input.messages")
			assert.NotContains(t, chat, "gen_ai.output.messages")
			assert.NotContains(t, tool, "gen_ai.tool.call.arguments")
			assert.NotContains(t, tool, "gen_ai.tool.call.result")
		}
	}
}

func TestErrorsAndNil(t *testing.T) {
	tr, rec := record(telemetry.Options{Secrets: []string{secret}})
	_, s := tr.StartChat(context.Background(), "a", "m", llm.Request{})
	s.EndChat(nil, &llm.APIError{StatusCode: 401, Kind: llm.ErrAuth, Message: "bad key " + secret})
	sp := rec.Ended()[0]
	assert.Equal(t, "401", attrs(sp)["error.type"])
	assert.NotContains(t, sp.Status().Description, secret)

	var none *telemetry.Tracer
	ctx, s := none.StartAgent(context.Background(), "a", "")
	assert.NotNil(t, ctx)
	s.End(errors.New("x")) // no panic
	assert.Nil(t, telemetry.New(nil, telemetry.Options{}))
}
