package jupyter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/internal/fakejupyter"
)

// A call whose context is already cancelled must not run its cell, also
// right after a normal call (when the writer goroutine is idle and ready to
// take the message).
func TestCancelledCallNeverRuns(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "ran = 0")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 100; i++ {
		exec(t, k, "pass")
		res, err := k.Execute(done, executor.Request{Code: "ran += 1"})
		require.ErrorIs(t, err, context.Canceled)
		assert.Nil(t, res, "nothing was sent, so there is no result")
		// Through the stream as well.
		for ev, err := range k.Run(done, executor.Request{Code: "ran += 1"}) {
			require.ErrorIs(t, err, context.Canceled)
			assert.Nil(t, ev.Output)
		}
	}
	assert.Equal(t, "0", exec(t, k, "print(ran)").Text(), "the kernel ran cells of cancelled calls")
}

// A restart through the REST API by someone else sends no "restarting"
// status on this server, yet the next result must say that the state is
// gone.
func TestForeignRestartReportedAsStateLost(t *testing.T) {
	k := newKernel(t)
	ctx := context.Background()
	exec(t, k, "x = 41")
	other := realClient(t)
	require.NoError(t, other.RestartKernel(ctx, k.ID()))
	begin := time.Now()
	res, err := k.Execute(ctx, executor.Request{Code: "print(x)", Timeout: 60 * time.Second})
	require.NoError(t, err)
	assert.Less(t, time.Since(begin), 15*time.Second)
	assert.Equal(t, executor.StatusError, res.Status, "x is gone: %s", res.Text())
	assert.True(t, res.StateLost, res.Text())
	assert.Contains(t, res.Text(), "restarted from outside")
	// Once reported, the state is the new kernel's: the next result is plain.
	res = exec(t, k, "x = 1\nprint(x)")
	assert.False(t, res.StateLost)
	assert.Equal(t, "1", res.Text())
}

// A cell sent right after a restart through the REST API: this server
// often loses all of its iopub messages (busy, execute_input, output, idle)
// while its execute_reply still comes (the server's iopub subscription has
// not reached the new kernel process yet). That is known within seconds,
// from a probe (see quietLimit): the call returns ErrOutputLost with the
// reply's status, not after its timeout, and the cell has run exactly once.
// A cell whose messages all come is an ordinary result. Either way the
// result says that the state was lost. Runs enough trials to meet the loss
// (3 to 6 in 10 here).
func TestExecuteRightAfterRestartRuns(t *testing.T) {
	k := newKernel(t)
	ctx := context.Background()
	other := realClient(t)
	ran, outputLost, notRun := 0, 0, 0
	const trials = 20
	for i := 0; i < trials; i++ {
		exec(t, k, fmt.Sprintf("v = %d\nruns = 0", i))
		require.NoError(t, other.RestartKernel(ctx, k.ID()))
		begin := time.Now()
		res, err := k.Execute(ctx, executor.Request{Code: "runs = globals().get('runs', 0) + 1\nprint('alive', runs)", Timeout: 60 * time.Second})
		took := time.Since(begin)
		want := "1"
		switch {
		case errors.Is(err, executor.ErrOutputLost):
			outputLost++
			t.Logf("trial %d: output lost, known after %s: %v", i, took.Round(time.Millisecond), err)
			require.NotNil(t, res, "trial %d", i)
			assert.Equal(t, executor.StatusOK, res.Status, "trial %d: the status comes from the reply", i)
			assert.True(t, res.Truncated, "trial %d", i)
			assert.True(t, res.StateLost, "trial %d", i)
			assert.Contains(t, res.Message, "restarted from outside", "trial %d", i)
			assert.Contains(t, res.Message, "output was lost", "trial %d", i)
			assert.NotContains(t, err.Error(), "\n")
		case errors.Is(err, executor.ErrNotDelivered):
			// Never seen on this server, but allowed: the cell must not
			// have run.
			notRun++
			t.Logf("trial %d: not delivered, known after %s: %v", i, took.Round(time.Millisecond), err)
			require.NotNil(t, res, "trial %d", i)
			assert.Equal(t, executor.StatusNotRun, res.Status, "trial %d", i)
			want = "0"
		default:
			ran++
			require.NoError(t, err, "trial %d", i)
			assert.True(t, res.StateLost, "trial %d", i)
			if len(res.Outputs) == 0 {
				assert.True(t, res.Truncated, "trial %d", i)
				assert.Contains(t, res.Text(), "output may be incomplete", "trial %d", i)
			} else {
				assert.Equal(t, "alive 1\n", res.Outputs[0].Text, "trial %d", i)
			}
		}
		// Known within seconds, far below the timeout (a normal run takes
		// under a second here; a probe adds about one).
		assert.Less(t, took, 15*time.Second, "trial %d", i)
		// Exactly once (a late run would show here), on the fresh kernel,
		// and the kernel was not restarted once more: runs survives.
		time.Sleep(500 * time.Millisecond)
		out := exec(t, k, "print(globals().get('runs', 0), 'v' in globals())")
		assert.False(t, out.StateLost, "trial %d: the loss was reported once", i)
		assert.Equal(t, want+" False", out.Text(), "trial %d", i)
	}
	t.Logf("%d trials: %d ran with their output, %d lost their output, %d were not delivered", trials, ran, outputLost, notRun)
	// Restarting through the Kernel itself is not a loss to report.
	for i := 0; i < 5; i++ {
		exec(t, k, "w = 1")
		require.NoError(t, k.Restart(ctx))
		res, err := k.Execute(ctx, executor.Request{Code: "print('fresh', 'w' in globals())"})
		require.NoError(t, err)
		assert.Equal(t, "fresh False", res.Text())
		assert.False(t, res.StateLost)
	}
}

