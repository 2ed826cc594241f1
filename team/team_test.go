package team_test

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/team"
)

const helloProgram = "Here is the program\n```python\nprint(\"Hello, world!\")\n```"

// printExec pretends to be a kernel for print("...") calls.
func printExec() *agenttest.Executor {
	return &agenttest.Executor{Fn: func(ctx context.Context, req executor.Request) (*executor.Result, error) {
		if strings.Contains(req.Code, "fail") {
			return agenttest.Raise(req, "NameError", "name 'fail' is not defined"), nil
		}
		s := strings.TrimSuffix(strings.TrimPrefix(req.Code, "print(\""), "\")")
		return agenttest.Stdout(req, s+"\n"), nil
	}}
}

type fixture struct {
	model *agenttest.Model
	exec  *agenttest.Executor
	team  *team.RoundRobin
}

func newTeam(t *testing.T, model llm.Client, ex executor.Executor, cfg team.Config) *team.RoundRobin {
	t.Helper()
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "coder", Client: model, SystemPrompt: "You write code."})
	require.NoError(t, err)
	c, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{Name: "executor", Executor: ex})
	require.NoError(t, err)
	cfg.Agents = []agents.Agent{a, c}
	if cfg.Termination == nil {
		cfg.Termination = team.TextMention("TERMINATE")
	}
	tm, err := team.New(cfg)
	require.NoError(t, err)
	return tm
}

func chatContents(r *agents.TaskResult) []string {
	var out []string
	for _, m := range r.Chat() {
		out = append(out, m.Source+": "+m.Content)
	}
	return out
}

func TestRoundRobinHelloWorld(t *testing.T) {
	model := &agenttest.Model{Replies: []string{helloProgram, "TERMINATE"}}
	tm := newTeam(t, model, printExec(), team.Config{})
	res, err := tm.Run(context.Background(), "Write a program that prints 'Hello, world!'")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"user: Write a program that prints 'Hello, world!'",
		"coder: " + helloProgram,
		"executor: Hello, world!",
		"coder: TERMINATE",
	}, chatContents(res))
	assert.Equal(t, "Text 'TERMINATE' mentioned", res.StopReason)
	assert.Equal(t, []agents.Kind{agents.KindText, agents.KindText, agents.KindCodeGeneration, agents.KindCodeExecution,
		agents.KindText, agents.KindText}, kindsOf(res.Messages), "chunks and outputs are not in the result")
	assert.Positive(t, res.Usage.CompletionTokens)
	assert.Equal(t, agents.TotalUsage(res.Messages), res.Usage)

	// The coder saw the executor's output on its second turn.
	reqs := model.Requests()
	require.Len(t, reqs, 2)
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	assert.Equal(t, llm.Message{Role: llm.RoleUser, Content: "Hello, world!", Name: "executor"}, last)
}

func kindsOf(msgs []*agents.Message) []agents.Kind {
	var ks []agents.Kind
	for _, m := range msgs {
		ks = append(ks, m.Kind)
	}
	return ks
}

func TestStreamOrderAndTranscriptHook(t *testing.T) {
	model := &agenttest.Model{Replies: []string{helloProgram, "TERMINATE"}}
	var hooked []*agents.Message
	tm := newTeam(t, model, printExec(), team.Config{OnMessage: func(m *agents.Message) { hooked = append(hooked, m) }})
	var streamed []*agents.Message
	for m, err := range tm.Stream(context.Background(), "task") {
		require.NoError(t, err)
		streamed = append(streamed, m)
	}
	assert.Equal(t, streamed, hooked)

	// Collapse runs of chunks to see the shape.
	var shape []string
	for _, m := range streamed {
		s := m.Source + "/" + string(m.Kind)
		if len(shape) > 0 && shape[len(shape)-1] == s && m.Kind == agents.KindChunk {
			continue
		}
		shape = append(shape, s)
	}
	assert.Equal(t, []string{
		"user/text",
		"coder/chunk", "coder/text",
		"executor/code_generation", "executor/output", "executor/code_execution", "executor/text",
		"coder/chunk", "coder/text",
		"team/stop",
	}, shape)
	last := streamed[len(streamed)-1]
	assert.Equal(t, "Text 'TERMINATE' mentioned", last.Content)
	for _, m := range streamed {
		assert.False(t, m.Time.IsZero())
	}
}

func TestResetAndRunAgain(t *testing.T) {
	model := &agenttest.Model{Replies: []string{helloProgram, "TERMINATE", helloProgram, "TERMINATE"}}
	tm := newTeam(t, model, printExec(), team.Config{})
	first, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	require.NoError(t, tm.Reset(context.Background()))
	assert.Empty(t, tm.Messages())
	second, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, chatContents(first), chatContents(second))
	assert.Equal(t, first.StopReason, second.StopReason)
	reqs := model.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, reqs[0].Messages, reqs[2].Messages, "the coder forgot the first conversation")
}

