package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"regexp"
	"strings"
	"sync"
)

// ErrReplayExhausted is returned when a Replay has no reply left.
var ErrReplayExhausted = errors.New("replay: the recorded session has no reply left")

// Replay is a Client that answers with recorded replies, in order, whatever
// it is asked. Streams yield the reply word by word. Usage is counted in
// words (an approximation of tokens). It records every request. It is safe
// for concurrent use. Use it for tests, examples and offline runs.
type Replay struct {
	mu       sync.Mutex
	replies  []Response
	next     int
	requests []Request
	usage    Usage
	name     string
}

var _ Client = (*Replay)(nil)

// NewReplay returns a Replay answering with replies in order.
func NewReplay(replies ...string) *Replay {
	r := &Replay{name: "replay"}
	for _, t := range replies {
		r.replies = append(r.replies, Response{Content: t})
	}
	return r
}

// NewReplayResponses returns a Replay answering with whole responses in
// order: their Content and ToolCalls are replayed (usage and finish reason
// are computed). Calls without an ID get one.
func NewReplayResponses(replies ...Response) *Replay {
	r := &Replay{name: "replay"}
	for i, resp := range replies {
		resp.ToolCalls = append([]ToolCall(nil), resp.ToolCalls...)
		for j := range resp.ToolCalls {
			if resp.ToolCalls[j].ID == "" {
				resp.ToolCalls[j].ID = fmt.Sprintf("call_%d_%d", i, j)
			}
		}
		r.replies = append(r.replies, Response{Content: resp.Content, ToolCalls: resp.ToolCalls})
	}
	return r
}

// ToolCallReply is a Response that calls one tool with args (marshalled to
// JSON), for NewReplayResponses.
func ToolCallReply(name string, args any) Response {
	b, err := json.Marshal(args)
	if err != nil {
		b = []byte("{}")
	}
	return Response{ToolCalls: []ToolCall{{Name: name, Arguments: string(b)}}}
}

// LoadReplay reads recorded replies from a file, in one of three forms:
//
//   - JSON: {"replies": ["...", "..."]} or a JSON array of strings;
//   - text or markdown: replies separated by lines holding only "---";
//     lines starting with "<!--" and ending with "-->" at the very top are
//     comments (e.g. to say what the file is).
func LoadReplay(path string) (*Replay, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	replies, err := ParseReplayResponses(b)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	r := NewReplayResponses(replies...)
	r.name = "replay:" + path
	return r, nil
}

var replaySep = regexp.MustCompile(`(?m)^---[ \t]*\r?$`)

