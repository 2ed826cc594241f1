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
	replies  []string
	next     int
	requests []Request
	usage    Usage
	name     string
}

var _ Client = (*Replay)(nil)

// NewReplay returns a Replay answering with replies in order.
func NewReplay(replies ...string) *Replay {
	return &Replay{replies: append([]string(nil), replies...), name: "replay"}
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
	replies, err := ParseReplay(b)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	r := NewReplay(replies...)
	r.name = "replay:" + path
	return r, nil
}

var replaySep = regexp.MustCompile(`(?m)^---[ \t]*\r?$`)

// ParseReplay parses the contents of a replay file (see LoadReplay).
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
	}
	u := Usage{PromptTokens: prompt, CompletionTokens: len(strings.Fields(reply))}
	r.usage = r.usage.Add(u)
	return &Response{Content: reply, FinishReason: "stop", Model: r.name, Usage: u}, nil
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
