package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/agentteam/agentteam/llm"
)

// SourceUser is the source of task messages.
const SourceUser = "user"

// Agent is one participant of a team.
//
// Run handles the messages that arrived since the agent's last turn and
// yields what it does as it happens: zero or more events (Kind.IsEvent:
// chunks, code generation/execution, outputs) and then exactly one chat
// message (KindText, or KindStop when the agent asks the team to stop),
// which is its response and the last item. An error ends the sequence.
// Breaking out of the loop, or cancelling ctx, stops the work (a running
// execution is interrupted). Use Respond to drive Run and get the response.
//
// An agent keeps its own state between turns (its model context, counters).
// Agents are not safe for concurrent use: a team runs one turn at a time.
type Agent interface {
	// Name identifies the agent in a team; it is the Source of its messages.
	Name() string
	// Description says what the agent does (for people and selectors).
	Description() string
	Run(ctx context.Context, newMessages []*Message) iter.Seq2[*Message, error]
	// Reset forgets everything the agent learned in earlier turns.
	Reset(ctx context.Context) error
	// SaveState returns the agent's state as JSON; LoadState restores it.
	SaveState() (json.RawMessage, error)
	LoadState(state json.RawMessage) error
}

// ErrNoResponse is returned when an agent's Run ends without yielding a chat
// message.
var ErrNoResponse = errors.New("agent ended its turn without a response")

// Respond runs one turn of a, calling onEvent (if non-nil) for each event,
// and returns the response chat message.
func Respond(ctx context.Context, a Agent, newMessages []*Message, onEvent func(*Message)) (*Message, error) {
	var resp *Message
	for m, err := range a.Run(ctx, newMessages) {
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		if m.Kind.IsEvent() {
			if onEvent != nil {
				onEvent(m)
			}
			continue
		}
		resp = m
	}
	if resp == nil {
		return nil, fmt.Errorf("%s: %w", a.Name(), ErrNoResponse)
	}
	return resp, nil
}

// NewStop returns a stop chat message: the source asks the team to stop for
// the given reason.
func NewStop(source, reason string) *Message {
	return &Message{Kind: KindStop, Source: source, Content: reason, Time: time.Now().UTC()}
}

// NewEvent returns an event message of the given kind.
func NewEvent(kind Kind, source string) *Message {
	return &Message{Kind: kind, Source: source, Time: time.Now().UTC()}
}

// TotalUsage sums the usage recorded on messages.
func TotalUsage(msgs []*Message) llm.Usage {
	var u llm.Usage
	for _, m := range msgs {
		if m != nil && m.Usage != nil {
			u = u.Add(*m.Usage)
		}
	}
	return u
}

// Chat returns the chat messages (text and stop) of the result, without
// events.
func (r *TaskResult) Chat() []*Message {
	out := make([]*Message, 0, len(r.Messages))
	for _, m := range r.Messages {
		if !m.Kind.IsEvent() {
			out = append(out, m)
		}
	}
	return out
}
