// Package openai is an llm.Client for any OpenAI-compatible chat-completions
// endpoint: OpenAI, Azure OpenAI (through its OpenAI-compatible /v1 path),
// Ollama (http://127.0.0.1:11434/v1), vLLM, llama.cpp's server, LM Studio,
// OpenRouter and others.
//
// Requests are retried with exponential backoff and jitter on 429, 5xx and
// connection failures, honouring Retry-After; never on 400, 401, 403 or
// 404. Streams end with an error when the endpoint goes silent for longer
// than StreamIdleTimeout. Errors wrap the llm.Err* values and never contain
// the API key.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/tokens"
)

// Defaults of Config.
const (
	DefaultBaseURL           = "https://api.openai.com/v1"
	DefaultRequestTimeout    = 5 * time.Minute
	DefaultStreamIdleTimeout = 60 * time.Second
	DefaultMaxRetries        = 3
	maxRetryWait             = 60 * time.Second
)

// Config configures a Client. Zero values mean the defaults.
type Config struct {
	// BaseURL of the API, including its path (e.g. http://127.0.0.1:11434/v1);
	// "" means OpenAI.
	BaseURL string
	// APIKey is sent as a bearer token; local servers often need none.
	APIKey string
	// Model is the model requests go to. Required.
	Model string
	// Temperature and MaxTokens apply to every request that does not set
	// its own (nil / 0: the endpoint's default).
	Temperature *float32
	MaxTokens   int
	// Headers are added to every request (e.g. OpenRouter's HTTP-Referer).
	Headers map[string]string
	// RequestTimeout bounds one whole request, stream included (5m).
	RequestTimeout time.Duration
	// StreamIdleTimeout bounds the silence between two chunks of a stream,
	// and the wait for the first one (60s).
	StreamIdleTimeout time.Duration
	// MaxRetries is how often a failed request is tried again (3; negative
	// means never).
	MaxRetries int
	// RetryBaseDelay is the first backoff (500ms); it doubles each retry.
	RetryBaseDelay time.Duration
	// HTTPClient sends the requests; nil means a default client.
	HTTPClient *http.Client
	// Logger receives debug logs (never the key); nil discards them.
	Logger *slog.Logger
}

// Client is an OpenAI-compatible llm.Client. It is safe for concurrent use.
type Client struct {
	cfg  Config
	api  *goopenai.Client
	base string
	log  *slog.Logger

	hc *http.Client

	mu     sync.Mutex
	usage  llm.Usage
	quirks quirks
}

// quirks are request parameters an endpoint turned out not to accept (it
// answered 400 naming them); later requests leave them out.
type quirks struct {
	noStreamOptions bool
	noTemperature   bool
	noMaxTokens     bool
	// maxCompletion sends the token limit as max_completion_tokens (OpenAI's
	// reasoning models refuse max_tokens).
	maxCompletion bool
}

// reasoningModel reports whether an OpenAI model refuses max_tokens and a
// non-default temperature.
func reasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

var _ llm.Client = (*Client)(nil)

// New returns a Client; it does not contact the endpoint.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("openai: no model given (set --model or model.name)")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: malformed base URL %q: expected e.g. http://127.0.0.1:11434/v1", llm.Redact(cfg.BaseURL, cfg.APIKey))
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = 500 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &transport{base: base, headers: cfg.Headers}
	oc := goopenai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.HTTPClient = hc
	c := &Client{cfg: cfg, api: goopenai.NewClientWithConfig(oc), base: oc.BaseURL, log: log, hc: hc}
	if reasoningModel(cfg.Model) {
		c.quirks = quirks{maxCompletion: true, noTemperature: true}
	}
	return c, nil
}

// ModelName is the configured model.
func (c *Client) ModelName() string { return c.cfg.Model }

// Usage is the total usage of every completed request.
func (c *Client) Usage() llm.Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

func (c *Client) addUsage(u llm.Usage) {
	c.mu.Lock()
	c.usage = c.usage.Add(u)
	c.mu.Unlock()
}

