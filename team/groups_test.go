package team_test

import (
	"context"
	"encoding/json"
	"iter"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/team"
	"github.com/agentteam/agentteam/telemetry"
)

// echo repeats the last chat message it was given; with stopAt > 0 it says
// TERMINATE on that turn. With handoffTo it hands off instead.
type echo struct {
	name, desc string
	stopAt     int
	handoffTo  string
	count      int
	block      chan struct{}
}

func (e *echo) Name() string        { return e.name }
func (e *echo) Description() string { return e.desc }
func (e *echo) Run(ctx context.Context, msgs []*agents.Message) iter.Seq2[*agents.Message, error] {
	return func(yield func(*agents.Message, error) bool) {
		e.count++
		if e.block != nil {
			select {
			case <-e.block:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
		if e.handoffTo != "" {
			yield(&agents.Message{Kind: agents.KindHandoff, Source: e.name, Target: e.handoffTo, Content: "Transferred to " + e.handoffTo + "."}, nil)
			return
		}
		if e.stopAt > 0 && e.count >= e.stopAt {
			yield(agents.NewText(e.name, "TERMINATE"), nil)
			return
		}
		text := ""
		for _, m := range msgs {
			if !m.Kind.IsEvent() {
				text = m.Content
			}
		}
		yield(agents.NewText(e.name, text), nil)
	}
}
func (e *echo) Reset(context.Context) error { e.count = 0; return nil }
func (e *echo) SaveState() (json.RawMessage, error) {
	return json.Marshal(map[string]int{"count": e.count})
}
func (e *echo) LoadState(s json.RawMessage) error {
	var v map[string]int
	if err := json.Unmarshal(s, &v); err != nil {
		return err
	}
	e.count = v["count"]
	return nil
}

func sources(r *agents.TaskResult) []string {
	var out []string
	for _, m := range r.Chat() {
		out = append(out, m.Source)
	}
	return out
}

func echoes(names ...string) []agents.Agent {
	var out []agents.Agent
	for _, n := range names {
		out = append(out, &echo{name: n, desc: "echo " + n})
	}
	return out
}

// AutoGen: test_selector_group_chat_two_speakers.
func TestSelectorTwoSpeakers(t *testing.T) {
	model := llm.NewReplay("agent2")
	a1 := &echo{name: "agent1", desc: "echo agent 1", stopAt: 2}
	a2 := &echo{name: "agent2", desc: "echo agent 2"}
	sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: []agents.Agent{a1, a2},
		Termination: team.TextMention("TERMINATE")}, Client: model})
	require.NoError(t, err)
	res, err := sel.Run(context.Background(), "Write a program that prints 'Hello, world!'")
	require.NoError(t, err)
	assert.Equal(t, []string{"user", "agent2", "agent1", "agent2", "agent1"}, sources(res))
	assert.Equal(t, "Text 'TERMINATE' mentioned", res.StopReason)
	assert.Len(t, model.Requests(), 1, "with repeats barred, two agents alternate without asking")
	prompt := model.Requests()[0].Messages[0].Content
	assert.Contains(t, prompt, "agent1: echo agent 1")
	assert.Contains(t, prompt, "user: Write a program")
	var selects int
	for _, m := range res.Messages {
		if m.Kind == agents.KindSelectSpeaker {
			selects++
		}
	}
	assert.Equal(t, 4, selects, "each choice is an event")
	assert.Positive(t, res.Usage.Total(), "the selector's usage counts")
}

// AutoGen: test_selector_group_chat_two_speakers_allow_repeated.
func TestSelectorAllowRepeat(t *testing.T) {
	model := llm.NewReplay("agent2", "agent2", "agent1")
	a1 := &echo{name: "agent1", stopAt: 1}
	a2 := &echo{name: "agent2"}
	sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: []agents.Agent{a1, a2},
		Termination: team.TextMention("TERMINATE")}, Client: model, AllowRepeat: true})
	require.NoError(t, err)
	res, err := sel.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, []string{"user", "agent2", "agent2", "agent1"}, sources(res))
}

