// Package team runs agents together. RoundRobin lets each agent speak in
// turn until a termination condition, an agent's stop message, the turn
// limit, an error or ctx cancellation ends the run.
package team

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/telemetry"
)

// Errors callers branch on.
var (
	// ErrRunning: Run, Stream, Reset or LoadState while a run is in progress.
	ErrRunning = errors.New("team is already running")
	// ErrNoTask: a run with no task and no earlier conversation to continue.
	ErrNoTask = errors.New("no task: give a task or load a conversation to continue")
)

// Config configures a RoundRobin. Agents is required.
type Config struct {
	// Name is the source of the team's own stop message (default "team").
	Name   string
	Agents []agents.Agent
	// Termination ends a run; nil means only MaxTurns, an agent's stop
	// message, an error or ctx end it.
	Termination Condition
	// MaxTurns bounds the agent turns of one run (0 = no bound).
	MaxTurns int
	// OnMessage, when set, is called with every message and event of every
	// run, in order, as it happens (e.g. to write a transcript). It runs on
	// the run's goroutine: keep it quick.
	OnMessage func(*agents.Message)
	Logger    *slog.Logger
	// Tracer records an invoke_agent span per turn (nil: none).
	Tracer *telemetry.Tracer
}

// RoundRobin is a team whose agents speak in a fixed order. Each agent, on
// its turn, receives the chat messages (not events) added since its previous
// turn. The conversation, the order and every agent's state carry over from
// one run to the next until Reset. Its methods are safe to call from several
// goroutines, but only one run is in progress at a time.
type RoundRobin struct {
	name    string
	agents  []agents.Agent
	term    Condition
	maxTurn int
	onMsg   func(*agents.Message)
	log     *slog.Logger
	tracer  *telemetry.Tracer

	// How the other team types choose speakers (nil: round robin).
	kind string // the state's type
	// choose picks the speaker of the next turn from the conversation; an
	// event it returns (e.g. the selector's usage) is emitted first.
	choose func(ctx context.Context, thread []*agents.Message, prev int) (int, *agents.Message, error)
	// after returns the speaker after turn i ended with resp.
	after func(i int, resp *agents.Message) (int, error)
	prev  int // the last speaker, -1 before the first turn

	mu       sync.Mutex
	running  bool
	thread   []*agents.Message // chat messages of the conversation
	lastSeen []int             // per agent: len(thread) at its last turn
	next     int
}

// New returns a RoundRobin team.
func New(cfg Config) (*RoundRobin, error) {
	if len(cfg.Agents) == 0 {
		return nil, errors.New("team: at least one agent is required")
	}
	seen := map[string]bool{}
	for i, a := range cfg.Agents {
		if a == nil {
			return nil, fmt.Errorf("team: agent %d is nil", i)
		}
		if a.Name() == "" || a.Name() == agents.SourceUser {
			return nil, fmt.Errorf("team: agent %d has the invalid name %q", i, a.Name())
		}
		if seen[a.Name()] {
			return nil, fmt.Errorf("team: two agents are named %q", a.Name())
		}
		seen[a.Name()] = true
	}
	if cfg.Name == "" {
		cfg.Name = "team"
	}
	if cfg.MaxTurns < 0 {
		return nil, errors.New("team: MaxTurns must be >= 0")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RoundRobin{
		name: cfg.Name, agents: append([]agents.Agent(nil), cfg.Agents...), term: cfg.Termination,
		maxTurn: cfg.MaxTurns, onMsg: cfg.OnMessage, log: log, lastSeen: make([]int, len(cfg.Agents)),
		tracer: cfg.Tracer, kind: "round_robin", prev: -1,
	}, nil
}

func (t *RoundRobin) index(name string) int {
	for i, a := range t.agents {
		if a.Name() == name {
			return i
		}
	}
	return -1
}

// Agents returns the team's agents in speaking order.
func (t *RoundRobin) Agents() []agents.Agent { return append([]agents.Agent(nil), t.agents...) }

// Messages returns the chat messages of the conversation so far.
func (t *RoundRobin) Messages() []*agents.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*agents.Message(nil), t.thread...)
}