func (c *Client) request(req llm.Request, stream bool) goopenai.ChatCompletionRequest {
	c.mu.Lock()
	q := c.quirks
	c.mu.Unlock()
	r := goopenai.ChatCompletionRequest{Model: c.cfg.Model, Stream: stream, Stop: req.Stop}
	if req.Model != "" {
		r.Model = req.Model
	}
	for _, m := range req.Messages {
		msg := goopenai.ChatCompletionMessage{Role: m.Role, Content: m.Content, Name: sanitizeName(m.Name), ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, goopenai.ToolCall{ID: tc.ID, Type: goopenai.ToolTypeFunction,
				Function: goopenai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		if len(m.Images) > 0 {
			msg.Content = ""
			if m.Content != "" {
				msg.MultiContent = append(msg.MultiContent, goopenai.ChatMessagePart{Type: goopenai.ChatMessagePartTypeText, Text: m.Content})
			}
			for _, im := range m.Images {
				msg.MultiContent = append(msg.MultiContent, goopenai.ChatMessagePart{Type: goopenai.ChatMessagePartTypeImageURL,
					ImageURL: &goopenai.ChatMessageImageURL{URL: im.URL, Detail: goopenai.ImageURLDetail(im.Detail)}})
			}
		}
		r.Messages = append(r.Messages, msg)
	}
	r.Tools, r.ToolChoice = tools(req)
	if !q.noTemperature {
		if t := req.Temperature; t != nil {
			r.Temperature = *t
		} else if t := c.cfg.Temperature; t != nil {
			r.Temperature = *t
		}
	}
	maxTokens := c.cfg.MaxTokens
	if req.MaxTokens > 0 {
		maxTokens = req.MaxTokens
	}
	switch {
	case maxTokens <= 0 || q.noMaxTokens:
	case q.maxCompletion:
		r.MaxCompletionTokens = maxTokens
	default:
		r.MaxTokens = maxTokens
	}
	if stream && !q.noStreamOptions {
		r.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	}
	return r
}

// adapt learns from a 400 answer that names a parameter the endpoint does
// not accept (stream_options, temperature, max_tokens) and reports whether
// the request is worth sending again without it. Each parameter is dropped
// at most once, so this cannot loop.
func (c *Client) adapt(err error, sent goopenai.ChatCompletionRequest) bool {
	var ae *llm.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest || ae.Kind != nil {
		return false
	}
	m := strings.ToLower(ae.Message)
	refused := false
	for _, w := range []string{"unsupported", "not supported", "unrecognized", "unknown", "extra inputs", "extra_forbidden",
		"not permitted", "not allowed", "does not support", "invalid"} {
		if strings.Contains(m, w) {
			refused = true
			break
		}
	}
	if !refused {
		return false
	}
	names := func(p string) bool { return strings.Contains(m, p) }
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.quirks
	switch {
	case sent.StreamOptions != nil && !q.noStreamOptions && names("stream_options"):
		q.noStreamOptions = true
		c.log.Debug("the endpoint refuses stream_options; sending without it")
	case sent.MaxTokens > 0 && !q.maxCompletion && names("max_completion_tokens"):
		q.maxCompletion = true
		c.log.Debug("the endpoint wants max_completion_tokens instead of max_tokens")
	case (sent.MaxTokens > 0 || sent.MaxCompletionTokens > 0) && !q.noMaxTokens && (names("max_tokens") || names("max_completion_tokens")):
		q.noMaxTokens = true
		c.log.Debug("the endpoint refuses a token limit; sending without it")
	case sent.Temperature != 0 && !q.noTemperature && names("temperature"):
		q.noTemperature = true
		c.log.Debug("the endpoint refuses temperature; sending without it")
	default:
		return false
	}
	return true
}

// send runs call with retries, and once more for each parameter the
// endpoint refused (see adapt).
func (c *Client) send(ctx context.Context, req llm.Request, stream bool, call func(context.Context, goopenai.ChatCompletionRequest) error) error {
	for {
		r := c.request(req, stream)
		err := c.retry(ctx, func(ctx context.Context) error { return call(ctx, r) })
		if err == nil || !c.adapt(err, r) {
			return err
		}
	}
}

// tools converts the request's tools and tool choice.
func tools(req llm.Request) ([]goopenai.Tool, any) {
	if len(req.Tools) == 0 {
		return nil, nil
	}
	out := make([]goopenai.Tool, 0, len(req.Tools))
	for _, t := range req.Tools {
		params := t.Parameters
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out = append(out, goopenai.Tool{Type: goopenai.ToolTypeFunction,
			Function: &goopenai.FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	switch req.ToolChoice {
	case "":
		return out, nil
	case llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired:
		return out, req.ToolChoice
	default:
		return out, goopenai.ToolChoice{Type: goopenai.ToolTypeFunction, Function: goopenai.ToolFunction{Name: req.ToolChoice}}
	}
}

// toolCalls converts the calls of a whole (non-streamed) answer.
func toolCalls(calls []goopenai.ToolCall) []llm.ToolCall {
	var out []llm.ToolCall
	for _, tc := range calls {
		out = append(out, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	return out
}

// callBuilder assembles tool calls from stream deltas: the first delta of a
// call carries its index, ID and name, later ones pieces of its arguments.
type callBuilder struct {
	calls []llm.ToolCall
	index map[int]int // delta index -> position in calls
}

func (b *callBuilder) add(d goopenai.ToolCall) {
	if b.index == nil {
		b.index = map[int]int{}
	}
	idx := len(b.calls)
	if d.Index != nil {
		idx = *d.Index
	} else if d.ID == "" && len(b.calls) > 0 {
		// No index and no ID: a continuation of the last call.
		idx = -1
	}
	pos, ok := b.index[idx]
	if idx == -1 {
		pos, ok = len(b.calls)-1, true
	}
	if !ok {
		b.calls = append(b.calls, llm.ToolCall{})
		pos = len(b.calls) - 1
		b.index[idx] = pos
	}
	c := &b.calls[pos]
	if d.ID != "" {
		c.ID = d.ID
	}
	if d.Function.Name != "" {
		c.Name += d.Function.Name
	}
	c.Arguments += d.Function.Arguments
}

// result returns the assembled calls, giving an ID to calls that lack one
// (some local servers send none).
func (b *callBuilder) result() []llm.ToolCall {
	for i := range b.calls {
		if b.calls[i].ID == "" {
			b.calls[i].ID = fmt.Sprintf("call_%d", i)
		}
	}
	return b.calls
}

// sanitizeName keeps a message name to what the API accepts
// ([a-zA-Z0-9_-], at most 64).
func sanitizeName(n string) string {
	var b strings.Builder
	for _, r := range n {
		if r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// Complete sends one chat-completion request, with retries.
func (c *Client) Complete(ctx context.Context, req llm.Request) (*llm.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var resp goopenai.ChatCompletionResponse
	err := c.send(ctx, req, false, func(ctx context.Context, r goopenai.ChatCompletionRequest) error {
		var err error
		resp, err = c.api.CreateChatCompletion(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Choices) == 0 {
		return nil, &llm.APIError{Kind: llm.ErrBadResponse, Message: fmt.Sprintf("%s answered without choices (no reply text at all)", c.base)}
	}
	out := &llm.Response{
		Content:      resp.Choices[0].Message.Content,
		Reasoning:    resp.Choices[0].Message.ReasoningContent,
		FinishReason: string(resp.Choices[0].FinishReason),
		Model:        resp.Model,
		ToolCalls:    toolCalls(resp.Choices[0].Message.ToolCalls),
	}
	out.Usage = c.usageOf(&resp.Usage, req, out)
	c.addUsage(out.Usage)
	return out, nil
}

// usageOf converts the endpoint's usage, estimating what it left out: all of
// it when it sent none, the reasoning tokens when it sent reasoning text but
// no count of it.
func (c *Client) usageOf(u *goopenai.Usage, req llm.Request, resp *llm.Response) llm.Usage {
	model := c.cfg.Model
	if req.Model != "" {
		model = req.Model
	}
	tc := tokens.ForModel(model)
	var out llm.Usage
	if u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0) {
		out.PromptTokens, out.CompletionTokens = u.PromptTokens, u.CompletionTokens
		if d := u.PromptTokensDetails; d != nil {
			out.CachedTokens = d.CachedTokens
		}
		if d := u.CompletionTokensDetails; d != nil {
			out.ReasoningTokens = d.ReasoningTokens
		}
	} else {
		out.Estimated = true
		for _, m := range req.Messages {
			out.PromptTokens += tc.Count(m.Content) + tokens.PerMessage
		}
		out.CompletionTokens = tc.Count(resp.Content) + tc.Count(resp.Reasoning)
		for _, call := range resp.ToolCalls {
			out.CompletionTokens += tc.Count(call.Name) + tc.Count(call.Arguments) + tokens.PerMessage
		}
	}
	if out.ReasoningTokens == 0 && resp.Reasoning != "" {
		out.ReasoningTokens = min(tc.Count(resp.Reasoning), max(out.CompletionTokens, 1))
		out.Estimated = true
	}
	return out
}

// Stream streams one chat completion. Retries happen only before the first
// chunk arrived.
func (c *Client) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		parent := ctx
		sawDone := &atomic.Bool{}
		ctx = context.WithValue(ctx, doneKey{}, sawDone)
		ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		ctx, cancelIdle := context.WithCancelCause(ctx)
		defer cancelIdle(nil)
		idle := time.AfterFunc(c.cfg.StreamIdleTimeout, func() { cancelIdle(errIdle) })
		defer idle.Stop()

		var stream *goopenai.ChatCompletionStream
		err := c.send(ctx, req, true, func(ctx context.Context, r goopenai.ChatCompletionRequest) error {
			var err error
			idle.Reset(c.cfg.StreamIdleTimeout)
			stream, err = c.api.CreateChatCompletionStream(ctx, r)
			return err
		})
		if err != nil {
			yield(llm.Chunk{}, c.idleErr(ctx, err))
			return
		}
		defer stream.Close()

		var text, reasoning strings.Builder
		resp := &llm.Response{Model: c.cfg.Model}
		var usage *goopenai.Usage
		gotText := false
		var calls callBuilder
		for {
			idle.Reset(c.cfg.StreamIdleTimeout)
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if ctx.Err() == nil && isNetErr(err) {
					err = &llm.APIError{Kind: llm.ErrBadResponse, Message: fmt.Sprintf("the stream from %s was cut off mid-answer (%s)", c.base, llm.Redact(rootCause(err), c.cfg.APIKey))}
				} else {
					err = finalize(c.classify(ctx, err, 0))
				}
				yield(llm.Chunk{}, c.idleErr(ctx, err))
				return
			}
			if chunk.Model != "" {
				resp.Model = chunk.Model
			}
			if chunk.Usage != nil {
				usage = chunk.Usage
			}
			for _, ch := range chunk.Choices {
				if ch.Index != 0 {
					continue
				}
				if ch.FinishReason != "" {
					resp.FinishReason = string(ch.FinishReason)
				}
				for _, d := range ch.Delta.ToolCalls {
					calls.add(d)
				}
				if d := ch.Delta.ReasoningContent; d != "" {
					gotText = true
					reasoning.WriteString(d)
					if !yield(llm.Chunk{Reasoning: d}, nil) {
						return
					}
				}
				if d := ch.Delta.Content; d != "" {
					gotText = true
					text.WriteString(d)
					if !yield(llm.Chunk{Content: d}, nil) {
						return
					}
				}
			}
		}
		if resp.FinishReason == "" && !gotText && len(calls.calls) == 0 && !sawDone.Load() {
			// Not a stream at all: some servers answer a streaming request
			// with one plain JSON completion. Ask for exactly that.
			c.log.Debug("the endpoint did not stream; asking without streaming")
			full, err := c.Complete(parent, req)
			if err != nil {
				yield(llm.Chunk{}, err)
				return
			}
			if full.Reasoning != "" && !yield(llm.Chunk{Reasoning: full.Reasoning}, nil) {
				return
			}
			if full.Content != "" && !yield(llm.Chunk{Content: full.Content}, nil) {
				return
			}
			yield(llm.Chunk{Done: true, Response: full}, nil)
			return
		}
		if resp.FinishReason == "" && !sawDone.Load() {
			yield(llm.Chunk{}, &llm.APIError{Kind: llm.ErrBadResponse,
				Message: fmt.Sprintf("the stream from %s ended before the model finished its answer (connection cut?)", c.base)})
			return
		}
		resp.Content = text.String()
		resp.ToolCalls = calls.result()
		resp.Reasoning = reasoning.String()
		// Some servers ignore include_usage: usageOf estimates then.
		resp.Usage = c.usageOf(usage, req, resp)
		c.addUsage(resp.Usage)
		yield(llm.Chunk{Done: true, Response: resp}, nil)
	}
}

var errIdle = errors.New("stream idle")

func (c *Client) idleErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errIdle) {
		return &llm.APIError{Kind: llm.ErrStreamIdle,
			Message: fmt.Sprintf("no data from %s for %s; the server may be overloaded (raise model.stream_idle_timeout if it is just slow)", c.base, c.cfg.StreamIdleTimeout)}
	}
	return err
}

// retry runs call until it succeeds, fails for good, or retries run out.
func (c *Client) retry(ctx context.Context, call func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		info := &retryInfo{}
		err := call(context.WithValue(ctx, retryInfoKey{}, info))
		if err == nil {
			return nil
		}
		cerr := c.classify(ctx, err, info.status)
		if !retryable(cerr) || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return finalize(cerr)
		}
		wait := c.backoff(attempt, info.retryAfter)
		c.log.Debug("model request failed; retrying", "attempt", attempt+1, "wait", wait, "err", cerr.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return finalize(cerr)
		case <-t.C:
		}
	}
}

func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, maxRetryWait)
	}
	d := c.cfg.RetryBaseDelay << attempt
	d += time.Duration(rand.Int64N(int64(d)/2 + 1)) // jitter
	return min(d, maxRetryWait)
}

