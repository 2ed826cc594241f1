// Package fakeopenai is an HTTP server speaking the OpenAI chat-completions
// protocol (POST /v1/chat/completions, plain JSON and server-sent-event
// streams) for tests. A Handler decides each answer: text, an error status,
// Retry-After, garbage, a stream cut short or gone silent.
package fakeopenai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/llm"
)

// Request is a request the server received. Message contents sent as parts
// (text and image_url) are joined into Content (the text parts) and Images.
type Request struct {
	Model               string        `json:"model"`
	Messages            []llm.Message `json:"-"`
	Stream              bool          `json:"stream"`
	Temperature         float64       `json:"temperature"`
	MaxTokens           int           `json:"max_tokens"`
	MaxCompletionTokens int           `json:"max_completion_tokens"`
	// Tools as sent (OpenAI form: {"type": "function", "function": {...}}).
	Tools      []json.RawMessage `json:"tools"`
	ToolChoice json.RawMessage   `json:"tool_choice"`
	// StreamOptions is the stream_options object, nil when not sent.
	StreamOptions map[string]any `json:"stream_options"`
	// Params are the names of the top-level fields of the body.
	Params map[string]bool `json:"-"`
	Header http.Header     `json:"-"`
}

type wireMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  []llm.ToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

func decodeRequest(body []byte) (*Request, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	var raw struct {
		Messages []wireMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	req.Params = map[string]bool{}
	for k := range top {
		req.Params[k] = true
	}
	for _, m := range raw.Messages {
		msg := llm.Message{Role: m.Role, Name: m.Name, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		var s string
		var parts []wirePart
		switch {
		case len(m.Content) == 0 || string(m.Content) == "null":
		case json.Unmarshal(m.Content, &s) == nil:
			msg.Content = s
		case json.Unmarshal(m.Content, &parts) == nil:
			var texts []string
			for _, p := range parts {
				switch p.Type {
				case "text":
					texts = append(texts, p.Text)
				case "image_url":
					if p.ImageURL == nil {
						return nil, fmt.Errorf("image_url part without image_url")
					}
					msg.Images = append(msg.Images, llm.Image{URL: p.ImageURL.URL, Detail: p.ImageURL.Detail})
				default:
					return nil, fmt.Errorf("unknown content part type %q", p.Type)
				}
			}
			msg.Content = strings.Join(texts, "\n")
		default:
			return nil, fmt.Errorf("message content is neither a string nor a list of parts")
		}
		req.Messages = append(req.Messages, msg)
	}
	return &req, nil
}

// ToolNames returns the names of the tools the request offers.
func (r *Request) ToolNames() []string {
	var names []string
	for _, t := range r.Tools {
		var v struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(t, &v) == nil {
			names = append(names, v.Function.Name)
		}
	}
	return names
}

// LastUser is the content of the last message (what the model answers).
func (r *Request) LastUser() string {
	if len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[len(r.Messages)-1].Content
}

// Text joins every message's content.
func (r *Request) Text() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	return b.String()
}

// Reply is one answer.
type Reply struct {
	// Text is the assistant's answer (streamed word by word when the
	// request asked for a stream).
	Text string
	// Status, when not 0 or 200, answers with this HTTP status and an
	// OpenAI-style error body carrying ErrorMessage and ErrorCode.
	Status       int
	ErrorMessage string
	ErrorCode    string
	// RetryAfter sets the Retry-After header.
	RetryAfter string
	// Raw answers with this body as it is (e.g. garbage, or another
	// family's error body together with Status).
	Raw string
	// CutAfter > 0 closes a stream after that many chunks, without the
	// final chunk or [DONE].
	CutAfter int
	// SilentAfter > 0 stops sending after that many stream chunks and
	// keeps the connection open until the client gives up.
	SilentAfter int
	// Delay waits before answering.
	Delay time.Duration
	// Reasoning is streamed (or sent) before Text in the field named
	// ReasoningField ("reasoning_content" when empty; Ollama, LM Studio
	// and OpenRouter use "reasoning").
	Reasoning      string
	ReasoningField string
	// FinishReason is the finish reason ("stop" when empty; "length" for
	// a reply cut off at the token limit).
	FinishReason string
	// Events, when set, answer a streaming request with exactly these
	// server-sent-event payloads, each sent as "data: <payload>" (add
	// "[DONE]" yourself): fixtures of real endpoints' streams.
	Events []string
	// Usage, when set, replaces the counted usage (e.g. with
	// completion_tokens_details or prompt_tokens_details).
	Usage map[string]any
	// ToolCalls are function calls the answer makes (after Text, if any).
	// A stream sends each call's arguments in several pieces.
	ToolCalls []llm.ToolCall
}

// ToolCall returns a Reply calling one tool with arguments (marshalled to
// JSON).
func ToolCall(id, name string, args any) Reply {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return Reply{ToolCalls: []llm.ToolCall{{ID: id, Name: name, Arguments: string(b)}}}
}

// Handler answers the n-th request (counting from 0).
type Handler func(n int, req *Request) Reply

// Script answers with the given texts in order, then with an error.
func Script(texts ...string) Handler {
	return func(n int, _ *Request) Reply {
		if n < len(texts) {
			return Reply{Text: texts[n]}
		}
		return Reply{Status: 500, ErrorMessage: fmt.Sprintf("script ended after %d replies", len(texts))}
	}
}

// Server is a running fake endpoint.
type Server struct {
	*httptest.Server
	// URL is the base URL to configure clients with (ends in /v1).
	URL     string
	handler Handler
	mu      sync.Mutex
	key     string
	reqs    []*Request
	closed  chan struct{}
}

// New starts a server; it is closed when the test ends.
func New(t testing.TB, h Handler) *Server {
	s := Start(h)
	t.Cleanup(s.Close)
	return s
}

// Start starts a server; call Close when done.
func Start(h Handler) *Server {
	s := &Server{handler: h, closed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.chat)
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"fake-model","object":"model"}]}`)
	})
	s.Server = httptest.NewServer(mux)
	s.URL = s.Server.URL + "/v1"
	return s
}

// Close stops the server, ending silent streams.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	s.Server.CloseClientConnections()
	s.Server.Close()
}

// RequireKey makes the server answer 401 unless the request carries this
// bearer token (the error echoes the wrong key back, as some servers do).
func (s *Server) RequireKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// Requests returns the requests received so far.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.reqs...)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, err := decodeRequest(body)
	if err != nil {
		writeError(w, 400, "invalid JSON body: "+err.Error(), "")
		return
	}
	req.Header = r.Header.Clone()
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, req)
	key := s.key
	s.mu.Unlock()
	if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		writeError(w, 401, "Incorrect API key provided: "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "invalid_api_key")
		return
	}
	rep := s.handler(n, req)
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.RetryAfter != "" {
		w.Header().Set("Retry-After", rep.RetryAfter)
	}
	switch {
	case rep.Raw != "":
		w.Header().Set("Content-Type", "application/json")
		if rep.Status != 0 {
			w.WriteHeader(rep.Status)
		}
		io.WriteString(w, rep.Raw)
	case rep.Status != 0 && rep.Status != 200:
		writeError(w, rep.Status, rep.ErrorMessage, rep.ErrorCode)
	case req.Stream && len(rep.Events) > 0:
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range rep.Events {
			fmt.Fprintf(w, "data: %s\n\n", e)
		}
	case req.Stream:
		s.stream(w, r, req, rep)
	default:
		w.Header().Set("Content-Type", "application/json")
		msg := map[string]any{"role": "assistant", "content": rep.Text}
		if rep.Reasoning != "" {
			msg[rep.reasoningField()] = rep.Reasoning
		}
		finish := rep.finishReason()
		if len(rep.ToolCalls) > 0 {
			msg["tool_calls"] = rep.ToolCalls
			finish = "tool_calls"
		}
		json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   rep.usage(req),
		})
	}
}

func (r *Reply) reasoningField() string {
	if r.ReasoningField != "" {
		return r.ReasoningField
	}
	return "reasoning_content"
}

func (r *Reply) finishReason() string {
	if r.FinishReason != "" {
		return r.FinishReason
	}
	return "stop"
}

func (r *Reply) usage(req *Request) any {
	if r.Usage != nil {
		return r.Usage
	}
	return usage(req, r.Reasoning+" "+r.Text)
}

func usage(req *Request, text string) map[string]int {
	p := len(strings.Fields(req.Text()))
	c := len(strings.Fields(text))
	return map[string]int{"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
}

var words = regexp.MustCompile(`^\s+|\S+\s*`)

func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *Request, rep Reply) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for _, piece := range words.FindAllString(rep.Reasoning, -1) {
		send(chunk(map[string]any{rep.reasoningField(): piece}, nil))
	}
	for i, piece := range words.FindAllString(rep.Text, -1) {
		if rep.CutAfter > 0 && i >= rep.CutAfter {
			// Cut: end the response without a finish chunk or [DONE].
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return
		}
		if rep.SilentAfter > 0 && i >= rep.SilentAfter {
			select {
			case <-r.Context().Done():
			case <-s.closed:
			}
			return
		}
		send(chunk(map[string]any{"content": piece}, nil))
	}
	for i, tc := range rep.ToolCalls {
		// The first piece names the call; the arguments follow in halves.
		half := len(tc.Arguments) / 2
		send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}}}}, nil))
		for _, part := range []string{tc.Arguments[:half], tc.Arguments[half:]} {
			send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i,
				"function": map[string]any{"arguments": part}}}}, nil))
		}
	}
	finish := rep.finishReason()
	if len(rep.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	send(chunk(map[string]any{}, finish))
	send(map[string]any{"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": req.Model, "choices": []any{}, "usage": rep.usage(req)})
	io.WriteString(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"message": msg, "type": "invalid_request_error"}
	if code != "" {
		e["code"] = code
	}
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}
