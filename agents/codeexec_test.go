package agents_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
)

// echoExec prints the code back; code containing "raise" raises.
func echoExec() *agenttest.Executor {
	return &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		if strings.Contains(req.Code, "raise") {
			return agenttest.Raise(req, "ValueError", "boom"), nil
		}
		return agenttest.Stdout(req, "ran: "+req.Code+"\n"), nil
	}}
}

func newExec(t *testing.T, cfg agents.CodeExecutorConfig) *agents.CodeExecutor {
	t.Helper()
	c, err := agents.NewCodeExecutor(cfg)
	require.NoError(t, err)
	return c
}

func kinds(msgs []*agents.Message) []agents.Kind {
	var ks []agents.Kind
	for _, m := range msgs {
		ks = append(ks, m.Kind)
	}
	return ks
}

func TestCodeExecutorNoCode(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	out := drain(t, c, agents.NewText("coder", "no code here"))
	require.Len(t, out, 1)
	assert.Equal(t, agents.NoCodeBlocksText, out[0].Content)
	assert.Equal(t, "executor", out[0].Source)

	out = drain(t, c, agents.NewText("coder", "```python\nprint(1)\n"))
	assert.Equal(t, agents.UnterminatedText, out[len(out)-1].Content)

	out = drain(t, c, agents.NewText("user", "```python\nprint(1)\n```"))
	assert.Equal(t, agents.NoCodeBlocksText, out[len(out)-1].Content, "the task is not code to run")
	assert.Empty(t, ex.Requests())
}

func TestCodeExecutorSourcesAndLatestMessage(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, Sources: []string{"coder"}})
	out := drain(t, c,
		agents.NewText("coder", "```python\nold\n```"),
		agents.NewText("coder", "```python\nnew\n```"),
		agents.NewText("planner", "```python\nnot mine\n```"))
	assert.Equal(t, "ran: new", out[len(out)-1].Content)
	require.Len(t, ex.Requests(), 1)
}

func TestCodeExecutorThreeBlocksStreamsEvents(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, Timeout: 7 * time.Second})
	out := drain(t, c, agents.NewText("coder", "```python\na\n```\n```py\nb\n```\n```bash\nc\n```"))
	assert.Equal(t, []agents.Kind{agents.KindCodeGeneration, agents.KindOutput, agents.KindOutput, agents.KindOutput,
		agents.KindCodeExecution, agents.KindText}, kinds(out))
	assert.Len(t, out[0].Blocks, 3)
	assert.Equal(t, "ran: b\n", out[2].Output.Text)
	require.Len(t, out[4].Executions, 3)
	assert.True(t, out[4].Executions[2].Result.OK())
	assert.Equal(t, "ran: a\nran: b\nran: c", out[5].Content)
	reqs := ex.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []string{"python", "python", "shell"}, []string{reqs[0].Language, reqs[1].Language, reqs[2].Language})
	assert.Equal(t, 7*time.Second, reqs[0].Timeout)
}

func TestCodeExecutorStopsAtFirstFailure(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	out := drain(t, c, agents.NewText("coder", "```python\na\n```\n```python\nraise\n```\n```python\nc\n```"))
	assert.Len(t, ex.Requests(), 2)
	resp := out[len(out)-1]
	assert.Equal(t, "The code ran, then raised an error in code block 2 of 3; the blocks after it were not run.\n"+
		"Its output was:\nran: a\nTraceback (most recent call last):\nValueError: boom", resp.Content)
}

func TestCodeExecutorUnsupportedLanguage(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	out := drain(t, c, agents.NewText("coder", "```python\na\n```\n```rust\nfn main() {}\n```"))
	resp := out[len(out)-1]
	assert.Contains(t, resp.Content, "Unsupported language in code block 2 of 2")
	assert.Contains(t, resp.Content, `"rust"`)
	assert.Contains(t, resp.Content, "ran: a")
	assert.Len(t, ex.Requests(), 1)
}

func TestCodeExecutorApproval(t *testing.T) {
	ex := echoExec()
	var seen []agents.CodeBlock
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, Approve: func(_ context.Context, b []agents.CodeBlock) (bool, string) {
		seen = b
		return false, "deleting files is not allowed"
	}})
	out := drain(t, c, agents.NewText("coder", "```sh\nrm -rf data\n```"))
	assert.Equal(t, "Code execution was not approved: deleting files is not allowed", out[len(out)-1].Content)
	assert.Equal(t, []agents.CodeBlock{{Language: "sh", Code: "rm -rf data"}}, seen)
	assert.Empty(t, ex.Requests())
}