func TestContinueWithNewTask(t *testing.T) {
	model := &agenttest.Model{Replies: []string{helloProgram, "TERMINATE", "```python\nprint(\"again\")\n```", "TERMINATE"}}
	tm := newTeam(t, model, printExec(), team.Config{})
	_, err := tm.Run(context.Background(), "first")
	require.NoError(t, err)
	// The coder said TERMINATE last, so the executor speaks first now: it
	// finds no code in the task.
	res, err := tm.Run(context.Background(), "second")
	require.NoError(t, err)
	assert.Equal(t, []string{"user: second", "executor: " + agents.NoCodeBlocksText,
		"coder: ```python\nprint(\"again\")\n```", "executor: again", "coder: TERMINATE"}, chatContents(res))
	assert.Len(t, tm.Messages(), 4+5)
	// The coder's context holds both conversations.
	reqs := model.Requests()
	assert.Len(t, reqs[2].Messages, 1+4+2)
}

func TestMaxTurnsAndMaxMessages(t *testing.T) {
	model := &agenttest.Model{Repeat: "thinking, no code"}
	tm := newTeam(t, model, printExec(), team.Config{MaxTurns: 3})
	res, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, "Maximum number of turns 3 reached.", res.StopReason)
	assert.Len(t, res.Chat(), 4)

	tm = newTeam(t, model, printExec(), team.Config{Termination: team.Or(team.MaxMessages(5), team.TextMention("TERMINATE"))})
	res, err = tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, "Maximum number of messages 5 reached, current message count: 5", res.StopReason)
	assert.Len(t, res.Chat(), 5)

	tm = newTeam(t, model, printExec(), team.Config{Termination: team.TokenUsage(30)})
	res, err = tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(res.StopReason, "Token usage limit reached, total token count: "), res.StopReason)
	assert.GreaterOrEqual(t, res.Usage.Total(), 30)
}

func TestLoopDetectionStopsTeam(t *testing.T) {
	model := &agenttest.Model{Repeat: "```python\nfail()\n```"}
	tm := newTeam(t, model, printExec(), team.Config{MaxTurns: 50})
	res, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, "Loop detected: the same failing code was sent 3 times", res.StopReason)
	chat := res.Chat()
	assert.Len(t, chat, 7)
	assert.Equal(t, agents.KindStop, chat[6].Kind, "the executor's stop message is in the result")
}

func TestExternalStopFromAnotherGoroutine(t *testing.T) {
	stop := team.External()
	model := &agenttest.Model{Repeat: "thinking"}
	tm := newTeam(t, model, printExec(), team.Config{Termination: team.Or(stop, team.TextMention("TERMINATE"))})
	var res *agents.TaskResult
	var wg sync.WaitGroup
	var runErr error
	msgs := 0
	seen := make(chan struct{})
	wg.Go(func() {
		res, runErr = team.Collect(func(yield func(*agents.Message, error) bool) {
			for m, err := range tm.Stream(context.Background(), "task") {
				if m != nil && !m.Kind.IsEvent() {
					msgs++
					if msgs == 6 {
						close(seen)
					}
				}
				if !yield(m, err) {
					return
				}
			}
		})
	})
	<-seen
	stop.Stop()
	wg.Wait()
	require.NoError(t, runErr)
	assert.Equal(t, "External termination requested", res.StopReason)
}

// blockingExec runs until its ctx ends, like a cell that never finishes.
func blockingExec(started chan<- struct{}) *agenttest.Executor {
	var once sync.Once
	return &agenttest.Executor{Stream: func(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
		return func(yield func(executor.Event, error) bool) {
			if !yield(executor.Event{Output: &executor.Output{Type: executor.OutputStream, Name: "stdout", Text: "working\n"}}, nil) {
				return
			}
			once.Do(func() { close(started) })
			<-ctx.Done()
			yield(executor.Event{Result: &executor.Result{Status: executor.StatusCancelled, Interrupted: true}}, ctx.Err())
		}
	}}
}