// Markers for retryable failures; finalize swaps them for the public kinds.
var (
	errRetryable429 = errors.New("rate limited")
	errRetryable5xx = errors.New("server error")
	errRetryableNet = errors.New("connection failed")
)

type classified struct {
	api   *llm.APIError
	retry error
}

func (e *classified) Error() string   { return e.api.Error() }
func (e *classified) Unwrap() []error { return []error{e.api, e.retry} }

func retryable(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.retry != nil
}

func finalize(err error) error {
	var c *classified
	if errors.As(err, &c) {
		switch c.retry {
		case errRetryable429:
			c.api.Kind = llm.ErrRateLimited
		case errRetryable5xx:
			c.api.Kind = llm.ErrServer
		}
		return c.api
	}
	return err
}

// classify turns a go-openai or transport error into an llm error.
func (c *Client) classify(ctx context.Context, err error, status int) error {
	key := c.cfg.APIKey
	msgOf := func(s string) string {
		s = llm.Redact(s, key)
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		return s
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errIdle) {
		return err
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &llm.APIError{Kind: llm.ErrUnreachable, Message: fmt.Sprintf("no answer from %s within the request timeout (%s)", c.base, c.cfg.RequestTimeout)}
		}
		return ctx.Err()
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	code, message := 0, ""
	switch {
	case errors.As(err, &reqErr):
		code = reqErr.HTTPStatusCode
		message = errorMessage(reqErr.Body)
		if message == "" && reqErr.Err != nil {
			message = reqErr.Err.Error()
		}
	case errors.As(err, &apiErr):
		code, message = apiErr.HTTPStatusCode, apiErr.Message
		if apiErr.Param != nil && *apiErr.Param != "" && !strings.Contains(message, *apiErr.Param) {
			message += " (parameter " + *apiErr.Param + ")"
		}
		if s, ok := apiErr.Code.(string); ok && s == "context_length_exceeded" {
			return &llm.APIError{StatusCode: code, Kind: llm.ErrContextTooLong, Message: msgOf(message) + "; shorten the task or use a model with a larger context"}
		}
		if code == 0 {
			// An error event inside a stream that had begun well.
			kind := llm.ErrServer
			if looksLikeContextLength(message) {
				kind = llm.ErrContextTooLong
			}
			return &llm.APIError{Kind: kind, Message: "the endpoint reported an error mid-answer: " + msgOf(message)}
		}
	}
	if code == 0 {
		code = status
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &llm.APIError{StatusCode: code, Kind: llm.ErrAuth, Message: fmt.Sprintf("%s refused the key; check the API key variable (OPENAI_API_KEY or --api-key-env)", c.base)}
	case code == http.StatusNotFound:
		return &llm.APIError{StatusCode: code, Kind: llm.ErrModelNotFound, Message: fmt.Sprintf("%s has no model %q (or the base URL misses its API path such as /v1); check --model and --base-url", c.base, c.cfg.Model)}
	case code == http.StatusTooManyRequests:
		return &classified{api: &llm.APIError{StatusCode: code, Kind: llm.ErrRateLimited, Message: msgOf(message)}, retry: errRetryable429}
	case code >= 500:
		return &classified{api: &llm.APIError{StatusCode: code, Kind: llm.ErrServer, Message: msgOf(message)}, retry: errRetryable5xx}
	case code == http.StatusBadRequest && looksLikeContextLength(message):
		return &llm.APIError{StatusCode: code, Kind: llm.ErrContextTooLong, Message: msgOf(message)}
	case code >= 400:
		return &llm.APIError{StatusCode: code, Message: msgOf(message)}
	}
	if isNetErr(err) {
		return &classified{api: &llm.APIError{Kind: llm.ErrUnreachable,
			Message: fmt.Sprintf("cannot connect to %s (%s); is the server running and the base URL right?", c.base, msgOf(rootCause(err)))}, retry: errRetryableNet}
	}
	// Anything else is an answer we could not read (not JSON, cut short).
	return &llm.APIError{Kind: llm.ErrBadResponse, Message: fmt.Sprintf("%s answered with something that is not an OpenAI-compatible response (%s)", c.base, msgOf(err.Error()))}
}

