package jupyter

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/internal/fakejupyter"
)

// fake starts a fake server whose kernels answer execute_request with exec
// (kernel_info and the rest as by default).
func fake(t *testing.T, cfg fakejupyter.Config, exec func(s *fakejupyter.Session, m *fakejupyter.Message)) *fakejupyter.Server {
	t.Helper()
	if exec != nil {
		cfg.Handler = func(s *fakejupyter.Session, m *fakejupyter.Message) {
			if m.Header.MsgType == "execute_request" {
				exec(s, m)
				return
			}
			fakejupyter.DefaultHandler(s, m)
		}
	}
	srv := fakejupyter.New(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func fakeKernel(t *testing.T, srv *fakejupyter.Server, mod ...func(*ClientConfig, *KernelConfig)) (*Kernel, *Client) {
	t.Helper()
	ccfg := ClientConfig{URL: srv.URL, PingInterval: 50 * time.Millisecond}
	kcfg := KernelConfig{Timeout: 10 * time.Second, InterruptGrace: 300 * time.Millisecond, StartTimeout: 5 * time.Second}
	for _, f := range mod {
		f(&ccfg, &kcfg)
	}
	c, err := NewClient(ccfg)
	require.NoError(t, err)
	kcfg.Client = c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := NewKernel(ctx, kcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	return k, c
}

// other is a request of another client of the same kernel.
func other(s *fakejupyter.Session) *fakejupyter.Message {
	return s.Msg(nil, "shell", "execute_request", map[string]any{"code": "other"})
}

func run(t *testing.T, k *Kernel, code string) (*executor.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return k.Execute(ctx, executor.Request{Code: code})
}

func TestFakeInterleavedMessagesOfOtherRequests(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		o := other(s)
		s.Status(m, "busy")
		s.Stream(o, "stdout", "not mine\n")
		s.Stream(m, "stdout", "mine\n")
		s.ExecuteReply(o, "ok", 99)
		s.Status(o, "idle")
		s.Stream(o, "stderr", "also not mine\n")
		s.Stream(m, "stdout", "mine too\n")
		s.ExecuteReply(m, "ok", 3)
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.Equal(t, "mine\nmine too", res.Text())
	assert.Equal(t, 3, res.ExecutionCount)
}

func TestFakeReplyBeforeIdleWaitsForIdle(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		s.Stream(m, "stdout", "a\n")
		s.ExecuteReply(m, "ok", 1)
		time.Sleep(100 * time.Millisecond)
		s.Stream(m, "stdout", "b\n") // after the reply, before idle: still ours
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, "a\nb", res.Text())
	assert.GreaterOrEqual(t, res.Duration, 100*time.Millisecond)
}

func TestFakeReplyAfterIdleWaitsForReply(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		s.Stream(m, "stdout", "a\n")
		s.Status(m, "idle")
		time.Sleep(100 * time.Millisecond)
		s.ExecuteReply(m, "ok", 7)
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, "a", res.Text())
	assert.Equal(t, 7, res.ExecutionCount, "the count comes from the late reply")
	assert.GreaterOrEqual(t, res.Duration, 100*time.Millisecond)
}

func TestFakeDeadStatusMidExecution(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) == 1 {
			s.Status(m, "busy")
			s.Stream(m, "stdout", "partial\n")
			s.KernelStatus("dead")
			return // and never answers again
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv)
	first := k.ID()
	start := time.Now()
	res, err := run(t, k, "boom")
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, executor.StatusKernelDied, res.Status)
	assert.True(t, res.StateLost)
	assert.Contains(t, res.Text(), "partial")
	assert.Contains(t, res.Text(), "lost")

	// The next execution transparently runs on a fresh kernel.
	res, err = run(t, k, "again")
	require.NoError(t, err)
	assert.Equal(t, "ran: again", res.Text()[:len("ran: again")])
	assert.True(t, res.StateLost)
	assert.True(t, res.Restarted)
	assert.NotEqual(t, first, k.ID())
	assert.Contains(t, srv.Deleted(), first, "the dead kernel was shut down")
	res, err = run(t, k, "third")
	require.NoError(t, err)
	assert.False(t, res.StateLost)
}

func TestFakeRestartingStatusMidExecution(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) == 1 {
			s.Status(m, "busy")
			s.KernelStatus("restarting")
			return
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv)
	id := k.ID()
	res, err := run(t, k, "boom")
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.True(t, res.Restarted)
	assert.True(t, res.StateLost)
	res, err = run(t, k, "after")
	require.NoError(t, err)
	assert.True(t, res.StateLost)
	assert.Equal(t, id, k.ID(), "the server restarted the same kernel")
	assert.Empty(t, srv.Deleted())
}