// AutoGen: success after 2 attempts, fall back to the first candidate, and
// to the previous speaker after 3.
func TestSelectorRetriesAndFallbacks(t *testing.T) {
	three := func() []agents.Agent { return echoes("agent1", "agent2", "agent3") }
	run := func(t *testing.T, maxTurns int, replies ...string) (*agents.TaskResult, *llm.Replay) {
		model := llm.NewReplay(replies...)
		sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: three(), MaxTurns: maxTurns}, Client: model})
		require.NoError(t, err)
		res, err := sel.Run(context.Background(), "task")
		require.NoError(t, err)
		return res, model
	}
	t.Run("second attempt", func(t *testing.T) {
		res, model := run(t, 1, "agent2, agent3", "agent2")
		assert.Equal(t, []string{"user", "agent2"}, sources(res))
		reqs := model.Requests()
		require.Len(t, reqs, 2)
		assert.Contains(t, reqs[1].Messages[len(reqs[1].Messages)-1].Content, "Several names")
	})
	t.Run("first candidate", func(t *testing.T) {
		res, _ := run(t, 1, "agent2, agent3", "agent5", "agent3, agent1")
		assert.Equal(t, []string{"user", "agent1"}, sources(res))
	})
	t.Run("previous speaker", func(t *testing.T) {
		res, _ := run(t, 2, "agent2", "agent2", "agent2", "agent2")
		assert.Equal(t, []string{"user", "agent2", "agent2"}, sources(res))
	})
}

// AutoGen: test_selector_group_chat_custom_selector and custom_candidate_func.
func TestSelectorFunctions(t *testing.T) {
	next := map[string]string{"": "agent1", "user": "agent1", "agent1": "agent2", "agent3": "agent4", "agent4": "agent1"}
	last := func(thread []*agents.Message) string {
		if len(thread) == 0 {
			return ""
		}
		return thread[len(thread)-1].Source
	}
	t.Run("selector func", func(t *testing.T) {
		model := llm.NewReplay("agent3")
		sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("agent1", "agent2", "agent3", "agent4"),
			Termination: team.MaxMessages(6)}, Client: model,
			SelectorFunc: func(thread []*agents.Message) string { return next[last(thread)] }})
		require.NoError(t, err)
		res, err := sel.Run(context.Background(), "task")
		require.NoError(t, err)
		assert.Equal(t, []string{"user", "agent1", "agent2", "agent3", "agent4", "agent1"}, sources(res))
		assert.Equal(t, "Maximum number of messages 6 reached, current message count: 6", res.StopReason)
		assert.Len(t, model.Requests(), 1, "the model chose once, when the function did not")
	})
	t.Run("candidate func", func(t *testing.T) {
		model := llm.NewReplay("agent3")
		cands := map[string][]string{"user": {"agent1"}, "agent1": {"agent2"}, "agent2": {"agent2", "agent3"}, "agent3": {"agent4"}, "agent4": {"agent1"}}
		sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("agent1", "agent2", "agent3", "agent4"),
			Termination: team.MaxMessages(6)}, Client: model,
			CandidateFunc: func(thread []*agents.Message) []string { return cands[last(thread)] }})
		require.NoError(t, err)
		res, err := sel.Run(context.Background(), "task")
		require.NoError(t, err)
		assert.Equal(t, []string{"user", "agent1", "agent2", "agent3", "agent4", "agent1"}, sources(res))
	})
	t.Run("unknown name", func(t *testing.T) {
		sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("agent1", "agent2")},
			SelectorFunc: func([]*agents.Message) string { return "ghost" }})
		require.NoError(t, err)
		_, err = sel.Run(context.Background(), "task")
		assert.ErrorIs(t, err, team.ErrUnknownSpeaker)
	})
	_, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("a")}})
	assert.ErrorContains(t, err, "needs a Client")
}