// errorMessage finds the message in an error body of any of the shapes
// OpenAI-compatible servers answer with: {"error":{"message":...}} (OpenAI,
// Groq, DeepSeek, OpenRouter, llama.cpp, LM Studio), {"error":"..."}
// (Ollama), {"object":"error","message":...} (vLLM), {"detail":...}
// (FastAPI-based proxies), {"message":...}; else the body as text.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message any             `json:"message"`
		Detail  any             `json:"detail"`
	}
	text := strings.TrimSpace(string(body))
	if err := json.Unmarshal(body, &v); err != nil {
		return text
	}
	str := func(x any) string {
		switch x := x.(type) {
		case string:
			return x
		case nil:
			return ""
		default:
			b, _ := json.Marshal(x)
			return string(b)
		}
	}
	if len(v.Error) > 0 {
		var s string
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			return s
		}
		var inner struct {
			Message any `json:"message"`
		}
		if json.Unmarshal(v.Error, &inner) == nil && str(inner.Message) != "" {
			return str(inner.Message)
		}
	}
	if m := str(v.Message); m != "" {
		return m
	}
	if m := str(v.Detail); m != "" {
		return m
	}
	return text
}

func looksLikeContextLength(m string) bool {
	m = strings.ToLower(m)
	return strings.Contains(m, "context length") || strings.Contains(m, "context_length") ||
		strings.Contains(m, "maximum context") || strings.Contains(m, "too many tokens") ||
		strings.Contains(m, "context size") || strings.Contains(m, "context window") || strings.Contains(m, "exceed_context")
}

