package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/tokens"
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
	// Ignored when ContextWindow is set.
	MaxHistory int
	// ContextWindow is the model's context window in tokens. When set,
	// every request is made to fit it less the answer budget: older
	// execution outputs shrink first, then the oldest turns fold into a
	// note; the system prompt and the task are always sent whole (see
	// context.go). Zero sends the whole history.
	ContextWindow int
	// AnswerTokens is the part of the window kept for the answer (default
	// MaxTokens when set, else a quarter of the window, at most 4096).
	AnswerTokens int
	// Tokens counts tokens; nil picks the counter for the client's model
	// (llm/tokens.ForModel).
	Tokens tokens.Counter
	// Variables, when set, lists the variables in the kernel; a fold note
	// names them. Nil falls back to the names the folded code assigned.
	Variables func(ctx context.Context) []string
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
	history    []entry
	win        window
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
	if cfg.ContextWindow < 0 || cfg.AnswerTokens < 0 {
		return nil, fmt.Errorf("assistant %s: ContextWindow and AnswerTokens must be >= 0", cfg.Name)
	}
	a := &Assistant{
		name: cfg.Name, desc: cfg.Description, client: cfg.Client, system: system,
		maxHistory: cfg.MaxHistory, temp: cfg.Temperature, maxTokens: cfg.MaxTokens, log: log,
	}
	if cfg.ContextWindow > 0 {
		tc := cfg.Tokens
		if tc == nil {
			tc = tokens.ForModel(cfg.Client.ModelName())
		}
		answer := cfg.AnswerTokens
		if answer == 0 {
			answer = cfg.MaxTokens
		}
		if answer == 0 {
			answer = min(4096, cfg.ContextWindow/4)
		}
		if answer >= cfg.ContextWindow/2 {
			return nil, fmt.Errorf("assistant %s: the answer budget (%d tokens) must be less than half the context window (%d)", cfg.Name, answer, cfg.ContextWindow)
		}
		a.win = window{size: cfg.ContextWindow, answer: answer, tc: tc, vars: cfg.Variables}
	}
	return a, nil
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