func TestFakeDeadWhileIdleIsNoticedByNextExecution(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, nil)
	k, _ := fakeKernel(t, srv)
	first := k.ID()
	_, err := run(t, k, "a")
	require.NoError(t, err)
	for _, s := range srv.Kernel(first).Sessions() {
		s.KernelStatus("dead")
	}
	time.Sleep(100 * time.Millisecond)
	res, err := run(t, k, "b")
	require.NoError(t, err)
	assert.True(t, res.StateLost)
	assert.NotEqual(t, first, k.ID())
}

func TestFakeSocketDroppedMidExecutionReplaysWithoutLossOrDuplicates(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) > 1 {
			fakejupyter.DefaultHandler(s, m)
			return
		}
		s.Status(m, "busy")
		a := s.Stream(m, "stdout", "a\n")
		time.Sleep(50 * time.Millisecond)
		s.Drop()
		// Sent while the client is away: buffered and replayed.
		s.Stream(m, "stdout", "b\n")
		s.Buffer(a) // already delivered: a duplicate in the replay
		s.Stream(m, "stdout", "c\n")
		if !s.WaitConnected(5 * time.Second) {
			return
		}
		s.ExecuteReply(m, "ok", 1)
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, "a\nb\nc", res.Text())
	sessions := srv.Kernel(k.ID()).Sessions()
	require.Len(t, sessions, 1, "reconnected with the same session id")
	assert.Equal(t, 2, sessions[0].Connects())

	res, err = run(t, k, "y")
	require.NoError(t, err)
	assert.Equal(t, "ran: y", res.Text())
}

func TestFakeSocketDroppedAndKernelGone(t *testing.T) {
	var calls atomic.Int32
	var srv *fakejupyter.Server
	srv = fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) == 1 {
			s.Status(m, "busy")
			srv.RemoveKernel(s.Kernel.ID) // culled: the socket drops, reconnecting gets 404
			return
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv)
	first := k.ID()
	start := time.Now()
	res, err := run(t, k, "x")
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.True(t, res.StateLost)
	res, err = run(t, k, "y")
	require.NoError(t, err)
	assert.True(t, res.StateLost)
	assert.NotEqual(t, first, k.ID())
}

func TestFakeAttachedKernelGoneIsNotReplaced(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, nil)
	c, err := NewClient(ClientConfig{URL: srv.URL})
	require.NoError(t, err)
	ctx := context.Background()
	info, err := c.StartKernel(ctx, "")
	require.NoError(t, err)
	k, err := NewKernel(ctx, KernelConfig{Client: c, KernelID: info.ID, StartTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer k.Close(ctx)
	srv.RemoveKernel(info.ID)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	_, err = run(t, k, "x")
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.Len(t, srv.Kernels(), 0, "no kernel started in its place")
}

func TestFakeStuckKernelIsInterruptedThenRestarted(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) == 1 {
			s.Status(m, "busy")
			s.Stream(m, "stdout", "stuck\n")
			return // ignores the interrupt
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv)
	res, err := k.Execute(context.Background(), executor.Request{Code: "x", Timeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, executor.ErrTimeout)
	assert.Equal(t, executor.StatusTimeout, res.Status)
	assert.True(t, res.Interrupted)
	assert.True(t, res.Restarted)
	assert.True(t, res.StateLost)
	assert.Equal(t, "stuck", res.Outputs[0].Text[:5])
	fk := srv.Kernel(k.ID())
	assert.Equal(t, 1, fk.Interrupts())
	assert.Equal(t, 1, fk.Restarts())
	res, err = run(t, k, "y")
	require.NoError(t, err)
	assert.Equal(t, "ran: y", res.Text())
}

func TestFakeAbortedReplyIsAnError(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		s.Reply(m, "shell", "execute_reply", map[string]any{"status": "aborted"})
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, executor.StatusError, res.Status)
	assert.Equal(t, "ExecutionAborted", res.Error.EName)
}