// Run runs the team on a task until it stops and returns the result. An
// empty task continues the conversation where the last run stopped. On error
// (including ctx cancellation) the partial result is returned with it.
func (t *RoundRobin) Run(ctx context.Context, task string) (*agents.TaskResult, error) {
	return Collect(t.Stream(ctx, task))
}

// RunMessages is Run with task messages (e.g. a task and a data summary for
// the planner, as separate messages).
func (t *RoundRobin) RunMessages(ctx context.Context, task ...*agents.Message) (*agents.TaskResult, error) {
	return Collect(t.StreamMessages(ctx, task...))
}

// Stream runs the team and yields every message and event as it happens:
// the task message, each agent's events and responses, and last a KindStop
// message from the team whose Content is the stop reason. An error (a model
// or executor failure, ctx cancellation) is yielded instead of that stop
// message and ends the sequence. Breaking out of the loop stops the run
// (the turn in progress is cancelled). Collect turns the sequence into a
// TaskResult.
func (t *RoundRobin) Stream(ctx context.Context, task string) iter.Seq2[*agents.Message, error] {
	if task == "" {
		return t.StreamMessages(ctx)
	}
	return t.StreamMessages(ctx, agents.NewText(agents.SourceUser, task))
}

// StreamMessages is Stream with task messages.
func (t *RoundRobin) StreamMessages(ctx context.Context, task ...*agents.Message) iter.Seq2[*agents.Message, error] {
	return func(yield func(*agents.Message, error) bool) {
		t.mu.Lock()
		if t.running {
			t.mu.Unlock()
			yield(nil, ErrRunning)
			return
		}
		t.running = true
		t.mu.Unlock()
		defer func() {
			t.mu.Lock()
			t.running = false
			t.mu.Unlock()
		}()
		t.run(ctx, task, yield)
	}
}

// emit stamps a message, records it, and passes it on.
func (t *RoundRobin) emit(m *agents.Message, source string, yield func(*agents.Message, error) bool) bool {
	if m.Source == "" {
		m.Source = source
	}
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	if t.onMsg != nil {
		t.onMsg(m)
	}
	return yield(m, nil)
}

func (t *RoundRobin) run(ctx context.Context, task []*agents.Message, yield func(*agents.Message, error) bool) {
	if t.term != nil {
		t.term.Reset()
	}
	var delta []*agents.Message
	for _, m := range task {
		if m == nil {
			continue
		}
		if m.Kind == "" {
			m.Kind = agents.KindText
		}
		t.mu.Lock()
		t.thread = append(t.thread, m)
		t.mu.Unlock()
		delta = append(delta, m)
		if !t.emit(m, agents.SourceUser, yield) {
			return
		}
	}
	t.mu.Lock()
	empty := len(t.thread) == 0
	t.mu.Unlock()
	if empty {
		yield(nil, ErrNoTask)
		return
	}
	reason := ""
	if t.term != nil && len(delta) > 0 {
		reason = t.term.Check(delta)
	}
	for turns := 0; reason == ""; turns++ {
		if t.maxTurn > 0 && turns >= t.maxTurn {
			reason = fmt.Sprintf("Maximum number of turns %d reached.", t.maxTurn)
			break
		}
		if err := ctx.Err(); err != nil {
			yield(nil, fmt.Errorf("team: %w", err))
			return
		}
		resp, delta, ok := t.turn(ctx, yield)
		if !ok {
			return
		}
		if resp.Kind == agents.KindStop {
			reason = resp.Content
			break
		}
		if t.term != nil {
			reason = t.term.Check(delta)
		}
	}
	t.log.Debug("run stopped", "team", t.name, "reason", reason)
	t.emit(agents.NewStop(t.name, reason), t.name, yield)
}