// History returns a copy of the model context (without the system prompt),
// as recorded: whole, before any shrinking or folding.
func (a *Assistant) History() []llm.Message {
	out := make([]llm.Message, len(a.history))
	for i, e := range a.history {
		out[i] = e.Message
	}
	return out
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
				a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleAssistant, Content: m.Content}})
				continue
			}
			a.history = append(a.history, entry{
				Message: llm.Message{Role: llm.RoleUser, Content: m.Content, Name: nameField(m.Source), Images: m.Images},
				Task:    m.Source == SourceUser,
				Output:  m.Metadata[MetaExecution] == "true",
			})
		}
		start := time.Now()
		var final *llm.Response
		var text, inline, fieldReasoning []byte
		var split ReasoningSplitter
		emit := func(kind Kind, s string) bool {
			if s == "" {
				return true
			}
			ev := NewEvent(kind, a.name)
			if kind == KindReasoning {
				ev.Reasoning = s
			} else {
				ev.Content = s
			}
			return yield(ev, nil)
		}
		for attempt := 0; ; attempt++ {
			msgs, err := a.context(ctx)
			if err != nil {
				yield(nil, fmt.Errorf("%s: %w", a.name, err))
				return
			}
			req := llm.Request{Messages: msgs, Temperature: a.temp, MaxTokens: a.maxTokens}
			streamed := false
			var serr error
			for ch, err := range a.client.Stream(ctx, req) {
				if err != nil {
					serr = err
					break
				}
				if ch.Reasoning != "" {
					streamed = true
					fieldReasoning = append(fieldReasoning, ch.Reasoning...)
					if !emit(KindReasoning, ch.Reasoning) {
						return
					}
				}
				if ch.Content != "" {
					streamed = true
					text = append(text, ch.Content...)
					c, r := split.Feed(ch.Content)
					inline = append(inline, r...)
					if !emit(KindReasoning, r) || !emit(KindChunk, c) {
						return
					}
				}
				if ch.Done && ch.Response != nil {
					final = ch.Response
				}
			}
			if serr == nil {
				break
			}
			// The endpoint counts more tokens than we did: believe it, and
			// try again with a smaller window (twice at most).
			if errors.Is(serr, llm.ErrContextTooLong) && !streamed && a.win.size > 0 && attempt < 2 && ctx.Err() == nil {
				a.win.size = a.win.size * 3 / 4
				a.log.Info("the endpoint found the request too long; shrinking the context window", "agent", a.name, "window", a.win.size)
				continue
			}
			yield(nil, fmt.Errorf("%s: model: %w", a.name, serr))
			return
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		c, r := split.Flush()
		inline = append(inline, r...)
		if !emit(KindReasoning, r) || !emit(KindChunk, c) {
			return
		}
		if final == nil {
			final = &llm.Response{}
		}
		raw := final.Content
		if raw == "" {
			raw = string(text)
		}
		content, inlineReasoning := SplitReasoning(raw)
		reasoning := strings.TrimSpace(joinNonEmpty(final.Reasoning, string(fieldReasoning), inlineReasoning))
		a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleAssistant, Content: content}})
		msg := NewText(a.name, content)
		msg.Reasoning = reasoning
		u := final.Usage
		if u.ReasoningTokens == 0 && inlineReasoning != "" {
			tc := a.win.tc
			if tc == nil {
				tc = tokens.ForModel(a.client.ModelName())
			}
			u.ReasoningTokens = tc.Count(inlineReasoning)
			if u.CompletionTokens > 0 {
				u.ReasoningTokens = min(u.ReasoningTokens, u.CompletionTokens)
			}
			u.Estimated = true
		}
		msg.Usage = &u
		msg.Metadata = map[string]string{}
		if final.Model != "" {
			msg.Metadata["model"] = final.Model
		}
		if final.FinishReason == llm.FinishLength {
			msg.Metadata[MetaFinishReason] = llm.FinishLength
		}
		if len(msg.Metadata) == 0 {
			msg.Metadata = nil
		}
		a.log.Debug("model reply", "agent", a.name, "chars", len(content), "reasoning_chars", len(reasoning),
			"prompt_tokens", u.PromptTokens, "completion_tokens", u.CompletionTokens, "finish", final.FinishReason,
			"duration", time.Since(start))
		yield(msg, nil)
	}
}

// joinNonEmpty joins the distinct non-empty parts with blank lines (the
// reasoning field's text arrives both streamed and in the final response).
func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p == "" || slices.Contains(out, p) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, "\n\n")
}

// context returns the messages sent to the model: the system prompt and the
// history, fitted to the context window when one is set (else the last
// MaxHistory messages).
func (a *Assistant) context(ctx context.Context) ([]llm.Message, error) {
	if a.win.size > 0 {
		return a.win.fit(ctx, a.system, a.history)
	}
	h := a.history
	if a.maxHistory > 0 && len(h) > a.maxHistory {
		h = h[len(h)-a.maxHistory:]
	}
	out := make([]llm.Message, 0, len(h)+1)
	if a.system != "" {
		out = append(out, llm.Message{Role: llm.RoleSystem, Content: a.system})
	}
	for _, e := range h {
		out = append(out, e.Message)
	}
	return out, nil
}

// Reset implements Agent: it clears the model context.
func (a *Assistant) Reset(context.Context) error {
	a.history = nil
	a.win.folded, a.win.note = 0, ""
	return nil
}

type assistantState struct {
	Type    string  `json:"type"`
	History []entry `json:"history"`
	Folded  int     `json:"folded,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// SaveState implements Agent.
func (a *Assistant) SaveState() (json.RawMessage, error) {
	return json.Marshal(assistantState{Type: "assistant", History: a.history, Folded: a.win.folded, Note: a.win.note})
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
	a.win.folded, a.win.note = s.Folded, s.Note
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