func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &oe) || errors.As(err, &de) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout())
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// transport adds headers and notes each answer's status and Retry-After.
type transport struct {
	base    http.RoundTripper
	headers map[string]string
}

type retryInfoKey struct{}

type retryInfo struct {
	status     int
	retryAfter time.Duration
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		r = r.Clone(r.Context())
		for k, v := range t.headers {
			r.Header.Set(k, v)
		}
	}
	resp, err := t.base.RoundTrip(r)
	if info, ok := r.Context().Value(retryInfoKey{}).(*retryInfo); ok && resp != nil {
		info.status = resp.StatusCode
		info.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	}
	if resp != nil && resp.Body != nil && resp.StatusCode < 300 && r.Method == http.MethodPost {
		resp.Body = newNormalizer(resp.Body, strings.Contains(resp.Header.Get("Content-Type"), "json"))
	}
	if done, ok := r.Context().Value(doneKey{}).(*atomic.Bool); ok && resp != nil && resp.Body != nil {
		resp.Body = &doneDetector{ReadCloser: resp.Body, done: done}
	}
	return resp, err
}

// normalizer rewrites the dialects of successful answers into the fields
// the OpenAI decoder reads, line by line (a plain JSON answer is one
// "line"; a stream is "data: {...}" lines):
//   - "reasoning" (Ollama, LM Studio, OpenRouter, newer vLLM) becomes
//     "reasoning_content" (DeepSeek, older vLLM, llama.cpp) unless both are
//     there;
//   - DeepSeek's usage.prompt_cache_hit_tokens becomes
//     usage.prompt_tokens_details.cached_tokens.
//
// Lines without those keys pass through untouched.
type normalizer struct {
	src   io.ReadCloser
	r     *bufio.Reader
	whole bool // one JSON document, possibly over several lines
	buf   []byte
	err   error
}

