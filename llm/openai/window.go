package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FallbackContextWindow is assumed when neither the endpoint nor the table
// of known models says how large the model's context window is. It is
// small on purpose: too small only compacts more than needed, too large
// makes requests fail (or, on Ollama, be cut silently).
const FallbackContextWindow = 8192

// ollamaDefaultContext is the window Ollama gives a model whose Modelfile
// sets no num_ctx.
const ollamaDefaultContext = 4096

// knownWindows are the context windows of hosted models whose endpoints do
// not report them (longest prefix wins; a provider prefix such as
// "openai/" is ignored).
var knownWindows = []struct {
	prefix string
	tokens int
}{
	{"gpt-4.1", 1047576}, {"gpt-5", 400000}, {"gpt-4o", 128000}, {"chatgpt-4o", 128000}, {"gpt-4-turbo", 128000},
	{"gpt-4-1106", 128000}, {"gpt-4-0125", 128000}, {"gpt-4", 8192}, {"gpt-3.5-turbo", 16385},
	{"o1-mini", 128000}, {"o1", 200000}, {"o3", 200000}, {"o4-mini", 200000}, {"gpt-oss", 131072},
	{"deepseek-chat", 128000}, {"deepseek-reasoner", 128000},
}

// ContextWindow is a model's context window and where the number came from.
type ContextWindow struct {
	Tokens int
	// Source says where it came from, e.g. "vLLM /v1/models max_model_len",
	// "known model", or "fallback".
	Source string
}

// DiscoverContextWindow asks the endpoint how large the model's context
// window is: vLLM's max_model_len (and the context_length or
// context_window of OpenRouter, Groq, Together and LM Studio) in GET
// /models; llama.cpp's n_ctx in GET /props; Ollama's num_ctx in POST
// /api/show (else Ollama's default of 4096, never above the model's trained
// length); LM Studio's loaded_context_length in GET /api/v0/models/{model}.
// Then the table of known hosted models; then FallbackContextWindow. It
// never fails: each probe is bounded by a few seconds.
func (c *Client) DiscoverContextWindow(ctx context.Context) ContextWindow {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	root := strings.TrimSuffix(strings.TrimSuffix(c.base, "/"), "/v1")
	probes := []func(context.Context, string) (int, string){c.fromModels, c.fromLlamaCpp, c.fromOllama, c.fromLMStudio}
	for _, p := range probes {
		if n, src := p(ctx, root); n > 0 {
			c.log.Debug("context window from the endpoint", "tokens", n, "source", src)
			return ContextWindow{Tokens: n, Source: src}
		}
	}
	if n := knownWindow(c.cfg.Model); n > 0 {
		return ContextWindow{Tokens: n, Source: "known model " + c.cfg.Model}
	}
	return ContextWindow{Tokens: FallbackContextWindow, Source: "fallback (the endpoint did not say)"}
}

func knownWindow(model string) int {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	best, n := 0, 0
	for _, k := range knownWindows {
		if strings.HasPrefix(m, k.prefix) && len(k.prefix) > best {
			best, n = len(k.prefix), k.tokens
		}
	}
	return n
}

// getJSON fetches a small JSON document (GET when body is nil).
func (c *Client) getJSON(ctx context.Context, url string, body any, out any) bool {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return false
	}
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out) == nil
}

func (c *Client) fromModels(ctx context.Context, _ string) (int, string) {
	var v struct {
		Data []map[string]any `json:"data"`
	}
	if !c.getJSON(ctx, c.base+"/models", nil, &v) {
		return 0, ""
	}
	var pick map[string]any
	for _, m := range v.Data {
		if id, _ := m["id"].(string); id == c.cfg.Model {
			pick = m
		}
	}
	if pick == nil && len(v.Data) == 1 {
		pick = v.Data[0]
	}
	if pick == nil {
		return 0, ""
	}
	for _, k := range []string{"max_model_len", "context_length", "context_window", "max_context_length", "loaded_context_length"} {
		if n := number(pick[k]); n > 0 {
			return n, "/models " + k
		}
	}
	return 0, ""
}

func (c *Client) fromLlamaCpp(ctx context.Context, root string) (int, string) {
	var v struct {
		NCtx     any `json:"n_ctx"`
		Settings struct {
			NCtx any `json:"n_ctx"`
		} `json:"default_generation_settings"`
	}
	if !c.getJSON(ctx, root+"/props", nil, &v) {
		return 0, ""
	}
	if n := number(v.Settings.NCtx); n > 0 {
		return n, "llama.cpp /props n_ctx"
	}
	if n := number(v.NCtx); n > 0 {
		return n, "llama.cpp /props n_ctx"
	}
	return 0, ""
}

var numCtx = regexp.MustCompile(`(?m)^\s*num_ctx\s+(\d+)`)

func (c *Client) fromOllama(ctx context.Context, root string) (int, string) {
	var v struct {
		Parameters string         `json:"parameters"`
		ModelInfo  map[string]any `json:"model_info"`
	}
	if !c.getJSON(ctx, root+"/api/show", map[string]string{"model": c.cfg.Model}, &v) || (v.ModelInfo == nil && v.Parameters == "") {
		return 0, ""
	}
	trained := 0
	for k, val := range v.ModelInfo {
		if strings.HasSuffix(k, ".context_length") {
			trained = number(val)
		}
	}
	n, src := ollamaDefaultContext, "Ollama default num_ctx"
	if m := numCtx.FindStringSubmatch(v.Parameters); m != nil {
		if x, err := strconv.Atoi(m[1]); err == nil && x > 0 {
			n, src = x, "Ollama /api/show num_ctx"
		}
	}
	if trained > 0 && trained < n {
		n = trained
	}
	return n, src
}

func (c *Client) fromLMStudio(ctx context.Context, root string) (int, string) {
	var v map[string]any
	if !c.getJSON(ctx, root+"/api/v0/models/"+c.cfg.Model, nil, &v) {
		return 0, ""
	}
	for _, k := range []string{"loaded_context_length", "max_context_length"} {
		if n := number(v[k]); n > 0 {
			return n, "LM Studio " + k
		}
	}
	return 0, ""
}

func number(v any) int {
	switch x := v.(type) {
	case float64:
		if x > 0 && x < 1e9 {
			return int(x)
		}
	case string:
		n, _ := strconv.Atoi(x)
		return n
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	}
	return 0
}

// String is the window for people.
func (w ContextWindow) String() string { return fmt.Sprintf("%d tokens (%s)", w.Tokens, w.Source) }
