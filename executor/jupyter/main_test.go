package jupyter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// One real jupyter-server is shared by the tests of this package; it is
// started by the first test that needs it.
var (
	shared     *jupytertest.Server
	sharedErr  error
	sharedDir  string
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	os.Exit(jupytertest.Main(runAndStopShared{m}))
}

// runAndStopShared runs the tests, then stops the shared server, so that
// jupytertest.Main checks that nothing is left.
type runAndStopShared struct{ m *testing.M }

func (r runAndStopShared) Run() int {
	code := r.m.Run()
	if shared != nil {
		shared.Close()
	}
	if sharedDir != "" {
		_ = os.RemoveAll(sharedDir)
	}
	return code
}

// server returns the shared real server, skipping (or failing on CI) when
// jupyter-server is not installed.
func server(t testing.TB) *jupytertest.Server {
	t.Helper()
	jupytertest.Require(t)
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "agentteam-jupyter-test-")
		if sharedErr != nil {
			return
		}
		shared, sharedErr = jupytertest.StartProcess(sharedDir)
	})
	require.NoError(t, sharedErr, "start jupyter-server")
	return shared
}

func realClient(t testing.TB, mod ...func(*ClientConfig)) *Client {
	t.Helper()
	s := server(t)
	cfg := ClientConfig{URL: s.URL, Token: s.Token}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	return c
}

// newKernel starts a kernel on the shared server; it is closed, and its
// process checked gone, when the test ends.
func newKernel(t testing.TB, mod ...func(*KernelConfig)) *Kernel {
	t.Helper()
	c := realClient(t)
	cfg := KernelConfig{Client: c, Timeout: 30 * time.Second, OutputDir: t.TempDir()}
	for _, f := range mod {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := NewKernel(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		id := k.ID()
		if err := k.Close(ctx); err != nil {
			t.Errorf("close kernel: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(kernelPids(id)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if p := kernelPids(id); len(p) > 0 {
			t.Errorf("kernel %s still running after Close: pids %v", id, p)
		}
	})
	return k
}

// kernelPids lists the processes of one kernel (its connection file is named
// after its id).
func kernelPids(id string) []int {
	return jupytertest.ProcessesMatching(fmt.Sprintf("kernel-%s.json", id))
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func debugLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedBuffer{b: buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