// turn runs the next agent's turn. ok is false when the run ended (error
// yielded or consumer gone).
func (t *RoundRobin) turn(ctx context.Context, yield func(*agents.Message, error) bool) (resp *agents.Message, delta []*agents.Message, ok bool) {
	if t.choose != nil {
		t.mu.Lock()
		thread, prev := append([]*agents.Message(nil), t.thread...), t.prev
		t.mu.Unlock()
		i, ev, err := t.choose(ctx, thread, prev)
		if err != nil {
			yield(nil, fmt.Errorf("team: select speaker: %w", err))
			return nil, nil, false
		}
		if ev != nil {
			delta = append(delta, ev)
			if !t.emit(ev, t.name, yield) {
				return nil, nil, false
			}
		}
		t.mu.Lock()
		t.next = i
		t.mu.Unlock()
	}
	t.mu.Lock()
	i := t.next
	a := t.agents[i]
	newMsgs := append([]*agents.Message(nil), t.thread[t.lastSeen[i]:]...)
	// Seen now: when the turn fails and the run is resumed, the agent is not
	// given the same messages twice.
	t.lastSeen[i] = len(t.thread)
	t.mu.Unlock()

	start := time.Now()
	ctx, span := t.tracer.StartAgent(ctx, a.Name(), a.Description())
	var turnErr error
	defer func() { span.End(turnErr) }()
	for m, err := range a.Run(ctx, newMsgs) {
		if err != nil {
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			}
			turnErr = err
			yield(nil, fmt.Errorf("team: %s: %w", a.Name(), err))
			return nil, nil, false
		}
		if m != nil && m.Kind == agents.KindHandoff && t.after != nil {
			if m.Target != agents.SourceUser && t.index(m.Target) < 0 {
				yield(nil, fmt.Errorf("team: %s handed off to %q, who is not in the team", a.Name(), m.Target))
				return nil, nil, false
			}
		}
		if m == nil {
			continue
		}
		if !m.Kind.IsEvent() {
			resp = m
		}
		if m.Kind != agents.KindChunk && m.Kind != agents.KindOutput {
			delta = append(delta, m)
		} else if m.Usage != nil {
			delta = append(delta, m)
		}
		if !t.emit(m, a.Name(), yield) {
			return nil, nil, false
		}
	}
	if resp == nil {
		yield(nil, fmt.Errorf("team: %s: %w", a.Name(), agents.ErrNoResponse))
		return nil, nil, false
	}
	next := (i + 1) % len(t.agents)
	if resp.Kind == agents.KindHandoff && resp.Target == agents.SourceUser {
		// The agent that asked the user gets the answer.
		next = i
	}
	if t.after != nil {
		var err error
		if next, err = t.after(i, resp); err != nil {
			yield(nil, fmt.Errorf("team: %w", err))
			return nil, nil, false
		}
	}
	t.mu.Lock()
	t.thread = append(t.thread, resp)
	t.lastSeen[i] = len(t.thread)
	t.next = next
	t.prev = i
	t.mu.Unlock()
	t.log.Debug("turn", "team", t.name, "agent", a.Name(), "kind", resp.Kind, "duration", time.Since(start))
	return resp, delta, true
}

// Collect drains a Stream into a TaskResult: every message and event except
// streaming chunks and output events (which the code execution event
// repeats), the stop reason, and the total usage. On error it returns the
// partial result and the error.
func Collect(seq iter.Seq2[*agents.Message, error]) (*agents.TaskResult, error) {
	res := &agents.TaskResult{Messages: []*agents.Message{}}
	for m, err := range seq {
		if err != nil {
			res.StopReason = "error: " + err.Error()
			res.Usage = agents.TotalUsage(res.Messages)
			return res, err
		}
		if m.Kind == agents.KindChunk || m.Kind == agents.KindOutput {
			continue
		}
		res.Messages = append(res.Messages, m)
	}
	// The last item is the team's own stop message: it only carries the
	// reason. (An agent's stop message before it stays in Messages.)
	if n := len(res.Messages); n > 0 && res.Messages[n-1].Kind == agents.KindStop {
		res.StopReason = res.Messages[n-1].Content
		res.Messages = res.Messages[:n-1]
	}
	res.Usage = agents.TotalUsage(res.Messages)
	return res, nil
}