func TestFakeDisplayUpdatesAndClearWait(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		s.Stream(m, "stdout", "gone\n")
		s.Reply(m, "iopub", "clear_output", map[string]any{"wait": true})
		s.Reply(m, "iopub", "display_data", map[string]any{"data": map[string]any{"text/plain": "0%"}, "metadata": map[string]any{}, "transient": map[string]any{"display_id": "bar"}})
		s.Stream(m, "stdout", "working\n")
		s.Reply(m, "iopub", "update_display_data", map[string]any{"data": map[string]any{"text/plain": "100%"}, "metadata": map[string]any{}, "transient": map[string]any{"display_id": "bar"}})
		s.ExecuteReply(m, "ok", 1)
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, "100%\nworking", res.Text())
	require.Len(t, res.Outputs, 2)
	assert.Equal(t, "bar", res.Outputs[0].DisplayID)
}

func TestFakeKernelGatewayLike(t *testing.T) {
	srv := fake(t, fakejupyter.Config{Token: "kg-token", NoContents: true, ForbidList: true}, nil)
	k, c := fakeKernel(t, srv, func(cc *ClientConfig, _ *KernelConfig) { cc.Token = "kg-token" })
	res, err := run(t, k, "1")
	require.NoError(t, err)
	assert.Equal(t, "ran: 1", res.Text())
	assert.NotContains(t, srv.Requests(), "GET /api/kernels", "starting a kernel needs no listing")

	ctx := context.Background()
	_, err = c.ListKernels(ctx)
	assert.ErrorIs(t, err, ErrListingForbidden)
	assert.NotErrorIs(t, err, ErrUnauthorized)
	err = c.UploadFile(ctx, "in/data.csv", []byte("a"))
	assert.ErrorIs(t, err, ErrNoContentsAPI)
	_, err = c.DownloadFile(ctx, "data.csv")
	assert.ErrorIs(t, err, ErrNoContentsAPI)
	_, err = c.ListDir(ctx, "")
	assert.ErrorIs(t, err, ErrNoContentsAPI)

	// A wrong token is still told apart from a forbidden listing.
	bad, err := NewClient(ClientConfig{URL: srv.URL, Token: "nope"})
	require.NoError(t, err)
	_, err = bad.ListKernels(ctx)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), "kg-token")
}

func TestFakePathPrefixCookiesAndHeadersReachTheWebsocket(t *testing.T) {
	srv := fake(t, fakejupyter.Config{
		Token:         "t0k",
		Prefix:        "/jupyter/",
		Cookie:        &http.Cookie{Name: "affinity", Value: "replica-7", Path: "/"},
		RequireHeader: "X-Proxy-Key: k1",
	}, nil)
	require.True(t, strings.HasSuffix(srv.URL, "/jupyter/"))
	k, c := fakeKernel(t, srv, func(cc *ClientConfig, _ *KernelConfig) {
		cc.Token = "t0k"
		cc.Headers = http.Header{"X-Proxy-Key": {"k1"}}
	})
	res, err := run(t, k, "1")
	require.NoError(t, err)
	assert.Equal(t, "ran: 1", res.Text())
	require.NoError(t, c.UploadFile(context.Background(), "a/b.txt", []byte("hi")))
	got, err := c.DownloadFile(context.Background(), "a/b.txt")
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got))
	assert.Contains(t, srv.Requests(), "GET /api/kernels/"+k.ID()+"/channels")

	// Without the header the proxy refuses, REST and websocket alike.
	c2, err := NewClient(ClientConfig{URL: srv.URL, Token: "t0k"})
	require.NoError(t, err)
	_, err = NewKernel(context.Background(), KernelConfig{Client: c2})
	assert.ErrorIs(t, err, ErrUnauthorized)
}

func TestFakeWrongKernelNameListsSpecs(t *testing.T) {
	srv := fake(t, fakejupyter.Config{Specs: []string{"python3", "ir"}}, nil)
	c, err := NewClient(ClientConfig{URL: srv.URL})
	require.NoError(t, err)
	_, err = NewKernel(context.Background(), KernelConfig{Client: c, KernelName: "julia"})
	require.ErrorIs(t, err, ErrNoSuchKernelSpec)
	assert.Contains(t, err.Error(), "available: ir, python3")
}

func TestFakeCloseClosesSocketAndDeletesKernel(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, nil)
	k, _ := fakeKernel(t, srv)
	id := k.ID()
	require.NoError(t, k.Close(context.Background()))
	assert.Equal(t, []string{id}, srv.Deleted())
	assert.Empty(t, srv.Kernels())
}

