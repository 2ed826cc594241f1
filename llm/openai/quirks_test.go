package openai_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
)

// Fixtures of how real OpenAI-compatible servers stream, one quirk each.

func ev(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func delta(d map[string]any, finish any) string {
	return ev(map[string]any{"id": "c", "object": "chat.completion.chunk", "model": "m",
		"choices": []any{map[string]any{"index": 0, "delta": d, "finish_reason": finish}}})
}

func events(t *testing.T, evs ...string) (*fakeopenai.Server, *openai.Client) {
	t.Helper()
	srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Events: evs} })
	return srv, client(t, srv, nil)
}

func stream(t *testing.T, c *openai.Client) *llm.Response {
	t.Helper()
	resp, err := llm.Collect(c.Stream(context.Background(), ask()), nil)
	require.NoError(t, err)
	return resp
}

// OpenAI with stream_options.include_usage: the usage comes in one last
// chunk whose choices are empty.
func TestQuirkUsageOnlyInLastChunk(t *testing.T) {
	_, c := events(t,
		delta(map[string]any{"role": "assistant", "content": ""}, nil),
		delta(map[string]any{"content": "Hi"}, nil),
		delta(map[string]any{}, "stop"),
		ev(map[string]any{"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []any{},
			"usage": map[string]any{"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12,
				"prompt_tokens_details": map[string]any{"cached_tokens": 8}}}),
		"[DONE]")
	resp := stream(t, c)
	assert.Equal(t, "Hi", resp.Content)
	assert.Equal(t, llm.Usage{PromptTokens: 11, CompletionTokens: 1, CachedTokens: 8}, resp.Usage)
}

// Older vLLM, LM Studio, some proxies: no usage at all; it is estimated
// with a tokenizer and marked so.
func TestQuirkUsageMissing(t *testing.T) {
	_, c := events(t,
		delta(map[string]any{"role": "assistant", "content": "Hello there, how are you today?"}, nil),
		delta(map[string]any{}, "stop"), "[DONE]")
	resp := stream(t, c)
	assert.True(t, resp.Usage.Estimated)
	assert.GreaterOrEqual(t, resp.Usage.CompletionTokens, 7, "at least the real count")
	assert.Positive(t, resp.Usage.PromptTokens)
	assert.Equal(t, resp.Usage, c.Usage())
}

// Azure OpenAI sends a first chunk with empty choices (prompt filter
// results); OpenRouter sends ": OPENROUTER PROCESSING" comments.
func TestQuirkEmptyChoices(t *testing.T) {
	srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
		return fakeopenai.Reply{Raw: ": OPENROUTER PROCESSING\n\n" +
			"data: " + ev(map[string]any{"id": "", "object": "", "model": "", "choices": []any{}, "prompt_filter_results": []any{map[string]any{"prompt_index": 0}}}) + "\n\n" +
			"data: " + delta(map[string]any{"role": "assistant", "content": "ok"}, nil) + "\n\n" +
			"data: " + delta(map[string]any{}, "stop") + "\n\n" +
			"data: [DONE]\n\n"}
	})
	resp := stream(t, client(t, srv, nil))
	assert.Equal(t, "ok", resp.Content)
	assert.Equal(t, "stop", resp.FinishReason)
}

// llama.cpp and Ollama send deltas without a role.
func TestQuirkDeltasWithoutRole(t *testing.T) {
	_, c := events(t,
		delta(map[string]any{"content": "no "}, nil),
		delta(map[string]any{"content": "role"}, nil),
		delta(map[string]any{}, "stop"), "[DONE]")
	assert.Equal(t, "no role", stream(t, c).Content)
}

// Some servers close the stream after the finish reason without [DONE].
func TestQuirkMissingDone(t *testing.T) {
	srv, c := events(t,
		delta(map[string]any{"role": "assistant", "content": "done "}, nil),
		delta(map[string]any{"content": "anyway"}, "stop"))
	resp := stream(t, c)
	assert.Equal(t, "done anyway", resp.Content)
	assert.Len(t, srv.Requests(), 1, "not asked again")
}

// A reply cut at the token limit reports finish_reason "length".
func TestQuirkFinishLength(t *testing.T) {
	_, c := events(t,
		delta(map[string]any{"role": "assistant", "content": "```python\nx = "}, nil),
		delta(map[string]any{}, "length"), "[DONE]")
	assert.Equal(t, llm.FinishLength, stream(t, c).FinishReason)
}