// A long cell right after a REST restart, whose busy status may be lost
// too, is not reported lost: the probe waits behind it on the kernel's
// shell channel, and the cell completes normally with its output.
func TestLongCellRightAfterRestartCompletes(t *testing.T) {
	log := &lockedBuffer{b: new(bytes.Buffer)}
	probes := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return strings.Count(log.b.String(), "probing the kernel")
	}
	k := newKernel(t, func(c *KernelConfig) {
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	other := realClient(t)
	probed := 0
	for i := 0; i < 3; i++ {
		exec(t, k, "x = 1")
		require.NoError(t, other.RestartKernel(ctx, k.ID()))
		before := probes()
		res, err := k.Execute(ctx, executor.Request{Code: "import time\ntime.sleep(8)\nprint('slept')", Timeout: 60 * time.Second})
		require.NoError(t, err, "trial %d", i)
		assert.Equal(t, executor.StatusOK, res.Status, "trial %d", i)
		assert.Equal(t, "slept\n", res.Outputs[0].Text, "trial %d", i)
		assert.GreaterOrEqual(t, res.Duration, 8*time.Second, "trial %d", i)
		assert.True(t, res.StateLost, "trial %d", i)
		if probes() > before {
			probed++
		}
	}
	t.Logf("3 trials, %d probed while the cell ran (its busy status was lost)", probed)
}

// shellKernel is a fake kernel's shell: one request at a time, as a real
// kernel handles them. exec handles execute_request.
func shellKernel(t *testing.T, exec func(s *fakejupyter.Session, m *fakejupyter.Message)) (*fakejupyter.Server, *atomic.Int32, *atomic.Int32) {
	var mu sync.Mutex
	var execs, probes atomic.Int32
	srv := fake(t, fakejupyter.Config{Handler: func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if m.Channel != "shell" {
			fakejupyter.DefaultHandler(s, m)
			return
		}
		// Counted as received, before waiting for the shell.
		switch m.Header.MsgType {
		case "execute_request":
			execs.Add(1)
		case "kernel_info_request":
			probes.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		if m.Header.MsgType == "execute_request" {
			exec(s, m)
			return
		}
		fakejupyter.DefaultHandler(s, m)
	}}, nil)
	return srv, &execs, &probes
}

// The reply came, then nothing on iopub (busy, output and idle lost): known
// from the probe's status about a second later, never at the timeout.
func TestFakeOutputLostIsKnownFromTheProbe(t *testing.T) {
	var first atomic.Bool
	first.Store(true)
	srv, execs, _ := shellKernel(t, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if first.Swap(false) {
			s.ExecuteReply(m, "error", 4)
			return
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv, func(_ *ClientConfig, kc *KernelConfig) { kc.Timeout = 60 * time.Second })
	begin := time.Now()
	res, err := run(t, k, "x")
	took := time.Since(begin)
	require.ErrorIs(t, err, executor.ErrOutputLost)
	assert.Less(t, took, 5*time.Second)
	assert.Equal(t, executor.StatusError, res.Status, "the reply's status")
	assert.Equal(t, 4, res.ExecutionCount)
	assert.True(t, res.Truncated)
	assert.Contains(t, res.Message, "ran once")
	assert.Equal(t, int32(1), execs.Load(), "sent once")
	assert.False(t, res.Interrupted)
	// The kernel is usable, and was neither interrupted nor restarted.
	res, err = run(t, k, "y")
	require.NoError(t, err)
	assert.Equal(t, "ran: y", res.Text())
}

// The idle status came but no reply: the probe's reply proves it lost, and
// the result is complete (its output came).
func TestFakeReplyLostAfterIdleIsComplete(t *testing.T) {
	srv, _, _ := shellKernel(t, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		s.Stream(m, "stdout", "out\n")
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv, func(_ *ClientConfig, kc *KernelConfig) { kc.Timeout = 60 * time.Second })
	begin := time.Now()
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Less(t, time.Since(begin), 5*time.Second)
	assert.Equal(t, "out", res.Text())
}

// Nothing at all came for the request, and the kernel answered the probe
// sent after it: the request never reached the kernel, so it did not run.
// That is known within seconds, and the request is not sent again.
func TestFakeRequestLostIsReportedNotRun(t *testing.T) {
	srv, execs, _ := shellKernel(t, func(s *fakejupyter.Session, m *fakejupyter.Message) {})
	k, _ := fakeKernel(t, srv, func(_ *ClientConfig, kc *KernelConfig) { kc.Timeout = 60 * time.Second })
	begin := time.Now()
	res, err := run(t, k, "x")
	took := time.Since(begin)
	require.ErrorIs(t, err, executor.ErrNotDelivered)
	assert.NotContains(t, err.Error(), "\n")
	assert.Contains(t, err.Error(), "did not run")
	assert.GreaterOrEqual(t, took, quietLimit)
	assert.Less(t, took, quietLimit+5*time.Second)
	require.NotNil(t, res)
	assert.Equal(t, executor.StatusNotRun, res.Status)
	assert.Equal(t, int32(1), execs.Load(), "not sent again")
}

// A long cell whose busy status was lost shows nothing for longer than
// quietLimit: it is probed, the probe waits behind it, and the cell ends
// normally.
func TestFakeSilentLongCellIsNotReportedLost(t *testing.T) {
	srv, _, probes := shellKernel(t, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		time.Sleep(quietLimit + 2*time.Second)
		s.Stream(m, "stdout", "done\n")
		s.ExecuteReply(m, "ok", 1)
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv, func(_ *ClientConfig, kc *KernelConfig) { kc.Timeout = 60 * time.Second })
	before := probes.Load()
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, executor.StatusOK, res.Status)
	require.NotEmpty(t, res.Outputs)
	assert.Equal(t, "done\n", res.Outputs[0].Text)
	assert.Greater(t, probes.Load(), before, "the silent cell was probed")
}

// A reply without its idle status on a websocket whose iopub delivers
// nothing: once the probe's reply came and its statuses did not, the call
// ends (output lost) and the next one uses a fresh websocket.
func TestFakeDeadIOPubEndsTheWait(t *testing.T) {
	var deaf atomic.Bool
	srv := fake(t, fakejupyter.Config{Handler: func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if !deaf.Load() {
			fakejupyter.DefaultHandler(s, m)
			return
		}
		switch m.Header.MsgType {
		case "execute_request":
			s.ExecuteReply(m, "ok", 1)
		case "kernel_info_request":
			s.Reply(m, "shell", "kernel_info_reply", map[string]any{"status": "ok", "protocol_version": "5.3"})
		}
	}}, nil)
	k, _ := fakeKernel(t, srv, func(_ *ClientConfig, kc *KernelConfig) { kc.Timeout = 60 * time.Second })
	deaf.Store(true)
	begin := time.Now()
	res, err := run(t, k, "x")
	require.ErrorIs(t, err, executor.ErrOutputLost)
	assert.Less(t, time.Since(begin), idleLimit+iopubLimit+3*time.Second)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.True(t, k.redial, "the next execution reconnects")
	deaf.Store(false)
	res, err = run(t, k, "y")
	require.NoError(t, err)
	assert.Equal(t, "ran: y", res.Text())
}
