package openai_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
)

const key = "sk-test-SECRET-0123456789"

func client(t *testing.T, srv *fakeopenai.Server, mod func(*openai.Config)) *openai.Client {
	t.Helper()
	cfg := openai.Config{BaseURL: srv.URL, APIKey: key, Model: "fake-model", RetryBaseDelay: 10 * time.Millisecond,
		StreamIdleTimeout: 2 * time.Second, Headers: map[string]string{"X-Title": "agentteam-test"}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := openai.New(cfg)
	require.NoError(t, err)
	return c
}

func ask() llm.Request {
	return llm.Request{Messages: []llm.Message{{Role: llm.RoleSystem, Content: "be brief"}, {Role: llm.RoleUser, Content: "say hi", Name: "user"}}}
}

func TestCompleteAndStream(t *testing.T) {
	srv := fakeopenai.New(t, fakeopenai.Script("Hello there, world.", "Streamed answer in words."))
	srv.RequireKey(key)
	c := client(t, srv, nil)

	resp, err := c.Complete(context.Background(), ask())
	require.NoError(t, err)
	assert.Equal(t, "Hello there, world.", resp.Content)
	assert.Equal(t, "stop", resp.FinishReason)
	assert.Equal(t, 3, resp.Usage.CompletionTokens)
	assert.Positive(t, resp.Usage.PromptTokens)

	var pieces []string
	final, err := llm.Collect(c.Stream(context.Background(), ask()), func(s string) { pieces = append(pieces, s) })
	require.NoError(t, err)
	assert.Equal(t, "Streamed answer in words.", final.Content)
	assert.Equal(t, []string{"Streamed ", "answer ", "in ", "words."}, pieces)
	assert.Equal(t, 4, final.Usage.CompletionTokens, "usage from the include_usage chunk")
	assert.Equal(t, resp.Usage.Add(final.Usage), c.Usage(), "running total")

	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "fake-model", reqs[0].Model)
	assert.False(t, reqs[0].Stream)
	assert.True(t, reqs[1].Stream)
	assert.Equal(t, "agentteam-test", reqs[0].Header.Get("X-Title"), "extra headers are sent")
	assert.Equal(t, "say hi", reqs[0].LastUser())
}

func TestRetries(t *testing.T) {
	t.Run("429 honours Retry-After", func(t *testing.T) {
		srv := fakeopenai.New(t, func(n int, _ *fakeopenai.Request) fakeopenai.Reply {
			if n == 0 {
				return fakeopenai.Reply{Status: 429, ErrorMessage: "slow down", RetryAfter: "1"}
			}
			return fakeopenai.Reply{Text: "ok"}
		})
		start := time.Now()
		resp, err := client(t, srv, nil).Complete(context.Background(), ask())
		require.NoError(t, err)
		assert.Equal(t, "ok", resp.Content)
		assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited for Retry-After")
		assert.Len(t, srv.Requests(), 2)
	})
	t.Run("500 then success, streaming", func(t *testing.T) {
		srv := fakeopenai.New(t, func(n int, _ *fakeopenai.Request) fakeopenai.Reply {
			if n < 2 {
				return fakeopenai.Reply{Status: 500, ErrorMessage: "overloaded"}
			}
			return fakeopenai.Reply{Text: "recovered"}
		})
		resp, err := llm.Collect(client(t, srv, nil).Stream(context.Background(), ask()), nil)
		require.NoError(t, err)
		assert.Equal(t, "recovered", resp.Content)
		assert.Len(t, srv.Requests(), 3)
	})
	t.Run("429 forever ends as rate limited", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Status: 429, ErrorMessage: "quota"}
		})
		_, err := client(t, srv, func(c *openai.Config) { c.MaxRetries = 2 }).Complete(context.Background(), ask())
		require.ErrorIs(t, err, llm.ErrRateLimited)
		assert.Len(t, srv.Requests(), 3)
	})
}

func TestErrorsAreTypedAndNeverLeakTheKey(t *testing.T) {
	cases := []struct {
		name  string
		reply fakeopenai.Reply
		want  error
	}{
		{"401", fakeopenai.Reply{Status: 401, ErrorMessage: "Incorrect API key provided: " + key}, llm.ErrAuth},
		{"403", fakeopenai.Reply{Status: 403, ErrorMessage: "forbidden"}, llm.ErrAuth},
		{"404 model", fakeopenai.Reply{Status: 404, ErrorMessage: "The model `nope` does not exist", ErrorCode: "model_not_found"}, llm.ErrModelNotFound},
		{"context too long", fakeopenai.Reply{Status: 400, ErrorMessage: "This model's maximum context length is 8192 tokens", ErrorCode: "context_length_exceeded"}, llm.ErrContextTooLong},
		{"garbage JSON", fakeopenai.Reply{Raw: "<html>definitely not json " + key}, llm.ErrBadResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply { return tc.reply })
			c := client(t, srv, nil)
			_, err := c.Complete(context.Background(), ask())
			require.ErrorIs(t, err, tc.want)
			assert.NotContains(t, err.Error(), key)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.Len(t, srv.Requests(), 1, "not retried")
			_, err = llm.Collect(c.Stream(context.Background(), ask()), nil)
			require.ErrorIs(t, err, tc.want)
			assert.NotContains(t, err.Error(), key)
		})
	}
}

