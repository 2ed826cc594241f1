package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
)

// InputFunc asks a person for input: prompt says what is asked (the last
// message addressed to them). It should return when ctx ends.
type InputFunc func(ctx context.Context, prompt string) (string, error)

// UserProxyConfig configures a UserProxy. Input is required.
type UserProxyConfig struct {
	// Name defaults to "user_proxy" ("user" is the task's source and
	// cannot be an agent's name).
	Name        string
	Description string
	Input       InputFunc
}

// UserProxy is an agent whose turn asks a person: its response is what the
// input function returns. When it was handed the conversation (a
// KindHandoff to it), it hands it back to the agent that handed off.
type UserProxy struct {
	cfg UserProxyConfig
}

var _ Agent = (*UserProxy)(nil)

// ErrNoInput is returned when the input function gives up (e.g. the input
// ended).
var ErrNoInput = errors.New("no input from the user")

// NewUserProxy returns a UserProxy.
func NewUserProxy(cfg UserProxyConfig) (*UserProxy, error) {
	if cfg.Input == nil {
		return nil, errors.New("user proxy: Input is required")
	}
	if cfg.Name == "" {
		cfg.Name = "user_proxy"
	}
	if cfg.Description == "" {
		cfg.Description = "A person who can answer questions, give feedback and approve the next steps."
	}
	return &UserProxy{cfg: cfg}, nil
}

// Name implements Agent.
func (u *UserProxy) Name() string { return u.cfg.Name }

// Description implements Agent.
func (u *UserProxy) Description() string { return u.cfg.Description }

// Run implements Agent.
func (u *UserProxy) Run(ctx context.Context, newMessages []*Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		var last *Message
		for _, m := range newMessages {
			if m != nil && !m.Kind.IsEvent() {
				last = m
			}
		}
		prompt := ""
		if last != nil {
			prompt = ChatText(last)
		}
		text, err := u.cfg.Input(ctx, prompt)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			yield(nil, fmt.Errorf("%s: %w: %w", u.cfg.Name, ErrNoInput, err))
			return
		}
		text = strings.TrimSpace(text)
		if last != nil && last.Kind == KindHandoff && last.Target == u.cfg.Name && last.Source != "" {
			yield(&Message{Kind: KindHandoff, Source: u.cfg.Name, Target: last.Source, Content: text, Time: NewText("", "").Time}, nil)
			return
		}
		yield(NewText(u.cfg.Name, text), nil)
	}
}

// Reset implements Agent (a UserProxy keeps no state).
func (u *UserProxy) Reset(context.Context) error { return nil }

// SaveState implements Agent.
func (u *UserProxy) SaveState() (json.RawMessage, error) {
	return json.RawMessage(`{"type":"user_proxy"}`), nil
}

// LoadState implements Agent.
func (u *UserProxy) LoadState(json.RawMessage) error { return nil }