// AutoGen: test_selector_group_chat_state: save, load into a new team,
// continue with the same speakers.
func TestSelectorSaveLoadState(t *testing.T) {
	sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("agent1", "agent2"), MaxTurns: 1},
		Client: llm.NewReplay("agent2")})
	require.NoError(t, err)
	_, err = sel.Run(context.Background(), "task")
	require.NoError(t, err)
	st, err := sel.SaveState()
	require.NoError(t, err)
	assert.Contains(t, string(st), `"type":"selector"`)
	assert.Contains(t, string(st), `"previous":"agent2"`)

	sel2, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: echoes("agent1", "agent2"), MaxTurns: 1},
		Client: llm.NewReplay("agent1")})
	require.NoError(t, err)
	require.NoError(t, sel2.LoadState(st))
	res, err := sel2.Run(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"agent1"}, sources(res), "agent2 spoke last, so agent1 follows without a model call")

	rr, err := team.New(team.Config{Agents: echoes("agent1", "agent2")})
	require.NoError(t, err)
	assert.ErrorContains(t, rr.LoadState(st), "not a round-robin state")
}

// AutoGen: test_swarm_handoff.
func TestSwarmHandoff(t *testing.T) {
	first := &echo{name: "first_agent", handoffTo: "second_agent"}
	second := &echo{name: "second_agent", handoffTo: "third_agent"}
	third := &echo{name: "third_agent", handoffTo: "first_agent"}
	sw, err := team.NewSwarm(team.Config{Agents: []agents.Agent{second, first, third}, Termination: team.MaxMessages(6)})
	require.NoError(t, err)
	res, err := sw.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, []string{"user", "second_agent", "third_agent", "first_agent", "second_agent", "third_agent"}, sources(res))
	assert.Equal(t, "Transferred to third_agent.", res.Messages[1].Content)
	assert.Equal(t, "Maximum number of messages 6 reached, current message count: 6", res.StopReason)

	// Save, load into a new team, and continue where it stopped.
	st, err := sw.SaveState()
	require.NoError(t, err)
	sw2, err := team.NewSwarm(team.Config{Agents: []agents.Agent{
		&echo{name: "second_agent", handoffTo: "third_agent"}, &echo{name: "first_agent", handoffTo: "second_agent"},
		&echo{name: "third_agent", handoffTo: "first_agent"}}, MaxTurns: 1})
	require.NoError(t, err)
	require.NoError(t, sw2.LoadState(st))
	res, err = sw2.Run(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, []string{"first_agent"}, sources(res), "third_agent handed off to first_agent")
}

// AutoGen: test_swarm_with_handoff_termination: a handoff to the user stops
// the run; the answer continues it with the agent that asked.
func TestSwarmHandoffToUser(t *testing.T) {
	model := llm.NewReplayResponses(
		llm.ToolCallReply("transfer_to_user", map[string]string{}),
		llm.Response{Content: "Thanks, that is all I needed."},
	)
	asker, err := agents.NewAssistant(agents.AssistantConfig{Name: "asker", Client: model,
		Handoffs: []agents.Handoff{{Target: agents.SourceUser}, {Target: "other"}}})
	require.NoError(t, err)
	other := &echo{name: "other"}
	sw, err := team.NewSwarm(team.Config{Agents: []agents.Agent{asker, other},
		Termination: team.Or(team.HandoffTermination(agents.SourceUser), team.TextMention("that is all"))})
	require.NoError(t, err)
	res, err := sw.Run(context.Background(), "help me")
	require.NoError(t, err)
	assert.Equal(t, "Handoff to user from asker detected.", res.StopReason)
	chat := res.Chat()
	assert.Equal(t, agents.KindHandoff, chat[len(chat)-1].Kind)

	res, err = sw.Run(context.Background(), "here is the answer")
	require.NoError(t, err)
	assert.Equal(t, []string{"user", "asker"}, sources(res))
	assert.Equal(t, "Thanks, that is all I needed.", res.Chat()[1].Content)
	assert.Equal(t, 0, other.count, "the agent that asked got the answer")
}