func TestStreamCutAndSilent(t *testing.T) {
	t.Run("cut mid-way", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: "one two three four five", CutAfter: 2}
		})
		var got string
		_, err := llm.Collect(client(t, srv, nil).Stream(context.Background(), ask()), func(s string) { got += s })
		require.ErrorIs(t, err, llm.ErrBadResponse)
		assert.Equal(t, "one two ", got, "what arrived was streamed")
	})
	t.Run("silent", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: "one two three", SilentAfter: 1}
		})
		start := time.Now()
		_, err := llm.Collect(client(t, srv, func(c *openai.Config) { c.StreamIdleTimeout = 500 * time.Millisecond }).Stream(context.Background(), ask()), nil)
		require.ErrorIs(t, err, llm.ErrStreamIdle)
		assert.Less(t, time.Since(start), 3*time.Second)
	})
	t.Run("silent before the first byte", func(t *testing.T) {
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: "late", Delay: 10 * time.Second}
		})
		start := time.Now()
		_, err := llm.Collect(client(t, srv, func(c *openai.Config) { c.StreamIdleTimeout = 500 * time.Millisecond }).Stream(context.Background(), ask()), nil)
		require.ErrorIs(t, err, llm.ErrStreamIdle)
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}

func TestUnreachableAndCancel(t *testing.T) {
	srv := fakeopenai.New(t, fakeopenai.Script())
	base := srv.URL
	srv.Close()
	c, err := openai.New(openai.Config{BaseURL: base, APIKey: key, Model: "m", RetryBaseDelay: 10 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Complete(context.Background(), ask())
	require.ErrorIs(t, err, llm.ErrUnreachable)
	assert.Contains(t, err.Error(), strings.TrimSuffix(base, "/v1"))
	assert.NotContains(t, err.Error(), key)
	assert.Less(t, time.Since(start), 5*time.Second)

	slow := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
		return fakeopenai.Reply{Text: "x", Delay: 10 * time.Second}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = client(t, slow, nil).Complete(ctx, ask())
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, llm.ErrUnreachable), err.Error())
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestConfigValidation(t *testing.T) {
	_, err := openai.New(openai.Config{BaseURL: "http://x/v1"})
	assert.ErrorContains(t, err, "no model")
	_, err = openai.New(openai.Config{BaseURL: "not a url", Model: "m"})
	assert.ErrorContains(t, err, "malformed base URL")
	_, err = openai.New(openai.Config{BaseURL: "ftp://host/v1", Model: "m", APIKey: key})
	assert.ErrorContains(t, err, "malformed base URL")
}

func TestRetryAfterHTTPDate(t *testing.T) {
	srv := fakeopenai.New(t, func(n int, _ *fakeopenai.Request) fakeopenai.Reply {
		if n == 0 {
			return fakeopenai.Reply{Status: 503, RetryAfter: time.Now().Add(2 * time.Second).UTC().Format(http1123)}
		}
		return fakeopenai.Reply{Text: "ok " + strconv.Itoa(n)}
	})
	start := time.Now()
	resp, err := client(t, srv, nil).Complete(context.Background(), ask())
	require.NoError(t, err)
	assert.Equal(t, "ok 1", resp.Content)
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestStreamFromServersThatDoNotQuiteStream(t *testing.T) {
	t.Run("plain JSON answer to a stream request", func(t *testing.T) {
		completion := `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"not streamed"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Raw: completion} })
		resp, err := llm.Collect(client(t, srv, nil).Stream(context.Background(), ask()), nil)
		require.NoError(t, err)
		assert.Equal(t, "not streamed", resp.Content)
		assert.Equal(t, 2, resp.Usage.CompletionTokens)
	})
	t.Run("no finish reason, but [DONE]", func(t *testing.T) {
		sse := "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello \"}}]}\n\n" +
			"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"there\"}}]}\n\n" +
			"data: [DONE]\n\n"
		srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Raw: sse} })
		resp, err := llm.Collect(client(t, srv, nil).Stream(context.Background(), ask()), nil)
		require.NoError(t, err)
		assert.Equal(t, "hello there", resp.Content)
		assert.Len(t, srv.Requests(), 1)
	})
}
