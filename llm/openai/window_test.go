package openai_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/llm/openai"
)

// Each server family reports the context window its own way.
func TestDiscoverContextWindow(t *testing.T) {
	cases := []struct {
		name   string
		model  string
		routes map[string]string // "METHOD path" -> JSON body
		want   int
		source string
	}{
		{"vLLM", "Qwen/Qwen3-8B", map[string]string{"GET /v1/models": `{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","max_model_len":32768}]}`}, 32768, "max_model_len"},
		{"llama.cpp", "qwen", map[string]string{
			"GET /v1/models": `{"object":"list","data":[{"id":"model.gguf","object":"model","meta":{"n_ctx_train":40960}}]}`,
			"GET /props":     `{"default_generation_settings":{"n_ctx":8192},"total_slots":1}`}, 8192, "llama.cpp"},
		{"Ollama with num_ctx", "qwen3:8b", map[string]string{
			"GET /v1/models": `{"object":"list","data":[{"id":"qwen3:8b"},{"id":"llama3.2"}]}`,
			"POST /api/show": `{"parameters":"temperature 0.6\nnum_ctx 16384","model_info":{"qwen3.context_length":40960}}`}, 16384, "num_ctx"},
		{"Ollama default", "qwen3:8b", map[string]string{
			"POST /api/show": `{"parameters":"temperature 0.6","model_info":{"qwen3.context_length":40960}}`}, 4096, "Ollama default"},
		{"LM Studio", "qwen2.5-7b-instruct", map[string]string{
			"GET /api/v0/models/qwen2.5-7b-instruct": `{"id":"qwen2.5-7b-instruct","max_context_length":32768,"loaded_context_length":4096}`}, 4096, "loaded_context_length"},
		{"Groq", "llama-3.3-70b-versatile", map[string]string{"GET /v1/models": `{"data":[{"id":"llama-3.3-70b-versatile","context_window":131072}]}`}, 131072, "context_window"},
		{"OpenAI (known model)", "gpt-4o-mini", map[string]string{"GET /v1/models": `{"data":[{"id":"gpt-4o-mini","object":"model"},{"id":"gpt-4.1"}]}`}, 128000, "known model"},
		{"nothing said", "mystery-7b", nil, openai.FallbackContextWindow, "fallback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "Bearer "+key, r.Header.Get("Authorization"))
				if r.Method == http.MethodPost {
					b, _ := io.ReadAll(r.Body)
					assert.JSONEq(t, `{"model":"`+tc.model+`"}`, string(b))
				}
				body, ok := tc.routes[r.Method+" "+r.URL.Path]
				if !ok {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, body)
			}))
			defer srv.Close()
			c, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: key, Model: tc.model})
			require.NoError(t, err)
			got := c.DiscoverContextWindow(context.Background())
			assert.Equal(t, tc.want, got.Tokens)
			assert.Contains(t, got.Source, tc.source)
		})
	}
}