// Reasoning arrives in delta.reasoning_content (DeepSeek, llama.cpp, older
// vLLM) or delta.reasoning (Ollama, LM Studio, OpenRouter, newer vLLM).
func TestQuirkReasoningFields(t *testing.T) {
	for _, field := range []string{"reasoning_content", "reasoning"} {
		t.Run(field, func(t *testing.T) {
			srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
				return fakeopenai.Reply{Reasoning: "Let me think: ```python\nprint(1)\n```", ReasoningField: field, Text: "The answer is 2."}
			})
			c := client(t, srv, nil)
			var content, reasoning strings.Builder
			var final *llm.Response
			for ch, err := range c.Stream(context.Background(), ask()) {
				require.NoError(t, err)
				content.WriteString(ch.Content)
				reasoning.WriteString(ch.Reasoning)
				if ch.Done {
					final = ch.Response
				}
			}
			require.NotNil(t, final)
			assert.Equal(t, "The answer is 2.", content.String(), "reasoning never mixes into the content")
			assert.Equal(t, "Let me think: ```python\nprint(1)\n```", reasoning.String())
			assert.Equal(t, reasoning.String(), final.Reasoning)
			assert.Equal(t, "The answer is 2.", final.Content)
			assert.Positive(t, final.Usage.ReasoningTokens, "estimated from the text when not reported")
			assert.LessOrEqual(t, final.Usage.ReasoningTokens, final.Usage.CompletionTokens)

			full, err := c.Complete(context.Background(), ask())
			require.NoError(t, err)
			assert.Equal(t, "The answer is 2.", full.Content)
			assert.Equal(t, "Let me think: ```python\nprint(1)\n```", full.Reasoning)
		})
	}
}

// OpenAI reports reasoning tokens in completion_tokens_details; DeepSeek
// reports cache hits as prompt_cache_hit_tokens.
func TestQuirkUsageDetails(t *testing.T) {
	t.Run("reasoning tokens", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: "ok", Usage: map[string]any{"prompt_tokens": 20, "completion_tokens": 50,
				"completion_tokens_details": map[string]any{"reasoning_tokens": 48}}}
		})
		c := client(t, srv, nil)
		assert.Equal(t, llm.Usage{PromptTokens: 20, CompletionTokens: 50, ReasoningTokens: 48}, stream(t, c).Usage)
	})
	t.Run("DeepSeek cache hits", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: "ok", Usage: map[string]any{"prompt_tokens": 100, "completion_tokens": 2,
				"prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}}
		})
		c := client(t, srv, nil)
		assert.Equal(t, 64, stream(t, c).Usage.CachedTokens)
		resp, err := c.Complete(context.Background(), ask())
		require.NoError(t, err)
		assert.Equal(t, 64, resp.Usage.CachedTokens)
	})
}

// An error event inside a stream that had started (OpenRouter, Ollama).
func TestQuirkErrorMidStream(t *testing.T) {
	_, c := events(t,
		delta(map[string]any{"role": "assistant", "content": "par"}, nil),
		`{"error":{"message":"upstream provider overloaded","code":502}}`)
	_, err := llm.Collect(c.Stream(context.Background(), ask()), nil)
	require.ErrorIs(t, err, llm.ErrServer)
	assert.Contains(t, err.Error(), "upstream provider overloaded")
}