func TestFakeTLSWebsocketKeepsQuickAckUnderTLS(t *testing.T) {
	srv := fake(t, fakejupyter.Config{TLS: true, Token: "tls-token"}, nil)
	require.True(t, strings.HasPrefix(srv.URL, "https://"))
	before := quickAckWrapped.Load()
	k, _ := fakeKernel(t, srv, func(cc *ClientConfig, _ *KernelConfig) {
		cc.HTTPClient = srv.Client()
		cc.Token = "tls-token"
	})
	res, err := run(t, k, "1")
	require.NoError(t, err)
	assert.Equal(t, "ran: 1", res.Text())
	if quickAckSupported {
		assert.Greater(t, quickAckWrapped.Load(), before, "the TCP connection under TLS is wrapped")
	}

	// Turned off, nothing is wrapped.
	before = quickAckWrapped.Load()
	k2, _ := fakeKernel(t, srv, func(cc *ClientConfig, _ *KernelConfig) {
		cc.HTTPClient = srv.Client()
		cc.Token = "tls-token"
		cc.DisableQuickAck = true
	})
	_, err = run(t, k2, "2")
	require.NoError(t, err)
	assert.Equal(t, before, quickAckWrapped.Load())
}

func TestFakeCloseEndsRunningExecution(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy") // runs forever
	})
	k, _ := fakeKernel(t, srv)
	id := k.ID()
	time.AfterFunc(100*time.Millisecond, func() { _ = k.Close(context.Background()) })
	start := time.Now()
	res, err := run(t, k, "forever")
	require.ErrorIs(t, err, executor.ErrClosed)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, executor.StatusCancelled, res.Status)
	assert.Eventually(t, func() bool { return len(srv.Deleted()) == 1 && srv.Deleted()[0] == id }, 3*time.Second, 10*time.Millisecond)
}

func TestFakeSocketUnreachableForAWhile(t *testing.T) {
	var calls atomic.Int32
	var srv *fakejupyter.Server
	srv = fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		if calls.Add(1) == 1 {
			s.Status(m, "busy")
			srv.RejectWebsockets(http.StatusServiceUnavailable)
			s.Drop()
			return
		}
		fakejupyter.DefaultHandler(s, m)
	})
	k, _ := fakeKernel(t, srv, func(cc *ClientConfig, _ *KernelConfig) { cc.ReconnectTimeout = 300 * time.Millisecond })
	id := k.ID()
	start := time.Now()
	res, err := run(t, k, "x")
	require.Error(t, err)
	assert.NotErrorIs(t, err, executor.ErrKernelDied, "the kernel itself is still there")
	assert.Contains(t, err.Error(), "lost the connection")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, res.Message, "outcome of this execution is unknown")

	// While the websocket stays unreachable, executions fail fast.
	_, err = run(t, k, "y")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 503")

	// Once it is back, the next execution reconnects to the same kernel.
	srv.RejectWebsockets(0)
	res, err = run(t, k, "z")
	require.NoError(t, err)
	assert.Equal(t, "ran: z", res.Text())
	assert.Equal(t, id, k.ID())
	assert.False(t, res.StateLost)
}

func TestFakeNoGoroutinesLeftAfterClose(t *testing.T) {
	srv := fake(t, fakejupyter.Config{}, nil)
	c, err := NewClient(ClientConfig{URL: srv.URL, PingInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx := context.Background()
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		k, err := NewKernel(ctx, KernelConfig{Client: c})
		require.NoError(t, err)
		_, err = run(t, k, "x")
		require.NoError(t, err)
		for range k.Run(ctx, executor.Request{Code: "y"}) {
		}
		for range k.Run(ctx, executor.Request{Code: "z"}) {
			break
		}
		require.NoError(t, k.Close(ctx))
	}
	c.hc.CloseIdleConnections()
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 3*time.Second, 20*time.Millisecond,
		"goroutines: before %d, now %d", before, runtime.NumGoroutine())
}

func TestFakeAbortedRightAfterAnErrorIsSentAgain(t *testing.T) {
	var calls atomic.Int32
	srv := fake(t, fakejupyter.Config{}, func(s *fakejupyter.Session, m *fakejupyter.Message) {
		s.Status(m, "busy")
		if calls.Add(1) == 1 {
			s.Reply(m, "shell", "execute_reply", map[string]any{"status": "aborted"})
		} else {
			s.Stream(m, "stdout", "ran\n")
			s.Reply(m, "shell", "execute_reply", map[string]any{"status": "ok", "execution_count": 1})
		}
		s.Status(m, "idle")
	})
	k, _ := fakeKernel(t, srv)
	res, err := run(t, k, "x")
	require.NoError(t, err)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.Equal(t, "ran\n", res.Outputs[0].Text)
	assert.EqualValues(t, 2, calls.Load())
}
