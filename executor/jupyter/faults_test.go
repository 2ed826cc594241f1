package jupyter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
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

// A cell sent right after a REST restart can be lost or held by the server
// (no busy, no execute_input, no reply). That is noticed within seconds: the
// output is then awaited on a fresh websocket, and if none comes the call
// says so (ErrNotDelivered) instead of waiting out its timeout. A cell never
// runs twice, and a result always says that the state was lost.
func TestExecuteRightAfterRestartRuns(t *testing.T) {
	k := newKernel(t)
	ctx := context.Background()
	other := realClient(t)
	ran, reported, timedOut := 0, 0, 0
	for i := 0; i < 10; i++ {
		exec(t, k, fmt.Sprintf("v = %d\nruns = 0", i))
		require.NoError(t, other.RestartKernel(ctx, k.ID()))
		begin := time.Now()
		res, err := k.Execute(ctx, executor.Request{Code: "runs = globals().get('runs', 0) + 1\nprint('alive', runs)", Timeout: 30 * time.Second})
		took := time.Since(begin)
		switch {
		case errors.Is(err, ErrNotDelivered):
			reported++
			t.Logf("trial %d: reported after %s: %v", i, took.Round(time.Millisecond), err)
			assert.Less(t, took, 20*time.Second, "trial %d: detected within seconds, not after the timeout", i)
		case errors.Is(err, executor.ErrTimeout):
			// The kernel's busy status came but its idle status and
			// reply never did: not told apart from a long cell yet, so
			// the call ends at its timeout (3 of 10 trials at worst here).
			timedOut++
			t.Logf("trial %d: started, then nothing until the timeout", i)
			assert.True(t, res.StateLost, "trial %d", i)
		default:
			ran++
			require.NoError(t, err, "trial %d", i)
			assert.True(t, res.StateLost, "trial %d", i)
			if len(res.Outputs) == 0 {
				// The server dropped the kernel's first messages: the
				// result must say the output may be missing.
				assert.True(t, res.Truncated, "trial %d", i)
				assert.Contains(t, res.Text(), "output may be incomplete", "trial %d", i)
			} else {
				assert.Equal(t, "alive 1\n", res.Outputs[0].Text, "trial %d", i)
			}
		}
		// Never twice (give a held request time to arrive).
		time.Sleep(time.Second)
		out := exec(t, k, "print(globals().get('runs', 0))").Outputs
		require.NotEmpty(t, out, "trial %d", i)
		assert.Contains(t, []string{"0\n", "1\n"}, out[0].Text, "trial %d: the cell ran more than once", i)
	}
	t.Logf("%d trials ran, %d reported as not delivered, %d timed out after starting", ran, reported, timedOut)
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