func TestCancellationStopsPromptly(t *testing.T) {
	started := make(chan struct{})
	model := &agenttest.Model{Repeat: "```python\nwhile True: pass\n```"}
	tm := newTeam(t, model, blockingExec(started), team.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	begin := time.Now()
	res, err := tm.Run(ctx, "task")
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(begin), 5*time.Second)
	require.NotNil(t, res)
	assert.Contains(t, res.StopReason, "context canceled")
	assert.Len(t, res.Chat(), 2, "task and code; the interrupted turn gave no response")

	// The team is usable again afterwards.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = tm.Run(ctx, "")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBreakingOutOfStreamStopsRun(t *testing.T) {
	started := make(chan struct{})
	ex := blockingExec(started)
	model := &agenttest.Model{Repeat: "```python\nwhile True: pass\n```"}
	tm := newTeam(t, model, ex, team.Config{})
	for m, err := range tm.Stream(context.Background(), "task") {
		require.NoError(t, err)
		if m.Kind == agents.KindOutput {
			break
		}
	}
	// The run is over: a new one can start.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := tm.Run(ctx, "")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConcurrentRunIsRefused(t *testing.T) {
	started := make(chan struct{})
	model := &agenttest.Model{Repeat: "```python\nwhile True: pass\n```"}
	tm := newTeam(t, model, blockingExec(started), team.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := tm.Run(ctx, "task"); done <- err }()
	<-started
	_, err := tm.Run(context.Background(), "other")
	assert.ErrorIs(t, err, team.ErrRunning)
	assert.ErrorIs(t, tm.Reset(context.Background()), team.ErrRunning)
	_, err = tm.SaveState()
	assert.ErrorIs(t, err, team.ErrRunning)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestModelErrorEndsRunWithError(t *testing.T) {
	model := &agenttest.Model{Replies: []string{helloProgram}}
	tm := newTeam(t, model, printExec(), team.Config{})
	res, err := tm.Run(context.Background(), "task")
	require.ErrorIs(t, err, agenttest.ErrScriptEnded)
	assert.Contains(t, err.Error(), "team: coder: coder: model:")
	assert.Len(t, res.Chat(), 3)

	_, err = tm.Run(context.Background(), "")
	assert.ErrorIs(t, err, agenttest.ErrScriptEnded, "a resumed run retries the same agent")
	reqs := model.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, reqs[1].Messages, reqs[2].Messages, "no message delivered twice")
}

func TestNoTask(t *testing.T) {
	tm := newTeam(t, &agenttest.Model{}, printExec(), team.Config{})
	_, err := tm.Run(context.Background(), "")
	assert.ErrorIs(t, err, team.ErrNoTask)
}

func TestNewValidates(t *testing.T) {
	_, err := team.New(team.Config{})
	assert.Error(t, err)
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "x", Client: &agenttest.Model{}})
	require.NoError(t, err)
	_, err = team.New(team.Config{Agents: []agents.Agent{a, a}})
	assert.ErrorContains(t, err, `two agents are named "x"`)
}

func TestTaskMessagesCarryDataSummary(t *testing.T) {
	model := &agenttest.Model{Replies: []string{"1. Load\n2. Sum"}}
	p, err := agents.NewPlanner(agents.AssistantConfig{Client: model})
	require.NoError(t, err)
	tm, err := team.New(team.Config{Agents: []agents.Agent{p}, Termination: team.SourceMatch("planner")})
	require.NoError(t, err)
	res, err := tm.RunMessages(context.Background(),
		agents.NewText(agents.SourceUser, "Sum the sales"),
		agents.NewText("data", "sales.csv: 3 columns (date, region, amount), 120 rows"))
	require.NoError(t, err)
	assert.Equal(t, "'planner' answered", res.StopReason)
	msgs := model.Requests()[0].Messages
	require.Len(t, msgs, 3)
	assert.Equal(t, "data", msgs[2].Name)
	assert.Contains(t, msgs[2].Content, "120 rows")
}

func TestSaveLoadStateResumes(t *testing.T) {
	script := []string{helloProgram, "TERMINATE"}
	// A run cut after the coder's first turn...
	model := &agenttest.Model{Replies: script}
	tm := newTeam(t, model, printExec(), team.Config{MaxTurns: 1})
	res, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	assert.Equal(t, "Maximum number of turns 1 reached.", res.StopReason)
	state, err := tm.SaveState()
	require.NoError(t, err)
	require.True(t, json.Valid(state))

	// ...resumes in a new team (as after a process restart) from the
	// executor's turn.
	model2 := &agenttest.Model{Replies: script[1:]}
	tm2 := newTeam(t, model2, printExec(), team.Config{})
	require.NoError(t, tm2.LoadState(state))
	assert.Len(t, tm2.Messages(), 2)
	res, err = tm2.Run(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, "Text 'TERMINATE' mentioned", res.StopReason)
	chat := chatContents(res)
	require.Len(t, chat, 2)
	assert.True(t, strings.HasSuffix(chat[0], "Hello, world!"), chat[0])
	assert.Contains(t, chat[0], "kernel was restarted", "the coder is told that earlier variables are gone")
	assert.Equal(t, "coder: TERMINATE", chat[1])
	// The coder's restored context holds the whole conversation.
	reqs := model2.Requests()
	require.Len(t, reqs, 1)
	assert.Len(t, reqs[0].Messages, 1+3)

	saved2, err := tm2.SaveState()
	require.NoError(t, err)
	var decoded map[string]any
	require.NoError(t, json.Unmarshal(saved2, &decoded))
	assert.Equal(t, "round_robin", decoded["type"])

	// Bad states are refused with a reason.
	assert.ErrorContains(t, tm2.LoadState([]byte(`{"type":"round_robin","version":1,"next":"nobody","agents":{"coder":{},"executor":{}}}`)), "next speaker")
	assert.ErrorContains(t, tm2.LoadState([]byte(`{"type":"other"}`)), "not a round-robin state")
	assert.Error(t, tm2.LoadState([]byte(`{`)))
}
