package restore_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/executor/restore"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// Every process the tests start must be gone when they end.
func TestMain(m *testing.M) { os.Exit(jupytertest.Main(m)) }

const selfKill = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"

func remoteKernel(t *testing.T) executor.Executor {
	t.Helper()
	srv := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client, Timeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { k.Close(context.Background()) })
	return k
}

func embeddedKernel(t *testing.T) executor.Executor {
	t.Helper()
	jupytertest.RequireSandbox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := session.Open(ctx, session.Config{WorkDir: t.TempDir()})
	require.NoError(t, err)
	require.True(t, s.Server().Sandboxed())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func run(t *testing.T, ex executor.Executor, code string) (*executor.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := executor.Execute(ctx, ex, executor.Request{Code: code})
	require.NotNil(t, res, "err: %v", err)
	return res, err
}

func ok(t *testing.T, ex executor.Executor, code string) *executor.Result {
	t.Helper()
	res, err := run(t, ex, code)
	require.NoError(t, err)
	require.True(t, res.OK(), res.Text())
	return res
}

var restoredMsg = regexp.MustCompile(`^kernel died: its process exited or was killed; restored state by re-running cells 1–3 in \d+\.\d s; the crashing cell was not re-run$`)

// A cell defines variables, the next SIGKILLs its own kernel, the one after
// uses the variables: they are there again.
func TestRestoreAfterSIGKILL(t *testing.T) {
	for name, start := range map[string]func(*testing.T) executor.Executor{"remote jupyter-server": remoteKernel, "embedded sandboxed": embeddedKernel} {
		t.Run(name, func(t *testing.T) {
			ex := restore.New(start(t), restore.Config{})
			ok(t, ex, "x = 41")
			ok(t, ex, "import json\ndata = json.loads('[1, 2, 3]')")
			ok(t, ex, "print('seen before')\ny = x + len(data) - 2")
			_, err := run(t, ex, "this is not python")
			require.NoError(t, err)
			assert.Equal(t, 3, ex.Recorded(), "failed cells are not recorded")

			res, err := run(t, ex, "z = 'defined before the kill'\n"+selfKill)
			require.ErrorIs(t, err, executor.ErrKernelDied)
			assert.Equal(t, executor.StatusKernelDied, res.Status)
			assert.True(t, res.Restored)
			assert.False(t, res.StateLost)
			assert.Regexp(t, restoredMsg, res.Message)
			assert.NotContains(t, res.Text(), "seen before", "replayed output is not shown again")

			res = ok(t, ex, "print(x + 1, y, data)\nprint('z' in globals())")
			assert.Equal(t, "42 42 [1, 2, 3]\nFalse", res.Text(), "the crashing cell was not re-run")
			assert.False(t, res.StateLost, "the death was reported once")
			assert.Empty(t, res.Message)

			// A second death restores again, now with four cells.
			res, _ = run(t, ex, selfKill)
			assert.True(t, res.Restored, res.Message)
			assert.Contains(t, res.Message, "re-running cells 1–4")
			assert.Equal(t, "42", ok(t, ex, "print(x + 1)").Text())

			// A deliberate restart forgets everything.
			require.NoError(t, ex.Restart(context.Background()))
			assert.Zero(t, ex.Recorded())
		})
	}
}

func TestRestoreFailsPlainly(t *testing.T) {
	k := remoteKernel(t)
	t.Run("a cell that cannot run twice", func(t *testing.T) {
		ex := restore.New(k, restore.Config{})
		ok(t, ex, "v = 1")
		ok(t, ex, "import os\nif os.path.exists('once.flag'):\n    raise RuntimeError('ran twice')\nopen('once.flag', 'w').close()")
		res, err := run(t, ex, selfKill)
		require.ErrorIs(t, err, executor.ErrKernelDied)
		assert.False(t, res.Restored)
		assert.True(t, res.StateLost)
		assert.Equal(t, "kernel died: its process exited or was killed; state lost: re-running cell 2 of 2 failed (RuntimeError: ran twice)", res.Message)
		_, err = run(t, ex, "import os\nos.remove('once.flag')")
		require.NoError(t, err)
	})
	t.Run("a replay over its time bound", func(t *testing.T) {
		ex := restore.New(k, restore.Config{MaxReplay: time.Second})
		ok(t, ex, "import time\ntime.sleep(1.5)\nslow = True")
		res, err := run(t, ex, selfKill)
		require.ErrorIs(t, err, executor.ErrKernelDied)
		assert.True(t, res.StateLost)
		assert.Equal(t, "kernel died: its process exited or was killed; state lost: re-running cells 1–1 took longer than 1s (stopped at cell 1)", res.Message)
		res = ok(t, ex, "print('slow' in globals())")
		assert.Equal(t, "False", res.Text())
	})
	t.Run("nothing to restore", func(t *testing.T) {
		ex := restore.New(k, restore.Config{})
		res, _ := run(t, ex, selfKill)
		assert.True(t, res.StateLost)
		assert.Contains(t, res.Message, "no earlier cells to restore")
		res = ok(t, ex, "print(1)")
		assert.False(t, res.StateLost)
	})
}

// What the coder reads after its code killed the kernel.
func TestCodeExecutorTellsTheModel(t *testing.T) {
	ex := restore.New(remoteKernel(t), restore.Config{})
	c, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: ex})
	require.NoError(t, err)
	say := func(code string) string {
		msg, err := agents.Respond(context.Background(), c, []*agents.Message{agents.NewText("coder", "```python\n"+code+"\n```")}, nil)
		require.NoError(t, err)
		return msg.Content
	}
	say("df = list(range(10))")
	say("total = sum(df)")
	say("print(total)")
	text := say(selfKill)
	assert.Regexp(t, `^The kernel died while running the code: kernel died: its process exited or was killed; restored state by re-running cells 1–3 in \d+\.\d s; the crashing cell was not re-run\. Variables from the earlier steps are back`, text)
	assert.NotContains(t, text, agents.StateLostText)
	next := say("print(total * 2)")
	assert.Equal(t, "90", next)
	assert.False(t, strings.Contains(next, "Note:"), next)
}

// A cell whose output was lost on the way still ran, once: it is part of
// the kernel's state and is replayed after a death (here with a scripted
// executor, as a real server loses output only now and then).
func TestOutputLostCellIsReplayed(t *testing.T) {
	var ran []string
	inner := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		ran = append(ran, req.Code)
		switch req.Code {
		case "die":
			return &executor.Result{Status: executor.StatusKernelDied, StateLost: true, Restarted: true}, executor.ErrKernelDied
		case "b":
			if len(ran) == 2 {
				return &executor.Result{Status: executor.StatusOK, Truncated: true}, executor.ErrOutputLost
			}
		}
		return &executor.Result{Status: executor.StatusOK}, nil
	}}
	ex := restore.New(inner, restore.Config{})
	for _, code := range []string{"a", "b"} {
		_, _ = executor.Execute(context.Background(), ex, executor.Request{Code: code})
	}
	assert.Equal(t, 2, ex.Recorded())
	res, err := executor.Execute(context.Background(), ex, executor.Request{Code: "die"})
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.True(t, res.Restored, res.Message)
	assert.Equal(t, []string{"a", "b", "die", "a", "b"}, ran)
}
