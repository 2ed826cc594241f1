package agents_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// The code executor agent against a real kernel on a real jupyter-server.
func TestCodeExecutorWithRealKernel(t *testing.T) {
	srv := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)
	newKernel := func(t *testing.T) *jupyter.Kernel {
		k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client, Timeout: 30 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { k.Close(context.Background()) })
		return k
	}
	reply := func(t *testing.T, c agents.Agent, text string) (*agents.Message, []*agents.Message) {
		out := drain(t, c, agents.NewText("coder", text))
		return out[len(out)-1], out
	}

	t.Run("sqrt", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, events := reply(t, c, "```python\nimport math\nprint(math.sqrt(42))\n```")
		assert.Equal(t, agents.KindText, msg.Kind)
		assert.Equal(t, "6.48074069840786", msg.Content)
		var exec *agents.Message
		for _, e := range events {
			if e.Kind == agents.KindCodeExecution {
				exec = e
			}
		}
		require.NotNil(t, exec)
		require.Len(t, exec.Executions, 1)
		assert.Equal(t, executor.StatusOK, exec.Executions[0].Result.Status)
	})

	t.Run("math domain error", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, _ := reply(t, c, "```python\nimport math\nprint(math.sqrt(-1))\n```")
		assert.Contains(t, msg.Content, "ValueError: math domain error")
		assert.NotContains(t, msg.Content, "\x1b[", "no ANSI codes for the model")
	})

	t.Run("no output", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, _ := reply(t, c, "```python\nx = 1\n```")
		assert.Equal(t, agents.NoOutputText, msg.Content)
	})

	t.Run("no code block", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, _ := reply(t, c, "Nothing to run here.")
		assert.Equal(t, agents.NoCodeBlocksText, msg.Content)
	})

	t.Run("three blocks share state", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, _ := reply(t, c, "```python\na = 3\nprint(a)\n```\nthen\n```python\nb = a * 2\nprint(b)\n```\nand\n```sh\necho shell ok\n```")
		assert.Contains(t, msg.Content, "3")
		assert.Contains(t, msg.Content, "6")
		assert.Contains(t, msg.Content, "shell ok")
	})

	t.Run("stops at first failing block", func(t *testing.T) {
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t)})
		msg, _ := reply(t, c, "```python\nprint('one')\n```\n```python\nundefined_thing\n```\n```python\nprint('three')\n```")
		assert.Contains(t, msg.Content, "one")
		assert.Contains(t, msg.Content, "NameError: name 'undefined_thing' is not defined")
		assert.NotContains(t, msg.Content, "three")
	})

	t.Run("self-debugging", func(t *testing.T) {
		fixer := &agenttest.Model{Replies: []string{"The variable was misspelled.\n```python\nvalue = 21\nprint(value * 2)\n```"}}
		c := newExec(t, agents.CodeExecutorConfig{Executor: newKernel(t), Debugger: fixer, MaxRetries: 2})
		msg, _ := reply(t, c, "```python\nvalue = 21\nprint(valeu * 2)\n```")
		assert.Contains(t, msg.Content, "42")
		reqs := fixer.Requests()
		require.Len(t, reqs, 1)
		last := reqs[0].Messages[len(reqs[0].Messages)-1].Content
		assert.Contains(t, last, "NameError", "the model saw the error")
	})

	t.Run("kernel killed mid-cell tells the coder state is gone", func(t *testing.T) {
		k := newKernel(t)
		c := newExec(t, agents.CodeExecutorConfig{Executor: k})
		reply(t, c, "```python\nkept = 1\nprint(kept)\n```")
		done := make(chan *agents.Message, 1)
		go func() {
			var last *agents.Message
			for m, err := range c.Run(ctx, []*agents.Message{agents.NewText("coder", "```python\nimport os, time\nopen('pid','w').write(str(os.getpid()))\ntime.sleep(60)\n```")}) {
				if err == nil {
					last = m
				}
			}
			done <- last
		}()
		require.Eventually(t, func() bool { return len(srv.KernelPids()) > 0 }, 10*time.Second, 20*time.Millisecond)
		time.Sleep(500 * time.Millisecond)
		for _, pid := range srv.KernelPids() {
			_ = killPid(pid)
		}
		var msg *agents.Message
		select {
		case msg = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("no reply after the kernel was killed")
		}
		require.NotNil(t, msg)
		assert.Contains(t, msg.Content, "died")
		msg, _ = reply(t, c, "```python\nprint('fresh')\n```")
		assert.Contains(t, msg.Content, "fresh")
		assert.Contains(t, msg.Content, agents.StateLostText)
	})
}
