package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/tokens"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/telemetry"
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

	// Tools the assistant runs itself when the model calls them (in
	// parallel when it calls several); results go back to the model as
	// role:tool messages.
	Tools []Tool
	// ExternalTools are offered to the model but run by another agent: a
	// reply calling them ends the turn with a text message carrying the
	// calls (ToolCalls), and the ToolResults of a later message answer
	// them (e.g. run_python for a CodeExecutor).
	ExternalTools []llm.Tool
	// Handoffs become transfer tools; calling one ends the turn with a
	// KindHandoff message to the target (see Swarm).
	Handoffs []Handoff
	// ToolChoice is sent with the tools ("" = the endpoint's default).
	ToolChoice string
	// MaxToolIterations bounds the rounds of tool calls in one turn
	// (default 1): after each round the model is asked again, with the
	// results, until it answers without calls or the bound is reached.
	MaxToolIterations int
	// ReflectOnToolUse asks the model, after the last round, for a reply
	// on the results (without tools). Otherwise the turn's response is
	// the results' text.
	ReflectOnToolUse bool
	// Tracer records invoke_agent, chat and execute_tool spans (nil: none).
	Tracer *telemetry.Tracer
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

	tools      map[string]Tool
	defs       []llm.Tool
	external   map[string]bool
	handoffs   map[string]Handoff
	toolChoice string
	maxIter    int
	reflect    bool
	tracer     *telemetry.Tracer
	// pending are the IDs of external calls not yet answered.
	pending []llm.ToolCall
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
	a := &Assistant{
		name: cfg.Name, desc: cfg.Description, client: cfg.Client, system: system,
		maxHistory: cfg.MaxHistory, temp: cfg.Temperature, maxTokens: cfg.MaxTokens, log: log,
		tools: map[string]Tool{}, external: map[string]bool{}, handoffs: map[string]Handoff{},
		toolChoice: cfg.ToolChoice, maxIter: cfg.MaxToolIterations, reflect: cfg.ReflectOnToolUse, tracer: cfg.Tracer,
	}
	if cfg.ContextWindow < 0 || cfg.AnswerTokens < 0 {
		return nil, fmt.Errorf("assistant %s: ContextWindow and AnswerTokens must be >= 0", cfg.Name)
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
	if a.maxIter < 0 {
		return nil, fmt.Errorf("assistant %s: MaxToolIterations must be >= 0", cfg.Name)
	}
	if a.maxIter == 0 {
		a.maxIter = 1
	}
	add := func(d llm.Tool) error {
		if !toolName.MatchString(d.Name) {
			return fmt.Errorf("assistant %s: invalid tool name %q", cfg.Name, d.Name)
		}
		for _, o := range a.defs {
			if o.Name == d.Name {
				return fmt.Errorf("assistant %s: two tools are named %q", cfg.Name, d.Name)
			}
		}
		a.defs = append(a.defs, d)
		return nil
	}
	for _, t := range cfg.Tools {
		if t == nil {
			return nil, fmt.Errorf("assistant %s: nil tool", cfg.Name)
		}
		d := t.Definition()
		if err := add(d); err != nil {
			return nil, err
		}
		a.tools[d.Name] = t
	}
	for _, d := range cfg.ExternalTools {
		if err := add(d); err != nil {
			return nil, err
		}
		a.external[d.Name] = true
	}
	for _, h := range cfg.Handoffs {
		h = h.withDefaults()
		if h.Target == "" {
			return nil, fmt.Errorf("assistant %s: a handoff has no target", cfg.Name)
		}
		if err := add(h.definition()); err != nil {
			return nil, err
		}
		a.handoffs[h.Name] = h
	}
	return a, nil
}

