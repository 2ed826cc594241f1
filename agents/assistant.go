package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/prompts"
)

// AssistantConfig configures an Assistant. Client is required.
type AssistantConfig struct {
	// Name is the agent's name (default "assistant"; "planner" and "coder"
	// for NewPlanner and NewCoder).
	Name        string
	Description string
	Client      llm.Client
	// SystemPrompt is the system prompt text. When empty, the prompt named
	// Prompt is taken from Prompts (or the built-in prompts when nil).
	SystemPrompt string
	Prompt       string
	Prompts      *prompts.Set
	// MaxHistory bounds the model context to the last MaxHistory messages
	// (the system prompt is always sent). Zero keeps the whole history.
	MaxHistory int
	// Temperature and MaxTokens override the client's defaults when set.
	Temperature *float32
	MaxTokens   int
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Assistant is an LLM agent: it keeps its own model context (a system prompt
// and the conversation so far), and each turn asks the model for a reply,
// streaming it as KindChunk events and ending with a KindText message that
// carries the usage.
type Assistant struct {
	name, desc string
	client     llm.Client
	system     string
	maxHistory int
	temp       *float32
	maxTokens  int
	log        *slog.Logger
	history    []llm.Message
}

var _ Agent = (*Assistant)(nil)

// NewAssistant returns an Assistant.
func NewAssistant(cfg AssistantConfig) (*Assistant, error) {
	if cfg.Client == nil {
		return nil, errors.New("assistant: Client is required")
	}
	if cfg.Name == "" {
		cfg.Name = "assistant"
	}
	if cfg.MaxHistory < 0 {
		return nil, fmt.Errorf("assistant %s: MaxHistory must be >= 0", cfg.Name)
	}
	system := cfg.SystemPrompt
	if system == "" && cfg.Prompt != "" {
		var err error
		if cfg.Prompts != nil {
			system, err = cfg.Prompts.Get(cfg.Prompt)
		} else {
			system, err = prompts.Get(cfg.Prompt)
		}
		if err != nil {
			return nil, fmt.Errorf("assistant %s: %w", cfg.Name, err)
		}
	}
	if cfg.Description == "" {
		cfg.Description = "An assistant that answers with the help of a language model."
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Assistant{
		name: cfg.Name, desc: cfg.Description, client: cfg.Client, system: system,
		maxHistory: cfg.MaxHistory, temp: cfg.Temperature, maxTokens: cfg.MaxTokens, log: log,
	}, nil
}

// NewPlanner returns the planner: an Assistant with the planner prompt
// (unless cfg sets another), named "planner" by default.
func NewPlanner(cfg AssistantConfig) (*Assistant, error) {
	if cfg.Name == "" {
		cfg.Name = "planner"
	}
	if cfg.Prompt == "" {
		cfg.Prompt = prompts.Planner
	}
	if cfg.Description == "" {
		cfg.Description = "Reads the task and the data summary and writes a short numbered plan."
	}
	return NewAssistant(cfg)
}

// NewCoder returns the coder: an Assistant with the coder prompt (unless cfg
// sets another), named "coder" by default.
func NewCoder(cfg AssistantConfig) (*Assistant, error) {
	if cfg.Name == "" {
		cfg.Name = "coder"
	}
	if cfg.Prompt == "" {
		cfg.Prompt = prompts.Coder
	}
	if cfg.Description == "" {
		cfg.Description = "Writes one Python code block per step, reads the output, and gives the final answer."
	}
	return NewAssistant(cfg)
}

// Name implements Agent.
func (a *Assistant) Name() string { return a.name }

// Description implements Agent.
func (a *Assistant) Description() string { return a.desc }

// SystemPrompt returns the system prompt in use.
func (a *Assistant) SystemPrompt() string { return a.system }

// History returns a copy of the model context (without the system prompt).
func (a *Assistant) History() []llm.Message {
	return append([]llm.Message(nil), a.history...)
}

// Run implements Agent. Chat messages from others join the model context as
// user messages named after their source; events are ignored. The reply is
// added to the context only when the model call succeeds.
func (a *Assistant) Run(ctx context.Context, newMessages []*Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for _, m := range newMessages {
			if m == nil || m.Kind != KindText {
				continue
			}
			if m.Source == a.name {
				a.history = append(a.history, llm.Message{Role: llm.RoleAssistant, Content: m.Content})
				continue
			}
			a.history = append(a.history, llm.Message{Role: llm.RoleUser, Content: m.Content, Name: nameField(m.Source)})
		}
		req := llm.Request{Messages: a.context(), Temperature: a.temp, MaxTokens: a.maxTokens}
		start := time.Now()
		var final *llm.Response
		var text []byte
		for ch, err := range a.client.Stream(ctx, req) {
			if err != nil {
				yield(nil, fmt.Errorf("%s: model: %w", a.name, err))
				return
			}
			if ch.Content != "" {
				text = append(text, ch.Content...)
				ev := NewEvent(KindChunk, a.name)
				ev.Content = ch.Content
				if !yield(ev, nil) {
					return
				}
			}
			if ch.Done && ch.Response != nil {
				final = ch.Response
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		if final == nil {
			final = &llm.Response{}
		}
		content := final.Content
		if content == "" {
			content = string(text)
		}
		a.history = append(a.history, llm.Message{Role: llm.RoleAssistant, Content: content})
		msg := NewText(a.name, content)
		u := final.Usage
		msg.Usage = &u
		if final.Model != "" {
			msg.Metadata = map[string]string{"model": final.Model}
		}
		a.log.Debug("model reply", "agent", a.name, "chars", len(content), "prompt_tokens", u.PromptTokens,
			"completion_tokens", u.CompletionTokens, "duration", time.Since(start))
		yield(msg, nil)
	}
}

// context returns the messages sent to the model: the system prompt and the
// (possibly windowed) history.
func (a *Assistant) context() []llm.Message {
	h := a.history
	if a.maxHistory > 0 && len(h) > a.maxHistory {
		h = h[len(h)-a.maxHistory:]
	}
	out := make([]llm.Message, 0, len(h)+1)
	if a.system != "" {
		out = append(out, llm.Message{Role: llm.RoleSystem, Content: a.system})
	}
	return append(out, h...)
}

// Reset implements Agent: it clears the model context.
func (a *Assistant) Reset(context.Context) error {
	a.history = nil
	return nil
}

type assistantState struct {
	Type    string        `json:"type"`
	History []llm.Message `json:"history"`
}

// SaveState implements Agent.
func (a *Assistant) SaveState() (json.RawMessage, error) {
	return json.Marshal(assistantState{Type: "assistant", History: a.history})
}

// LoadState implements Agent.
func (a *Assistant) LoadState(state json.RawMessage) error {
	var s assistantState
	if err := json.Unmarshal(state, &s); err != nil {
		return fmt.Errorf("%s: load state: %w", a.name, err)
	}
	if s.Type != "" && s.Type != "assistant" {
		return fmt.Errorf("%s: load state: state is of a %q agent", a.name, s.Type)
	}
	a.history = s.History
	return nil
}

// nameField turns a source into a valid chat "name" (letters, digits, _ and
// -, at most 64 characters).
func nameField(s string) string {
	b := []byte(s)
	n := 0
	for _, c := range b {
		if n == 64 {
			break
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b[n] = c
		} else {
			b[n] = '_'
		}
		n++
	}
	return string(b[:n])
}
