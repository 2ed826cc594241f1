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

// Request is a request the server received.
type Request struct {
	Model       string        `json:"model"`
	Messages    []llm.Message `json:"messages"`
	Stream      bool          `json:"stream"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
	// Tools as sent (OpenAI form: {"type": "function", "function": {...}}).
	Tools      []json.RawMessage `json:"tools"`
	ToolChoice json.RawMessage   `json:"tool_choice"`
	Header     http.Header       `json:"-"`
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
	// Raw answers with this body as it is (e.g. garbage).
	Raw string
	// CutAfter > 0 closes a stream after that many chunks, without the
	// final chunk or [DONE].
	CutAfter int
	// SilentAfter > 0 stops sending after that many stream chunks and
	// keeps the connection open until the client gives up.
	SilentAfter int
	// Delay waits before answering.
	Delay time.Duration
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
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, 400, "invalid JSON body: "+err.Error(), "")
		return
	}
	req.Header = r.Header.Clone()
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, &req)
	key := s.key
	s.mu.Unlock()
	if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		writeError(w, 401, "Incorrect API key provided: "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "invalid_api_key")
		return
	}
	rep := s.handler(n, &req)
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
		io.WriteString(w, rep.Raw)
	case rep.Status != 0 && rep.Status != 200:
		writeError(w, rep.Status, rep.ErrorMessage, rep.ErrorCode)
	case req.Stream:
		s.stream(w, r, &req, rep)
	default:
		w.Header().Set("Content-Type", "application/json")
		msg := map[string]any{"role": "assistant", "content": rep.Text}
		finish := "stop"
		if len(rep.ToolCalls) > 0 {
			msg["tool_calls"] = rep.ToolCalls
			finish = "tool_calls"
		}
		json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage(&req, rep.Text),
		})
	}
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
	finish := "stop"
	if len(rep.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	send(chunk(map[string]any{}, finish))
	send(map[string]any{"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": req.Model, "choices": []any{}, "usage": usage(req, rep.Text)})
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