func TestCodeExecutorTimeoutAndKernelDeath(t *testing.T) {
	mode := "timeout"
	ex := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		switch mode {
		case "timeout":
			return &executor.Result{Status: executor.StatusTimeout, Interrupted: true}, fmt.Errorf("after 1s: %w", executor.ErrTimeout)
		case "timeout-lost":
			return &executor.Result{Status: executor.StatusTimeout, Interrupted: true, Restarted: true, StateLost: true}, executor.ErrTimeout
		case "died":
			return nil, executor.ErrKernelDied
		}
		return agenttest.Stdout(req, "fine\n"), nil
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, Timeout: time.Second, LoopLimit: -1})
	code := agents.NewText("coder", "```python\nwhile True: pass\n```")

	resp := drain(t, c, code)
	assert.Contains(t, resp[len(resp)-1].Content, "The code timed out (limit 1s) and was interrupted. The kernel state was kept")

	mode = "timeout-lost"
	resp = drain(t, c, code)
	assert.Contains(t, resp[len(resp)-1].Content, "the kernel had to be restarted. "+agents.StateLostText)

	mode = "died"
	resp = drain(t, c, code)
	last := resp[len(resp)-1].Content
	assert.True(t, strings.HasPrefix(last, "The kernel died while running the code"), last)
	assert.Contains(t, last, "all variables, imports and loaded data from earlier steps are gone")

	mode = "ok"
	resp = drain(t, c, agents.NewText("coder", "```python\nprint('fine')\n```"))
	assert.Equal(t, "fine", resp[len(resp)-1].Content)
}

// A cell whose output was lost on the way ran once: the model hears that
// the output is missing (not that there was none). A cell the kernel never
// got did not run: the model hears that, the blocks after it are not run,
// and the turn goes on.
func TestCodeExecutorOutputLostAndNotRun(t *testing.T) {
	mode := "lost"
	ex := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		switch mode {
		case "lost":
			return &executor.Result{Status: executor.StatusOK, Truncated: true, StateLost: true}, fmt.Errorf("kernel k: %w", executor.ErrOutputLost)
		case "notrun":
			return &executor.Result{Status: executor.StatusNotRun}, fmt.Errorf("kernel k: %w", executor.ErrNotDelivered)
		}
		return agenttest.Stdout(req, "fine\n"), nil
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, LoopLimit: -1})
	resp := drain(t, c, agents.NewText("coder", "```python\nprint(1)\n```"))
	last := resp[len(resp)-1]
	assert.Equal(t, agents.KindText, last.Kind)
	assert.Equal(t, "Note: "+agents.StateLostText+"\n\nNote: "+agents.OutputLostText+"\n\n[output truncated]", last.Content)

	mode = "notrun"
	resp = drain(t, c, agents.NewText("coder", "```python\na\n```\n```python\nb\n```"))
	last = resp[len(resp)-1]
	assert.Equal(t, agents.KindText, last.Kind)
	assert.Equal(t, "The code was not run in code block 1 of 2; the blocks after it were not run: "+agents.NotRunText, last.Content)
	assert.Len(t, ex.Requests(), 2, "block b was not sent")

	mode = "ok"
	resp = drain(t, c, agents.NewText("coder", "```python\nprint('fine')\n```"))
	assert.Equal(t, "fine", resp[len(resp)-1].Content, "the notes are given once")
}

func TestCodeExecutorStateLostBeforeCode(t *testing.T) {
	ex := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		r := agenttest.Stdout(req, "1\n")
		r.StateLost = true
		return r, nil
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	resp := drain(t, c, agents.NewText("coder", "```python\nprint(1)\n```"))
	assert.Equal(t, "Note: "+agents.StateLostText+"\n\n1", resp[len(resp)-1].Content)
}