// Each family's error body: the message reaches the error, typed by status.
func TestQuirkErrorShapes(t *testing.T) {
	cases := []struct {
		family, body string
		status       int
		want         error
		msg          string
	}{
		{"openai", `{"error":{"message":"The model 'x' does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}`, 404, llm.ErrModelNotFound, ""},
		{"ollama", `{"error":"model \"qwen3:8b\" not found, try pulling it first"}`, 404, llm.ErrModelNotFound, ""},
		{"ollama 400", `{"error":"invalid message format"}`, 400, nil, "invalid message format"},
		{"vllm", `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}`, 400, llm.ErrContextTooLong, "maximum context length is 4096"},
		{"llama.cpp", `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}`, 400, llm.ErrContextTooLong, "available context size"},
		{"openrouter", `{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"bad thing","provider_name":"X"}}}`, 400, nil, "Provider returned error"},
		{"groq", `{"error":{"message":"Rate limit reached for model","type":"tokens","code":"rate_limit_exceeded"}}`, 429, llm.ErrRateLimited, "Rate limit reached"},
		{"deepseek", `{"error":{"message":"Authentication Fails (no such user)","type":"authentication_error","param":null,"code":"invalid_request_error"}}`, 401, llm.ErrAuth, ""},
		{"lm studio", `{"error":"Unexpected endpoint or method. (POST /v1/chat/completion)"}`, 200 + 200, nil, "Unexpected endpoint"},
		{"fastapi proxy", `{"detail":"Invalid request: messages must not be empty"}`, 422, nil, "messages must not be empty"},
		{"text", `upstream connect error`, 502, llm.ErrServer, "upstream connect error"},
	}
	for _, tc := range cases {
		t.Run(tc.family, func(t *testing.T) {
			srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
				return fakeopenai.Reply{Status: tc.status, Raw: tc.body}
			})
			c := client(t, srv, func(c *openai.Config) { c.MaxRetries = -1 })
			_, err := c.Complete(context.Background(), ask())
			require.Error(t, err)
			var ae *llm.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			if tc.msg != "" {
				assert.Contains(t, err.Error(), tc.msg)
			}
			assert.NotContains(t, err.Error(), `{"`, "the message, not the raw JSON")
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// A 400 naming a parameter the endpoint does not take: sent again once
// without it, and left out of later requests.
func TestQuirkRefusedParameters(t *testing.T) {
	temp := float32(0.2)
	cases := []struct {
		name    string
		model   string
		refusal string
		check   func(t *testing.T, first, second, third *fakeopenai.Request)
	}{
		{"stream_options (older vLLM)", "m",
			`{"object":"error","message":"[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted', 'input': {'include_usage': True}}]","type":"BadRequestError","param":null,"code":400}`,
			func(t *testing.T, first, second, third *fakeopenai.Request) {
				assert.True(t, first.Params["stream_options"])
				assert.False(t, second.Params["stream_options"])
				assert.False(t, third.Params["stream_options"])
				assert.True(t, third.Params["temperature"], "only the refused parameter goes")
			}},
		{"temperature (OpenAI reasoning model behind a proxy)", "m",
			`{"error":{"message":"Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}`,
			func(t *testing.T, first, second, third *fakeopenai.Request) {
				assert.True(t, first.Params["temperature"])
				assert.False(t, second.Params["temperature"])
				assert.False(t, third.Params["temperature"])
			}},
		{"max_tokens → max_completion_tokens (OpenAI)", "m",
			`{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}`,
			func(t *testing.T, first, second, third *fakeopenai.Request) {
				assert.Equal(t, 300, first.MaxTokens)
				assert.False(t, second.Params["max_tokens"])
				assert.Equal(t, 300, second.MaxCompletionTokens)
				assert.Equal(t, 300, third.MaxCompletionTokens)
			}},
		{"max_tokens refused outright", "m",
			`{"error":"unknown field max_tokens"}`,
			func(t *testing.T, first, second, third *fakeopenai.Request) {
				assert.True(t, first.Params["max_tokens"])
				assert.False(t, second.Params["max_tokens"])
				assert.False(t, second.Params["max_completion_tokens"])
				assert.False(t, third.Params["max_tokens"])
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeopenai.New(t, func(n int, _ *fakeopenai.Request) fakeopenai.Reply {
				if n == 0 {
					return fakeopenai.Reply{Status: 400, Raw: tc.refusal}
				}
				return fakeopenai.Reply{Text: "fine"}
			})
			c := client(t, srv, func(c *openai.Config) { c.Model = tc.model; c.Temperature = &temp; c.MaxTokens = 300 })
			assert.Equal(t, "fine", stream(t, c).Content)
			assert.Equal(t, "fine", stream(t, c).Content)
			reqs := srv.Requests()
			require.Len(t, reqs, 3)
			tc.check(t, reqs[0], reqs[1], reqs[2])
		})
	}
	t.Run("a 400 about something else is not retried", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Status: 400, Raw: `{"error":{"message":"messages[1].content must not be empty","type":"invalid_request_error"}}`}
		})
		_, err := client(t, srv, func(c *openai.Config) { c.Temperature = &temp; c.MaxTokens = 300 }).Complete(context.Background(), ask())
		require.Error(t, err)
		assert.Len(t, srv.Requests(), 1)
	})
	t.Run("refused on every try: each parameter dropped once, then the error", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Status: 400, Raw: `{"error":"unsupported: stream_options, temperature, max_tokens"}`}
		})
		_, err := llm.Collect(client(t, srv, func(c *openai.Config) { c.Temperature = &temp; c.MaxTokens = 300 }).Stream(context.Background(), ask()), nil)
		require.Error(t, err)
		assert.Len(t, srv.Requests(), 4)
	})
	t.Run("OpenAI reasoning models get max_completion_tokens and no temperature from the start", func(t *testing.T) {
		srv := fakeopenai.New(t, fakeopenai.Script("ok"))
		c := client(t, srv, func(c *openai.Config) { c.Model = "o3-mini"; c.Temperature = &temp; c.MaxTokens = 300 })
		assert.Equal(t, "ok", stream(t, c).Content)
		r := srv.Requests()[0]
		assert.Equal(t, 300, r.MaxCompletionTokens)
		assert.False(t, r.Params["max_tokens"])
		assert.False(t, r.Params["temperature"])
	})
}

// Images go as content parts (vision).
func TestImagesAreSentAsParts(t *testing.T) {
	srv := fakeopenai.New(t, fakeopenai.Script("I see a chart"))
	c := client(t, srv, nil)
	req := ask()
	req.Messages[1].Images = []llm.Image{{URL: "data:image/png;base64,iVBORw0KGgo="}}
	resp, err := c.Complete(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, "I see a chart", resp.Content)
	got := srv.Requests()[0].Messages[1]
	assert.Equal(t, "say hi", got.Content)
	assert.Equal(t, []llm.Image{{URL: "data:image/png;base64,iVBORw0KGgo="}}, got.Images)
}