// Tools returns the definitions of the tools offered to the model.
func (a *Assistant) Tools() []llm.Tool { return append([]llm.Tool(nil), a.defs...) }

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
//
// The history is as recorded: whole, before any shrinking or folding.
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
//
// With tools, a reply that calls them is followed by the calls' results and
// another model call, up to MaxToolIterations rounds; tool_call and
// tool_result events report them. The turn's response is the model's last
// text, or (without ReflectOnToolUse) the results of the last round, or a
// handoff, or a text message carrying calls to external tools.
func (a *Assistant) Run(ctx context.Context, newMessages []*Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		fail := func(err error) { yield(nil, err) }
		a.ingest(newMessages)
		var usage llm.Usage
		model := ""
		respond := func(m *Message) {
			u := usage
			m.Usage = &u
			if model != "" {
				if m.Metadata == nil {
					m.Metadata = map[string]string{}
				}
				m.Metadata["model"] = model
			}
			yield(m, nil)
		}
		withTools := len(a.defs) > 0
		for round := 1; ; round++ {
			final, ok, err := a.complete(ctx, withTools, yield)
			if err != nil {
				fail(err)
				return
			}
			if !ok {
				return
			}
			usage = usage.Add(final.Usage)
			if final.Model != "" {
				model = final.Model
			}
			if len(final.ToolCalls) == 0 || !withTools {
				a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleAssistant, Content: final.Content}})
				m := NewText(a.name, final.Content)
				m.Reasoning = final.Reasoning
				if final.FinishReason == llm.FinishLength {
					m.Metadata = map[string]string{MetaFinishReason: llm.FinishLength}
				}
				respond(m)
				return
			}
			calls := final.ToolCalls
			a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleAssistant, Content: final.Content, ToolCalls: calls}})
			ev := NewEvent(KindToolCall, a.name)
			ev.Content = final.Content
			ev.ToolCalls = calls
			if !yield(ev, nil) {
				return
			}
			results, handoff, external := a.runCalls(ctx, calls)
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			if len(results) > 0 {
				ev := NewEvent(KindToolResult, a.name)
				ev.ToolResults = results
				if !yield(ev, nil) {
					return
				}
			}
			for _, r := range results {
				a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleTool, ToolCallID: r.CallID, Content: r.Content}})
			}
			if handoff != nil {
				// The model's text (e.g. its question to the user) goes
				// with the handoff; without text, the handoff's message.
				content := handoff.Message
				if strings.TrimSpace(final.Content) != "" {
					content = final.Content
				}
				m := &Message{Kind: KindHandoff, Source: a.name, Target: handoff.Target, Content: content, Time: time.Now().UTC()}
				respond(m)
				return
			}
			if len(external) > 0 {
				a.pending = external
				m := NewText(a.name, final.Content)
				m.ToolCalls = external
				respond(m)
				return
			}
			if round < a.maxIter {
				continue
			}
			if a.reflect {
				withTools = false
				continue
			}
			var parts []string
			for _, r := range results {
				parts = append(parts, r.Content)
			}
			respond(NewText(a.name, strings.Join(parts, "\n")))
			return
		}
	}
}