func newNormalizer(rc io.ReadCloser, whole bool) *normalizer {
	return &normalizer{src: rc, r: bufio.NewReaderSize(rc, 64<<10), whole: whole}
}

func (n *normalizer) Close() error { return n.src.Close() }

func (n *normalizer) Read(p []byte) (int, error) {
	for len(n.buf) == 0 {
		if n.err != nil {
			return 0, n.err
		}
		var line []byte
		var err error
		if n.whole {
			line, err = io.ReadAll(io.LimitReader(n.r, 64<<20))
			if err == nil {
				err = io.EOF
			}
		} else {
			line, err = n.r.ReadBytes('\n')
		}
		n.err = err
		n.buf = normalizeLine(line)
	}
	k := copy(p, n.buf)
	n.buf = n.buf[k:]
	return k, nil
}

var (
	keyReasoning = []byte(`"reasoning"`)
	keyCacheHit  = []byte(`"prompt_cache_hit_tokens"`)
)

func normalizeLine(line []byte) []byte {
	if !bytes.Contains(line, keyReasoning) && !bytes.Contains(line, keyCacheHit) {
		return line
	}
	trimmed := bytes.TrimSpace(line)
	prefix := []byte(nil)
	if rest, ok := bytes.CutPrefix(trimmed, []byte("data:")); ok {
		prefix = []byte("data: ")
		trimmed = bytes.TrimSpace(rest)
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return line
	}
	changed := false
	if choices, ok := v["choices"].([]any); ok {
		for _, ch := range choices {
			chm, _ := ch.(map[string]any)
			for _, k := range []string{"delta", "message"} {
				m, _ := chm[k].(map[string]any)
				if r, ok := m["reasoning"].(string); ok {
					if cur, _ := m["reasoning_content"].(string); cur == "" {
						m["reasoning_content"] = r
					}
					delete(m, "reasoning")
					changed = true
				}
			}
		}
	}
	if u, ok := v["usage"].(map[string]any); ok {
		if hit, ok := u["prompt_cache_hit_tokens"]; ok {
			d, _ := u["prompt_tokens_details"].(map[string]any)
			if d == nil {
				d = map[string]any{}
				u["prompt_tokens_details"] = d
			}
			if _, has := d["cached_tokens"]; !has {
				d["cached_tokens"] = hit
				changed = true
			}
		}
	}
	if !changed {
		return line
	}
	out, err := json.Marshal(v)
	if err != nil {
		return line
	}
	res := append(prefix, out...)
	return append(res, '\n')
}

// doneKey marks a streaming request whose "data: [DONE]" is watched for:
// a stream that ends with it is complete even without a finish reason.
type doneKey struct{}

type doneDetector struct {
	io.ReadCloser
	done *atomic.Bool
	tail []byte
}

func (d *doneDetector) Read(p []byte) (int, error) {
	n, err := d.ReadCloser.Read(p)
	if n > 0 && !d.done.Load() {
		buf := append(d.tail, p[:n]...)
		if strings.Contains(string(buf), "[DONE]") {
			d.done.Store(true)
		}
		if len(buf) > 8 {
			buf = buf[len(buf)-8:]
		}
		d.tail = append(d.tail[:0], buf...)
	}
	return n, err
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