// Reset clears the conversation and resets every agent and the termination
// condition.
func (t *RoundRobin) Reset(ctx context.Context) error {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return ErrRunning
	}
	t.thread = nil
	t.lastSeen = make([]int, len(t.agents))
	t.next = 0
	t.prev = -1
	t.mu.Unlock()
	if t.term != nil {
		t.term.Reset()
	}
	var errs []error
	for _, a := range t.agents {
		if err := a.Reset(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

const stateVersion = 1

type state struct {
	Type     string                     `json:"type"`
	Version  int                        `json:"version"`
	Thread   []*agents.Message          `json:"thread"`
	LastSeen map[string]int             `json:"last_seen"`
	Next     string                     `json:"next"`
	Previous string                     `json:"previous,omitempty"`
	Agents   map[string]json.RawMessage `json:"agents"`
}

// SaveState returns the team's state (the conversation, whose turn is next,
// and every agent's state) as JSON. Load it into a team with the same agent
// names to resume, e.g. after a process restart.
func (t *RoundRobin) SaveState() (json.RawMessage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return nil, ErrRunning
	}
	s := state{Type: t.kind, Version: stateVersion, Thread: t.thread, LastSeen: map[string]int{},
		Next: t.agents[t.next].Name(), Agents: map[string]json.RawMessage{}}
	if t.prev >= 0 {
		s.Previous = t.agents[t.prev].Name()
	}
	if s.Thread == nil {
		s.Thread = []*agents.Message{}
	}
	for i, a := range t.agents {
		s.LastSeen[a.Name()] = t.lastSeen[i]
		st, err := a.SaveState()
		if err != nil {
			return nil, fmt.Errorf("team: save state of %s: %w", a.Name(), err)
		}
		s.Agents[a.Name()] = st
	}
	return json.Marshal(s)
}

// LoadState restores a state from SaveState. The team's agents must have the
// names of the saved ones.
func (t *RoundRobin) LoadState(data json.RawMessage) error {
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("team: load state: %w", err)
	}
	if s.Type != t.kind || s.Version != stateVersion {
		return fmt.Errorf("team: load state: not a %s state of version %d (type %q, version %d)", strings.ReplaceAll(t.kind, "_", "-"), stateVersion, s.Type, s.Version)
	}
	prev := -1
	if s.Previous != "" {
		if prev = t.index(s.Previous); prev < 0 {
			return fmt.Errorf("team: load state: the previous speaker %q is not in the team", s.Previous)
		}
	}
	next := -1
	lastSeen := make([]int, len(t.agents))
	for i, a := range t.agents {
		st, ok := s.Agents[a.Name()]
		if !ok {
			return fmt.Errorf("team: load state: no state for agent %q", a.Name())
		}
		if len(st) == 0 {
			return fmt.Errorf("team: load state: empty state for agent %q", a.Name())
		}
		n := s.LastSeen[a.Name()]
		if n < 0 || n > len(s.Thread) {
			return fmt.Errorf("team: load state: agent %q has an invalid position %d", a.Name(), n)
		}
		lastSeen[i] = n
		if a.Name() == s.Next {
			next = i
		}
	}
	if next < 0 {
		return fmt.Errorf("team: load state: the next speaker %q is not in the team", s.Next)
	}
	for _, m := range s.Thread {
		if m == nil {
			return errors.New("team: load state: null message in the conversation")
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return ErrRunning
	}
	for _, a := range t.agents {
		if err := a.LoadState(s.Agents[a.Name()]); err != nil {
			return fmt.Errorf("team: load state: %w", err)
		}
	}
	t.thread, t.lastSeen, t.next, t.prev = s.Thread, lastSeen, next, prev
	return nil
}