func TestCodeExecutorTransportErrorIsGoError(t *testing.T) {
	ex := &agenttest.Executor{Fn: func(context.Context, executor.Request) (*executor.Result, error) {
		return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	_, err := agents.Respond(context.Background(), c, []*agents.Message{agents.NewText("coder", "```python\n1\n```")}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "executor: execute: dial tcp")
}

func TestCodeExecutorLoopDetection(t *testing.T) {
	ex := echoExec()
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	variants := []string{
		"```python\nx = 1\nraise\n```",
		"Try again:\n```python\n# fixed?\nx  =  1\n\nraise   \n```",
		"```python\nx = 1\nraise\n```",
	}
	for i, v := range variants {
		out := drain(t, c, agents.NewText("coder", v))
		resp := out[len(out)-1]
		if i < 2 {
			assert.Equal(t, agents.KindText, resp.Kind)
			continue
		}
		assert.Equal(t, agents.KindStop, resp.Kind)
		assert.Equal(t, "Loop detected: the same failing code was sent 3 times", resp.Content)
		assert.Contains(t, resp.Metadata["output"], "ValueError: boom")
	}

	// Saved and loaded counts carry over; Reset forgets them.
	state, err := c.SaveState()
	require.NoError(t, err)
	d := newExec(t, agents.CodeExecutorConfig{Executor: ex, LoopLimit: 4})
	require.NoError(t, d.LoadState(state))
	out := drain(t, d, agents.NewText("coder", variants[0]))
	assert.Equal(t, agents.KindStop, out[len(out)-1].Kind)
	require.NoError(t, d.Reset(context.Background()))
	out = drain(t, d, agents.NewText("coder", variants[0]))
	assert.Equal(t, agents.KindText, out[len(out)-1].Kind)

	off := newExec(t, agents.CodeExecutorConfig{Executor: ex, LoopLimit: -1})
	for range 4 {
		out = drain(t, off, agents.NewText("coder", variants[0]))
		assert.Equal(t, agents.KindText, out[len(out)-1].Kind)
	}
}

func TestCodeExecutorLoadStateWarnsThatKernelStateIsGone(t *testing.T) {
	c := newExec(t, agents.CodeExecutorConfig{Executor: echoExec()})
	require.NoError(t, c.LoadState([]byte(`{"type":"code_executor"}`)))
	out := drain(t, c, agents.NewText("coder", "```python\nx\n```"))
	assert.True(t, strings.HasPrefix(out[len(out)-1].Content, "Note: "+agents.StateLostText), out[len(out)-1].Content)
	out = drain(t, c, agents.NewText("coder", "```python\nx\n```"))
	assert.Equal(t, "ran: x", out[len(out)-1].Content, "said once")
	assert.Error(t, c.LoadState([]byte(`{"type":"assistant"}`)))
}

func TestCodeExecutorSelfDebugging(t *testing.T) {
	ex := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		if strings.Contains(req.Code, "1/0") {
			return agenttest.Raise(req, "ZeroDivisionError", "division by zero"), nil
		}
		return agenttest.Stdout(req, "0.5\n"), nil
	}}
	model := &agenttest.Model{Replies: []string{"```python\nprint(1/2)\n```"}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex, Debugger: model, MaxRetries: 2})
	out := drain(t, c, agents.NewText("coder", "```python\nprint(1/0)\n```"))
	resp := out[len(out)-1]
	assert.Contains(t, resp.Content, "The code ran, then raised an error.\nIts output was:\n")
	assert.Contains(t, resp.Content, "ZeroDivisionError: division by zero")
	assert.Contains(t, resp.Content, "A corrected version (attempt 1) then ran successfully")
	assert.Contains(t, resp.Content, "```python\nprint(1/2)\n```\nIts output was:\n0.5")
	require.NotNil(t, resp.Usage, "the fix's model usage is on the reply")
	assert.Positive(t, resp.Usage.CompletionTokens)

	var retryGen, exec *agents.Message
	for _, m := range out {
		if m.Kind == agents.KindCodeGeneration && m.Metadata["retry"] == "1" {
			retryGen = m
		}
		if m.Kind == agents.KindCodeExecution {
			exec = m
		}
	}
	require.NotNil(t, retryGen)
	assert.Equal(t, "print(1/2)", retryGen.Blocks[0].Code)
	require.NotNil(t, exec)
	require.Len(t, exec.Executions, 2)
	assert.True(t, exec.Executions[1].Result.OK())

	reqs := model.Requests()
	require.Len(t, reqs, 1)
	assert.Contains(t, reqs[0].Messages[1].Content, "print(1/0)")
	assert.Contains(t, reqs[0].Messages[1].Content, "ZeroDivisionError")

	// Fixes that keep failing: MaxRetries attempts, then the failure is
	// reported.
	model = &agenttest.Model{Repeat: "```python\nprint(1/0)\n```"}
	c = newExec(t, agents.CodeExecutorConfig{Executor: ex, Debugger: model, MaxRetries: 2})
	out = drain(t, c, agents.NewText("coder", "```python\nprint(1/0)\n```"))
	assert.Contains(t, out[len(out)-1].Content, "2 corrected versions were tried and failed too")
	assert.Len(t, model.Requests(), 2)
}

func TestCodeExecutorCancellationInterrupts(t *testing.T) {
	started := make(chan struct{})
	ex := &agenttest.Executor{Fn: func(ctx context.Context, req executor.Request) (*executor.Result, error) {
		close(started)
		<-ctx.Done()
		return &executor.Result{Status: executor.StatusCancelled, Interrupted: true}, ctx.Err()
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	begin := time.Now()
	_, err := agents.Respond(ctx, c, []*agents.Message{agents.NewText("coder", "```python\nimport time; time.sleep(100)\n```")}, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(begin), 5*time.Second)
}

func TestCodeExecutorBreakStopsExecution(t *testing.T) {
	stopped := make(chan struct{})
	ex := &agenttest.Executor{Stream: func(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
		return func(yield func(executor.Event, error) bool) {
			defer close(stopped)
			if !yield(executor.Event{Output: &executor.Output{Type: executor.OutputStream, Name: "stdout", Text: "tick\n"}}, nil) {
				return // the consumer stopped: the execution ends here
			}
			<-ctx.Done()
			yield(executor.Event{}, ctx.Err())
		}
	}}
	c := newExec(t, agents.CodeExecutorConfig{Executor: ex})
	for m, err := range c.Run(context.Background(), []*agents.Message{agents.NewText("coder", "```python\nloop()\n```")}) {
		require.NoError(t, err)
		if m.Kind == agents.KindOutput {
			break
		}
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("execution was not cancelled when the consumer stopped")
	}
}
