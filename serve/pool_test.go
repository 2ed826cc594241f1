package serve

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

func TestPoolKeepsKernelsWarmAndClosesThem(t *testing.T) {
	srv := jupytertest.Start(t)
	var opened atomic.Int32
	p := NewPool(PoolConfig[*session.Session]{
		Size: 2,
		Open: func(ctx context.Context) (*session.Session, error) {
			return session.Open(ctx, session.Config{URL: srv.URL, Token: srv.Token})
		},
		OnOpen: func() { opened.Add(1) },
	})
	defer p.Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("two warm kernels", func() bool { return opened.Load() == 2 && len(srv.KernelPids()) == 2 })

	ctx := context.Background()
	k, err := p.Get(ctx)
	require.NoError(t, err)
	res, err := executor.Execute(ctx, k, executor.Request{Code: "x = 6 * 7\nprint(x)"})
	require.NoError(t, err)
	assert.Equal(t, "42", strings.TrimSpace(res.Text()))
	// The pool opens another in place of the one taken.
	waitFor("a third kernel", func() bool { return opened.Load() == 3 && len(srv.KernelPids()) == 3 })
	require.NoError(t, k.Close(ctx))

	// A kernel from the pool starts clean: nothing of another run's state.
	k2, err := p.Get(ctx)
	require.NoError(t, err)
	res, err = executor.Execute(ctx, k2, executor.Request{Code: "print('x' in globals())"})
	require.NoError(t, err)
	assert.Equal(t, "False", strings.TrimSpace(res.Text()))
	require.NoError(t, k2.Close(ctx))

	p.Close()
	waitFor("no kernel left", func() bool { return len(srv.KernelPids()) == 0 })
	_, err = p.Get(ctx)
	assert.ErrorIs(t, err, ErrPoolClosed)
}