// complete makes one model call, streaming chunks. ok is false when the
// consumer stopped.
func (a *Assistant) complete(ctx context.Context, withTools bool, yield func(*Message, error) bool) (*llm.Response, bool, error) {
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
			return nil, false, fmt.Errorf("%s: %w", a.name, err)
		}
		req := llm.Request{Messages: msgs, Temperature: a.temp, MaxTokens: a.maxTokens}
		if withTools {
			req.Tools, req.ToolChoice = a.defs, a.toolChoice
		}
		cctx, span := a.tracer.StartChat(ctx, a.name, a.client.ModelName(), req)
		start := time.Now()
		var final *llm.Response
		var text, fieldReasoning []byte
		var split ReasoningSplitter
		streamed := false
		var serr error
		for ch, err := range a.client.Stream(cctx, req) {
			if err != nil {
				serr = err
				break
			}
			if ch.Reasoning != "" {
				streamed = true
				fieldReasoning = append(fieldReasoning, ch.Reasoning...)
				if !emit(KindReasoning, ch.Reasoning) {
					span.EndChat(nil, context.Canceled)
					return nil, false, nil
				}
			}
			if ch.Content != "" {
				streamed = true
				text = append(text, ch.Content...)
				c, r := split.Feed(ch.Content)
				if !emit(KindReasoning, r) || !emit(KindChunk, c) {
					span.EndChat(nil, context.Canceled)
					return nil, false, nil
				}
			}
			if ch.Done && ch.Response != nil {
				final = ch.Response
			}
		}
		if serr != nil {
			span.EndChat(nil, serr)
			// The endpoint counts more tokens than we did: believe it, and
			// try again with a smaller window (twice at most).
			if errors.Is(serr, llm.ErrContextTooLong) && !streamed && a.win.size > 0 && attempt < 2 && ctx.Err() == nil {
				a.win.size = a.win.size * 3 / 4
				if m := windowInError.FindStringSubmatch(serr.Error()); m != nil {
					if n, err := strconv.Atoi(m[1]); err == nil && n > 2*a.win.answer && n < a.win.size {
						a.win.size = n
					}
				}
				a.log.Info("the endpoint found the request too long; shrinking the context window", "agent", a.name, "window", a.win.size)
				continue
			}
			return nil, false, fmt.Errorf("%s: model: %w", a.name, serr)
		}
		if err := ctx.Err(); err != nil {
			span.EndChat(nil, err)
			return nil, false, err
		}
		c, r := split.Flush()
		if !emit(KindReasoning, r) || !emit(KindChunk, c) {
			span.EndChat(nil, context.Canceled)
			return nil, false, nil
		}
		if final == nil {
			final = &llm.Response{}
		}
		if final.Content == "" {
			final.Content = string(text)
		}
		span.EndChat(final, nil)
		// Reasoning is kept apart: never searched for code, never sent back.
		content, inline := SplitReasoning(final.Content)
		final.Content = content
		final.Reasoning = strings.TrimSpace(joinNonEmpty(final.Reasoning, string(fieldReasoning), inline))
		if final.Usage.ReasoningTokens == 0 && inline != "" {
			tc := a.win.tc
			if tc == nil {
				tc = tokens.ForModel(a.client.ModelName())
			}
			final.Usage.ReasoningTokens = tc.Count(inline)
			if final.Usage.CompletionTokens > 0 {
				final.Usage.ReasoningTokens = min(final.Usage.ReasoningTokens, final.Usage.CompletionTokens)
			}
			final.Usage.Estimated = true
		}
		u := final.Usage
		a.log.Debug("model reply", "agent", a.name, "chars", len(final.Content), "reasoning_chars", len(final.Reasoning),
			"tool_calls", len(final.ToolCalls), "prompt_tokens", u.PromptTokens, "completion_tokens", u.CompletionTokens,
			"finish", final.FinishReason, "duration", time.Since(start))
		return final, true, nil
	}
}

// windowInError finds the window an endpoint states in its "too long"
// error (OpenAI and vLLM: "maximum context length is 4096 tokens";
// llama.cpp: "n_ctx": 4096).
var windowInError = regexp.MustCompile(`(?i)(?:maximum context length is|n_ctx\W{0,4}|context size of|context window of)\s*(\d{3,7})`)

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