// replayEntry is a reply with tool calls in a JSON replay file:
// {"content": "...", "tool_calls": [{"name": "f", "arguments": {...}}]}.
type replayEntry struct {
	Content   string `json:"content"`
	ToolCalls []struct {
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"tool_calls"`
}

// ParseReplayResponses parses a replay file (see LoadReplay). In the JSON
// forms a reply may also be an object with tool calls:
// {"content": "...", "tool_calls": [{"name": "run_python", "arguments": {"code": "1+1"}}]}
// (arguments as a JSON object, or as a string holding JSON).
func ParseReplayResponses(b []byte) ([]Response, error) {
	text := strings.TrimSpace(string(b))
	if !strings.HasPrefix(text, "{") && !strings.HasPrefix(text, "[") {
		replies, err := ParseReplay(b)
		if err != nil {
			return nil, err
		}
		out := make([]Response, len(replies))
		for i, r := range replies {
			out[i] = Response{Content: r}
		}
		return out, nil
	}
	var obj struct {
		Replies []json.RawMessage `json:"replies"`
	}
	if err := json.Unmarshal([]byte(text), &obj.Replies); err != nil {
		if err := json.Unmarshal([]byte(text), &obj); err != nil {
			return nil, fmt.Errorf("not a JSON list of replies nor {\"replies\": [...]}: %w", err)
		}
	}
	if len(obj.Replies) == 0 {
		return nil, errors.New("no replies")
	}
	out := make([]Response, 0, len(obj.Replies))
	for i, raw := range obj.Replies {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			out = append(out, Response{Content: s})
			continue
		}
		var e replayEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("reply %d: neither a string nor {\"content\", \"tool_calls\"}: %w", i+1, err)
		}
		resp := Response{Content: e.Content}
		for j, tc := range e.ToolCalls {
			if tc.Name == "" {
				return nil, fmt.Errorf("reply %d: tool call %d has no name", i+1, j+1)
			}
			args := strings.TrimSpace(string(tc.Arguments))
			var str string
			if json.Unmarshal(tc.Arguments, &str) == nil {
				args = str
			}
			if args == "" || args == "null" {
				args = "{}"
			}
			resp.ToolCalls = append(resp.ToolCalls, ToolCall{ID: tc.ID, Name: tc.Name, Arguments: args})
		}
		out = append(out, resp)
	}
	return out, nil
}

// ParseReplay parses the contents of a replay file of text replies (see
// LoadReplay); ParseReplayResponses also reads replies with tool calls.
func ParseReplay(b []byte) ([]string, error) {
	text := strings.TrimSpace(string(b))
	if strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") {
		var obj struct {
			Replies []string `json:"replies"`
		}
		var list []string
		if err := json.Unmarshal([]byte(text), &list); err == nil {
			obj.Replies = list
		} else if err := json.Unmarshal([]byte(text), &obj); err != nil {
			return nil, fmt.Errorf("not a JSON list of replies nor {\"replies\": [...]}: %w", err)
		}
		if len(obj.Replies) == 0 {
			return nil, errors.New("no replies")
		}
		return obj.Replies, nil
	}
	for strings.HasPrefix(text, "<!--") {
		end := strings.Index(text, "-->")
		if end < 0 {
			break
		}
		text = strings.TrimSpace(text[end+3:])
	}
	var replies []string
	for _, part := range replaySep.Split(text, -1) {
		if p := strings.TrimSpace(part); p != "" {
			replies = append(replies, p)
		}
	}
	if len(replies) == 0 {
		return nil, errors.New("no replies")
	}
	return replies, nil
}

// ModelName is "replay" (or "replay:FILE").
func (r *Replay) ModelName() string { return r.name }

// Requests returns the requests received so far.
func (r *Replay) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Usage is the total counted so far.
func (r *Replay) Usage() Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usage
}

// Remaining is the number of replies not yet given.
func (r *Replay) Remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.replies) - r.next
}

func (r *Replay) take(req Request) (*Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	if r.next >= len(r.replies) {
		return nil, fmt.Errorf("%w (%d replies were recorded)", ErrReplayExhausted, len(r.replies))
	}
	reply := r.replies[r.next]
	r.next++
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
		for _, tc := range m.ToolCalls {
			prompt += len(strings.Fields(tc.Arguments)) + 1
		}
	}
	completion := len(strings.Fields(reply.Content))
	for _, tc := range reply.ToolCalls {
		completion += len(strings.Fields(tc.Arguments)) + 1
	}
	u := Usage{PromptTokens: prompt, CompletionTokens: completion}
	r.usage = r.usage.Add(u)
	finish := "stop"
	if len(reply.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	return &Response{Content: reply.Content, FinishReason: finish, Model: r.name, Usage: u,
		ToolCalls: append([]ToolCall(nil), reply.ToolCalls...)}, nil
}

// Complete returns the next reply.
func (r *Replay) Complete(ctx context.Context, req Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.take(req)
}

// Stream yields the next reply word by word (whitespace kept), then a Done
// chunk with the whole response.
func (r *Replay) Stream(ctx context.Context, req Request) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(Chunk{}, err)
			return
		}
		resp, err := r.take(req)
		if err != nil {
			yield(Chunk{}, err)
			return
		}
		for _, piece := range splitWords(resp.Content) {
			if err := ctx.Err(); err != nil {
				yield(Chunk{}, err)
				return
			}
			if !yield(Chunk{Content: piece}, nil) {
				return
			}
		}
		yield(Chunk{Done: true, Response: resp}, nil)
	}
}

var wordRE = regexp.MustCompile(`^\s+|\S+\s*`)

// splitWords splits s into words, each with the whitespace after it; the
// pieces put together give s back.
func splitWords(s string) []string { return wordRE.FindAllString(s, -1) }
