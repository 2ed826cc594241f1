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

	mu    sync.Mutex
	usage llm.Usage
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
	return &Client{cfg: cfg, api: goopenai.NewClientWithConfig(oc), base: oc.BaseURL, log: log}, nil
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
	r := goopenai.ChatCompletionRequest{Model: c.cfg.Model, Stream: stream, Stop: req.Stop}
	if req.Model != "" {
		r.Model = req.Model
	}
	for _, m := range req.Messages {
		om := goopenai.ChatCompletionMessage{Role: m.Role, Content: m.Content, Name: sanitizeName(m.Name), ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			om.ToolCalls = append(om.ToolCalls, goopenai.ToolCall{ID: tc.ID, Type: goopenai.ToolTypeFunction,
				Function: goopenai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		r.Messages = append(r.Messages, om)
	}
	r.Tools, r.ToolChoice = tools(req)
	if t := req.Temperature; t != nil {
		r.Temperature = *t
	} else if t := c.cfg.Temperature; t != nil {
		r.Temperature = *t
	}
	if req.MaxTokens > 0 {
		r.MaxTokens = req.MaxTokens
	} else if c.cfg.MaxTokens > 0 {
		r.MaxTokens = c.cfg.MaxTokens
	}
	if stream {
		r.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	}
	return r
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
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		resp, err = c.api.CreateChatCompletion(ctx, c.request(req, false))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Choices) == 0 {
		return nil, &llm.APIError{Kind: llm.ErrBadResponse, Message: "the answer has no choices"}
	}
	out := &llm.Response{
		Content:      resp.Choices[0].Message.Content,
		FinishReason: string(resp.Choices[0].FinishReason),
		Model:        resp.Model,
		Usage:        llm.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens},
		ToolCalls:    toolCalls(resp.Choices[0].Message.ToolCalls),
	}
	c.addUsage(out.Usage)
	return out, nil
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
		err := c.retry(ctx, func(ctx context.Context) error {
			var err error
			idle.Reset(c.cfg.StreamIdleTimeout)
			stream, err = c.api.CreateChatCompletionStream(ctx, c.request(req, true))
			return err
		})
		if err != nil {
			yield(llm.Chunk{}, c.idleErr(ctx, err))
			return
		}
		defer stream.Close()

		var text strings.Builder
		resp := &llm.Response{Model: c.cfg.Model}
		gotUsage, gotText := false, false
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
				resp.Usage = llm.Usage{PromptTokens: chunk.Usage.PromptTokens, CompletionTokens: chunk.Usage.CompletionTokens}
				gotUsage = true
			}
			for _, ch := range chunk.Choices {
				if ch.FinishReason != "" {
					resp.FinishReason = string(ch.FinishReason)
				}
				for _, d := range ch.Delta.ToolCalls {
					calls.add(d)
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
		if !gotUsage {
			// Some servers ignore include_usage: estimate in words.
			resp.Usage.CompletionTokens = len(strings.Fields(resp.Content))
			for _, tc := range resp.ToolCalls {
				resp.Usage.CompletionTokens += len(strings.Fields(tc.Arguments)) + 1
			}
		}
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
	case errors.As(err, &apiErr):
		code, message = apiErr.HTTPStatusCode, apiErr.Message
		if s, ok := apiErr.Code.(string); ok && s == "context_length_exceeded" {
			return &llm.APIError{StatusCode: code, Kind: llm.ErrContextTooLong, Message: msgOf(message) + "; shorten the task or use a model with a larger context"}
		}
	case errors.As(err, &reqErr):
		code = reqErr.HTTPStatusCode
		message = strings.TrimSpace(string(reqErr.Body))
		if message == "" && reqErr.Err != nil {
			message = reqErr.Err.Error()
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

func looksLikeContextLength(m string) bool {
	m = strings.ToLower(m)
	return strings.Contains(m, "context length") || strings.Contains(m, "context_length") ||
		strings.Contains(m, "maximum context") || strings.Contains(m, "too many tokens")
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
	if done, ok := r.Context().Value(doneKey{}).(*atomic.Bool); ok && resp != nil && resp.Body != nil {
		resp.Body = &doneDetector{ReadCloser: resp.Body, done: done}
	}
	return resp, err
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