func TestSwarmHandoffToStrangerFails(t *testing.T) {
	sw, err := team.NewSwarm(team.Config{Agents: []agents.Agent{&echo{name: "a", handoffTo: "ghost"}}})
	require.NoError(t, err)
	_, err = sw.Run(context.Background(), "task")
	assert.ErrorContains(t, err, `handed off to "ghost", who is not in the team`)
}

// Cancelling ctx stops a Selector and a Swarm mid-turn, like RoundRobin.
func TestSelectorAndSwarmCancellation(t *testing.T) {
	for _, kind := range []string{"selector", "swarm"} {
		t.Run(kind, func(t *testing.T) {
			block := make(chan struct{})
			as := []agents.Agent{&echo{name: "a", block: block}, &echo{name: "b", block: block}}
			var run func(context.Context, string) (*agents.TaskResult, error)
			if kind == "selector" {
				sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: as}, Client: llm.NewReplay("a")})
				require.NoError(t, err)
				run = sel.Run
			} else {
				sw, err := team.NewSwarm(team.Config{Agents: as})
				require.NoError(t, err)
				run = sw.Run
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := run(ctx, "task")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

// Turns are invoke_agent spans; the model calls inside are chat spans.
func TestTeamTracesTurns(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := telemetry.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), telemetry.Options{})
	model := llm.NewReplay("hello")
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "greeter", Description: "greets", Client: model, Tracer: tr})
	require.NoError(t, err)
	rr, err := team.New(team.Config{Agents: []agents.Agent{a}, MaxTurns: 1, Tracer: tr})
	require.NoError(t, err)
	_, err = rr.Run(context.Background(), "hi")
	require.NoError(t, err)
	spans := rec.Ended()
	require.Len(t, spans, 2)
	chat, turn := spans[0], spans[1]
	assert.Equal(t, "invoke_agent greeter", turn.Name())
	assert.Equal(t, "chat replay", chat.Name())
	assert.Equal(t, turn.SpanContext().SpanID(), chat.Parent().SpanID())
	ca := map[string]string{}
	for _, kv := range chat.Attributes() {
		ca[string(kv.Key)] = kv.Value.Emit()
	}
	assert.Equal(t, "chat", ca["gen_ai.operation.name"])
	assert.Equal(t, "replay", ca["gen_ai.request.model"])
	assert.Equal(t, "greeter", ca["gen_ai.agent.name"])
	assert.Equal(t, "1", ca["gen_ai.usage.output_tokens"])
	assert.Equal(t, strconv.Itoa(1), ca["gen_ai.usage.input_tokens"])
	assert.NotContains(t, ca, "gen_ai.input.messages")
}

// MaxHistoryTokens bounds the history in the selector's prompt: with a long
// task and a few turns, the oldest messages make way for the newest.
func TestSelectorHistoryWithinTokens(t *testing.T) {
	model := llm.NewReplay("agent1", "agent2", "agent3", "agent1")
	a3 := &echo{name: "agent3", desc: "echo agent 3", stopAt: 2}
	sel, err := team.NewSelector(team.SelectorConfig{Config: team.Config{Agents: []agents.Agent{
		&echo{name: "agent1", desc: "echo agent 1"}, &echo{name: "agent2", desc: "echo agent 2"}, a3},
		Termination: team.MaxMessages(5)}, Client: model, MaxHistoryTokens: 120, AllowRepeat: true})
	require.NoError(t, err)
	task := "Summarise: " + strings.Repeat("lorem ipsum dolor sit amet ", 80)
	_, err = sel.Run(context.Background(), task)
	require.NoError(t, err)
	reqs := model.Requests()
	require.GreaterOrEqual(t, len(reqs), 3)
	first, last := reqs[0].Messages[0].Content, reqs[len(reqs)-1].Messages[0].Content
	assert.Contains(t, first, "user: Summarise: lorem ipsum", "the task, cut to fit")
	assert.Contains(t, first, "truncated]", "cut in the middle with a marker")
	assert.Contains(t, last, "earlier messages left out")
	assert.Contains(t, last, "agent2: ", "the newest whole")
}