// runCalls runs the calls to the assistant's own tools (in parallel) and
// answers handoff calls. It returns the results to add to the context, the
// handoff taken (the first one called), and the calls to external tools
// (unanswered here), which are dropped, with a result saying so, when a
// handoff is taken.
func (a *Assistant) runCalls(ctx context.Context, calls []llm.ToolCall) (results []ToolResult, handoff *Handoff, external []llm.ToolCall) {
	var local []llm.ToolCall
	byID := map[string]ToolResult{}
	for _, c := range calls {
		if h, ok := a.handoffs[c.Name]; ok {
			if handoff == nil {
				handoff = &h
				byID[c.ID] = ToolResult{CallID: c.ID, Name: c.Name, Content: h.Message}
			} else {
				byID[c.ID] = ToolResult{CallID: c.ID, Name: c.Name, IsError: true, Content: "Not done: the conversation was already handed off."}
			}
			continue
		}
		if a.external[c.Name] {
			external = append(external, c)
			continue
		}
		local = append(local, c)
	}
	run := func(ctx context.Context, t Tool, c llm.ToolCall) ToolResult {
		ctx, span := a.tracer.StartTool(ctx, a.name, c)
		r := callTool(ctx, t, c)
		span.EndTool(r.Content, r.IsError)
		if r.IsError {
			a.log.Debug("tool failed", "agent", a.name, "tool", c.Name, "result", r.Content)
		}
		return r
	}
	for _, r := range runTools(ctx, a.tools, local, run) {
		byID[r.CallID] = r
	}
	if handoff != nil {
		for _, c := range external {
			byID[c.ID] = ToolResult{CallID: c.ID, Name: c.Name, IsError: true, Content: "Not run: the conversation was handed off."}
		}
		external = nil
	}
	for _, c := range calls {
		if r, ok := byID[c.ID]; ok {
			results = append(results, r)
		}
	}
	return results, handoff, external
}

// ingest adds the chat messages of others to the model context. The results
// of pending external calls become role:tool messages; calls left
// unanswered get a result saying so (the API needs one per call).
func (a *Assistant) ingest(msgs []*Message) {
	for _, m := range msgs {
		if m == nil || m.Kind.IsEvent() || m.Kind == KindStop {
			continue
		}
		if m.Source == a.name {
			a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleAssistant, Content: m.Content, ToolCalls: m.ToolCalls}})
			continue
		}
		if len(a.pending) > 0 {
			byID := map[string]ToolResult{}
			for _, r := range m.ToolResults {
				byID[r.CallID] = r
			}
			answered := 0
			for _, c := range a.pending {
				r, ok := byID[c.ID]
				if ok {
					answered++
				} else {
					r.Content = "Not run: the next message from " + m.Source + " says why."
				}
				a.history = append(a.history, entry{Message: llm.Message{Role: llm.RoleTool, ToolCallID: c.ID, Content: r.Content}, Output: m.Metadata[MetaExecution] == "true"})
			}
			a.pending = nil
			if answered > 0 {
				continue
			}
		}
		a.history = append(a.history, entry{
			Message: llm.Message{Role: llm.RoleUser, Content: ChatText(m), Name: nameField(m.Source), Images: m.Images},
			Task:    m.Source == SourceUser,
			Output:  m.Metadata[MetaExecution] == "true",
		})
	}
}

// ChatText is a chat message as text for a model: its content, and its tool
// calls as markdown.
func ChatText(m *Message) string {
	if len(m.ToolCalls) == 0 {
		return m.Content
	}
	var b strings.Builder
	b.WriteString(m.Content)
	for _, c := range m.ToolCalls {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(ToolCallMarkdown(c))
	}
	return b.String()
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
		// A window must not start with results whose calls it cut off.
		for len(h) > 0 && h[0].Role == llm.RoleTool {
			h = h[1:]
		}
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
	a.pending = nil
	a.win.folded, a.win.note = 0, ""
	return nil
}

type assistantState struct {
	Type    string         `json:"type"`
	History []entry        `json:"history"`
	Pending []llm.ToolCall `json:"pending_tool_calls,omitempty"`
	Folded  int            `json:"folded,omitempty"`
	Note    string         `json:"note,omitempty"`
}

// SaveState implements Agent.
func (a *Assistant) SaveState() (json.RawMessage, error) {
	return json.Marshal(assistantState{Type: "assistant", History: a.history, Pending: a.pending, Folded: a.win.folded, Note: a.win.note})
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
	a.history, a.pending = s.History, s.Pending
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
