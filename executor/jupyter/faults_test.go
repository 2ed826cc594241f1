package jupyter

import (
	"context"
	"testing"

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
