// Package agenttest provides small test doubles for agents and teams: an
// executor driven by a function and a scripted model. Tests of the real
// thing use a real kernel and llm.Replay; these cover edge cases and
// measure the runtime's own overhead.
package agenttest

import (
	"context"
	"iter"
	"strings"
	"sync"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
)

// Executor is an executor.Executor that calls Fn (or returns an empty OK
// result when Fn is nil) and records the requests. Run yields the result's
// outputs one by one, then the result, as a real executor does. Stream, when
// set, is used instead of Fn: it yields outputs whenever it likes (e.g.
// before blocking until ctx ends).
type Executor struct {
	Fn     func(ctx context.Context, req executor.Request) (*executor.Result, error)
	Stream func(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error]

	mu       sync.Mutex
	requests []executor.Request
	restarts int
	closed   bool
}

var _ executor.Executor = (*Executor)(nil)

// Run implements executor.Executor.
func (e *Executor) Run(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
	e.mu.Lock()
	e.requests = append(e.requests, req)
	e.mu.Unlock()
	if e.Stream != nil {
		return e.Stream(ctx, req)
	}
	return func(yield func(executor.Event, error) bool) {
		res, err := &executor.Result{Status: executor.StatusOK}, error(nil)
		if e.Fn != nil {
			res, err = e.Fn(ctx, req)
		}
		if res != nil {
			for i := range res.Outputs {
				o := res.Outputs[i]
				if !yield(executor.Event{Output: &o}, nil) {
					return
				}
			}
		}
		yield(executor.Event{Result: res}, err)
	}
}

// Execute runs req and returns its result.
func (e *Executor) Execute(ctx context.Context, req executor.Request) (*executor.Result, error) {
	return executor.Collect(e.Run(ctx, req), nil)
}

// Restart implements executor.Executor.
func (e *Executor) Restart(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.restarts++
	return nil
}

// Close implements executor.Executor.
func (e *Executor) Close(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}

// Requests returns the requests received so far.
func (e *Executor) Requests() []executor.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]executor.Request(nil), e.requests...)
}

// Restarts returns how many times Restart was called.
func (e *Executor) Restarts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.restarts
}

// Stdout returns an OK result with one stdout stream output.
func Stdout(req executor.Request, text string) *executor.Result {
	o := executor.Output{Type: executor.OutputStream, Name: "stdout", Text: text}
	return &executor.Result{Status: executor.StatusOK, Outputs: []executor.Output{o}}
}

// Raise returns an error result for an exception, as a kernel reports it.
func Raise(req executor.Request, ename, evalue string) *executor.Result {
	o := executor.Output{Type: executor.OutputError, EName: ename, EValue: evalue,
		Traceback: []string{"Traceback (most recent call last):", ename + ": " + evalue}}
	return &executor.Result{Status: executor.StatusError, Outputs: []executor.Output{o}, Error: &o}
}

// Model is a scripted llm.Client: it answers with Replies in order (streamed
// word by word; usage counts words), then repeats Repeat forever when set,
// else fails.
type Model struct {
	Replies []string
	Repeat  string
	// NoRecord turns off the record of requests (for benchmarks).
	NoRecord bool

	mu       sync.Mutex
	n        int
	requests []llm.Request
}

var _ llm.Client = (*Model)(nil)

// ErrScriptEnded is returned when a Model has no reply left.
var ErrScriptEnded = scriptErr("scripted model: no replies left")

type scriptErr string

func (e scriptErr) Error() string { return string(e) }

// ModelName implements llm.Client.
func (m *Model) ModelName() string { return "scripted" }

// Requests returns the requests received so far.
func (m *Model) Requests() []llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]llm.Request(nil), m.requests...)
}

func (m *Model) next(req llm.Request) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.NoRecord {
		m.requests = append(m.requests, req)
	}
	if m.n < len(m.Replies) {
		m.n++
		return m.Replies[m.n-1], nil
	}
	if m.Repeat != "" {
		return m.Repeat, nil
	}
	return "", ErrScriptEnded
}

func usage(req llm.Request, reply string) llm.Usage {
	p := 0
	for _, msg := range req.Messages {
		p += len(strings.Fields(msg.Content))
	}
	return llm.Usage{PromptTokens: p, CompletionTokens: len(strings.Fields(reply))}
}

// Complete implements llm.Client.
func (m *Model) Complete(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reply, err := m.next(req)
	if err != nil {
		return nil, err
	}
	return &llm.Response{Content: reply, FinishReason: "stop", Model: "scripted", Usage: usage(req, reply)}, nil
}

// Stream implements llm.Client.
func (m *Model) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Chunk, error] {
	return func(yield func(llm.Chunk, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		reply, err := m.next(req)
		if err != nil {
			yield(llm.Chunk{}, err)
			return
		}
		rest := reply
		for rest != "" {
			i := strings.IndexAny(rest[1:], " \n")
			piece := rest
			if i >= 0 {
				piece = rest[:i+1]
			}
			rest = rest[len(piece):]
			if err := ctx.Err(); err != nil {
				yield(llm.Chunk{}, err)
				return
			}
			if !yield(llm.Chunk{Content: piece}, nil) {
				return
			}
		}
		yield(llm.Chunk{Done: true, Response: &llm.Response{Content: reply, FinishReason: "stop", Model: "scripted", Usage: usage(req, reply)}}, nil)
	}
}
