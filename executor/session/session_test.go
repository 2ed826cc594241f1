package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

func open(t *testing.T, cfg session.Config) *session.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := session.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func run(t *testing.T, s *session.Session, code string) *executor.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.Execute(ctx, executor.Request{Code: code, Timeout: 30 * time.Second})
	require.NoError(t, err)
	return res
}

func stdout(r *executor.Result) string {
	var b strings.Builder
	for _, o := range r.Outputs {
		if o.Type == executor.OutputStream {
			b.WriteString(o.Text)
		}
	}
	return b.String()
}

// assertNothingLeft checks that no process of the embedded server survives.
func assertNothingLeft(t *testing.T, runtimeDir string, serverPid int) {
	t.Helper()
	assert.Eventually(t, func() bool {
		return len(jupytertest.ProcessesMatching(runtimeDir)) == 0
	}, 10*time.Second, 50*time.Millisecond, "kernel processes left")
	if serverPid > 0 {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", serverPid))
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", serverPid))
		assert.True(t, err != nil || len(b) == 0, "server process left")
	}
}

func TestEmbeddedSandboxedSession(t *testing.T) {
	jupytertest.RequireSandbox(t)
	work := t.TempDir()
	s := open(t, session.Config{WorkDir: work})
	require.False(t, s.Remote())
	require.True(t, s.Server().Sandboxed())

	res := run(t, s, "x = 6 * 7\nprint('hello', x)")
	require.True(t, res.OK(), res.Text())
	assert.Equal(t, "hello 42\n", stdout(res))

	// State persists; pandas works in the sandbox.
	res = run(t, s, "import pandas as pd\nprint(pd.DataFrame({'a':[x]}).a.sum())")
	require.True(t, res.OK(), res.Text())
	assert.Equal(t, "42\n", stdout(res))

	// The working directory is the work dir and is writable.
	res = run(t, s, "import os\nopen('made.txt','w').write('hi')\nprint(os.getcwd())")
	require.True(t, res.OK(), res.Text())
	real, _ := filepath.EvalSymlinks(work)
	assert.Equal(t, real+"\n", stdout(res))
	b, err := os.ReadFile(filepath.Join(work, "made.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hi", string(b))

	// No network: a listener on loopback is unreachable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	res = run(t, s, fmt.Sprintf("import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print('refused', type(e).__name__)\n", port))
	require.True(t, res.OK(), res.Text())
	assert.Contains(t, stdout(res), "refused")

	// Nothing outside the work dir is writable: the host file never appears.
	outside := filepath.Join(t.TempDir(), "escape.txt")
	res = run(t, s, fmt.Sprintf("try:\n    open(%q, 'w').write('x')\n    print('wrote')\nexcept OSError as e:\n    print('denied', type(e).__name__)\n", outside))
	assert.Contains(t, stdout(res), "denied")
	_, err = os.Stat(outside)
	assert.True(t, os.IsNotExist(err), "file written outside the work dir")
	res = run(t, s, "try:\n    open('/etc/agentteam-escape', 'w')\n    print('wrote')\nexcept OSError as e:\n    print('denied', type(e).__name__)\n")
	assert.Contains(t, stdout(res), "denied")

	// The home directory is hidden.
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	secretDir := filepath.Join(home, ".ssh")
	require.NoError(t, os.MkdirAll(secretDir, 0o700))
	secret := filepath.Join(secretDir, fmt.Sprintf("agentteam-test-%d", time.Now().UnixNano()))
	require.NoError(t, os.WriteFile(secret, []byte("SECRET-KEY"), 0o600))
	defer os.Remove(secret)
	res = run(t, s, fmt.Sprintf("try:\n    print(open(%q).read())\nexcept OSError as e:\n    print('hidden', type(e).__name__)\n", secret))
	assert.Contains(t, stdout(res), "hidden")
	assert.NotContains(t, stdout(res), "SECRET-KEY")

	runtime, pid := s.Server().RuntimeDir(), s.Server().Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "Close is idempotent")
	assertNothingLeft(t, runtime, pid)
}

func TestSandboxNetworkOptIn(t *testing.T) {
	jupytertest.RequireSandbox(t)
	s := open(t, session.Config{WorkDir: t.TempDir(), Sandbox: local.SandboxConfig{Network: true}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	res := run(t, s, fmt.Sprintf("import socket\nsocket.create_connection(('127.0.0.1', %d), timeout=3).close()\nprint('connected')\n", l.Addr().(*net.TCPAddr).Port))
	require.True(t, res.OK(), res.Text())
	assert.Equal(t, "connected\n", stdout(res))
}

func TestSandboxMemoryLimit(t *testing.T) {
	jupytertest.RequireSandbox(t)
	s := open(t, session.Config{WorkDir: t.TempDir(), Sandbox: local.SandboxConfig{Memory: 256 << 20}})
	res := run(t, s, "keep = 1")
	require.True(t, res.OK())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := s.Execute(ctx, executor.Request{Code: "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n", Timeout: 40 * time.Second})
	require.NotNil(t, res)
	assert.Less(t, time.Since(start), 30*time.Second)
	// Either the cgroup killed the kernel (kernel died: memory limit) or
	// the address-space limit made Python raise MemoryError.
	t.Logf("memory bomb: err=%v message=%q", err, res.Message)
	if err != nil {
		require.ErrorIs(t, err, executor.ErrKernelDied)
		assert.Contains(t, err.Error(), "memory limit")
		assert.Contains(t, res.Message, "memory limit")
		assert.True(t, res.StateLost)
	} else {
		require.Equal(t, executor.StatusError, res.Status, res.Text())
		assert.Equal(t, "MemoryError", res.Error.EName)
	}
	// We survive, and so does the session: the next execution works.
	res = run(t, s, "print('alive')")
	assert.Equal(t, "alive\n", stdout(res))
}

func TestForkedProcessDoesNotOutliveClose(t *testing.T) {
	for _, sandboxed := range []bool{true, false} {
		t.Run(fmt.Sprintf("sandbox=%v", sandboxed), func(t *testing.T) {
			jupytertest.RequireSandbox(t)
			marker := fmt.Sprintf("%d", 3000000+time.Now().UnixNano()%100000)
			s := open(t, session.Config{WorkDir: t.TempDir(), Sandbox: local.SandboxConfig{Disabled: !sandboxed}})
			res := run(t, s, fmt.Sprintf("import subprocess\np = subprocess.Popen(['sleep', '%s'], start_new_session=True)\nprint(p.pid)", marker))
			require.True(t, res.OK(), res.Text())
			require.Eventually(t, func() bool { return len(jupytertest.ProcessesMatching("sleep "+marker)) > 0 },
				10*time.Second, 20*time.Millisecond, "the forked process runs: %s", res.Text())
			runtime, pid := s.Server().RuntimeDir(), s.Server().Pid()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, s.Close(ctx))
			assertNothingLeft(t, runtime, pid)
			if sandboxed {
				// In the sandbox, every process is in the kernel's cgroup.
				assert.Eventually(t, func() bool { return len(jupytertest.ProcessesMatching("sleep "+marker)) == 0 }, 5*time.Second, 50*time.Millisecond)
			}
		})
	}
}

func TestRemoteSessionFiles(t *testing.T) {
	srv := jupytertest.Start(t)
	for _, through := range []bool{false, true} {
		t.Run(fmt.Sprintf("through-kernel=%v", through), func(t *testing.T) {
			testRemoteFiles(t, srv, through)
		})
	}
}

func testRemoteFiles(t *testing.T, srv *jupytertest.Server, throughKernel bool) {
	s := open(t, session.Config{URL: srv.URL, Token: srv.Token, FilesThroughKernel: throughKernel})
	// Start from an empty server root.
	entries, _ := os.ReadDir(srv.RootDir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(srv.RootDir, e.Name()))
	}
	require.True(t, s.Remote())
	ctx := context.Background()
	require.NoError(t, s.Upload(ctx, "in/data.csv", []byte("a,b\n1,2\n")))
	res := run(t, s, "import pandas as pd\nprint(pd.read_csv('in/data.csv').b.sum())\nopen('out.txt','w').write('done')")
	require.True(t, res.OK(), res.Text())
	assert.Equal(t, "2\n", stdout(res))
	files, err := s.ListFiles(ctx)
	require.NoError(t, err)
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	assert.Equal(t, []string{"in/data.csv", "out.txt"}, paths)
	b, err := s.Download(ctx, "out.txt")
	require.NoError(t, err)
	assert.Equal(t, "done", string(b))
	// Binary data survives both ways.
	bin := make([]byte, 300000)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	require.NoError(t, s.Upload(ctx, "bin/data.bin", bin))
	got, err := s.Download(ctx, "bin/data.bin")
	require.NoError(t, err)
	assert.Equal(t, bin, got)
	_, err = s.Download(ctx, "../etc/passwd")
	assert.Error(t, err)
}

func TestEmbeddedUnsandboxedFiles(t *testing.T) {
	jupytertest.Require(t)
	work := t.TempDir()
	s := open(t, session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disabled: true}})
	ctx := context.Background()
	require.NoError(t, s.Upload(ctx, "sub/x.txt", []byte("42")))
	res := run(t, s, "print(open('sub/x.txt').read())")
	assert.Equal(t, "42\n", stdout(res))
	files, err := s.ListFiles(ctx)
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "sub/x.txt", files[0].Path)
	assert.EqualValues(t, 2, files[0].Size)
}

func TestMissingJupyterBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := session.Open(ctx, session.Config{WorkDir: t.TempDir(), JupyterBinary: "/nonexistent/jupyter-server"})
	require.Error(t, err)
	assert.ErrorIs(t, err, local.ErrNotInstalled)
	assert.Contains(t, err.Error(), "scripts/setup.sh")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestServerKilledMidRun(t *testing.T) {
	jupytertest.Require(t)
	s := open(t, session.Config{WorkDir: t.TempDir(), Sandbox: local.SandboxConfig{Disabled: true}})
	run(t, s, "x = 1")
	runtime := s.Server().RuntimeDir()
	// Kill the server and its kernels out from under the session.
	for _, pid := range append(jupytertest.ProcessesMatching(runtime), s.Server().Pid()) {
		p, _ := os.FindProcess(pid)
		_ = p.Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := s.Execute(ctx, executor.Request{Code: "print(x)", Timeout: 10 * time.Second})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.NotContains(t, err.Error(), s.Server().Token())
	_ = res
}

func TestSandboxProcessLimitAndInterrupt(t *testing.T) {
	jupytertest.RequireSandbox(t)
	s := open(t, session.Config{WorkDir: t.TempDir(), Sandbox: local.SandboxConfig{Processes: 40}})
	res := run(t, s, `import subprocess
procs, err = [], None
try:
    for i in range(200):
        procs.append(subprocess.Popen(['sleep', '30']))
except OSError as e:
    err = type(e).__name__
for p in procs:
    p.kill(); p.wait()
print(len(procs) < 200, err)`)
	require.True(t, res.OK(), res.Text())
	assert.Equal(t, "True BlockingIOError\n", stdout(res))

	// A timeout interrupts the sandboxed kernel and keeps its state.
	run(t, s, "kept = 'yes'")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.Execute(ctx, executor.Request{Code: "import time\ntime.sleep(60)", Timeout: time.Second})
	require.ErrorIs(t, err, executor.ErrTimeout)
	assert.True(t, res.Interrupted)
	assert.False(t, res.StateLost, res.Message)
	res = run(t, s, "print(kept)")
	assert.Equal(t, "yes\n", stdout(res))
}

// Kernel sockets live in the runtime directory; a long TMPDIR must not make
// their paths too long.
func TestEmbeddedServerWithLongTMPDIR(t *testing.T) {
	jupytertest.RequireSandbox(t)
	long := filepath.Join(t.TempDir(), strings.Repeat("a-rather-long-directory-name/", 4))
	require.NoError(t, os.MkdirAll(long, 0o755))
	t.Setenv("TMPDIR", long)
	s := open(t, session.Config{WorkDir: t.TempDir()})
	res := run(t, s, "print('ok')")
	assert.Equal(t, "ok\n", stdout(res))
}

func localNoSandbox() local.SandboxConfig { return local.SandboxConfig{Disabled: true} }

// Close shuts the kernel down gracefully before it ends the embedded
// server's processes at once, so a file the code left open is flushed and
// atexit handlers run, sandboxed or not, and nothing is left behind.
func TestCloseShutsTheKernelDownGracefully(t *testing.T) {
	for _, sandboxed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sandboxed=%v", sandboxed), func(t *testing.T) {
			if sandboxed {
				jupytertest.RequireSandbox(t)
			} else {
				jupytertest.Require(t)
			}
			work := t.TempDir()
			var logs lockedBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s := open(t, session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disabled: !sandboxed}, Logger: log})
			run(t, s, "f = open('unflushed.txt', 'w')\nf.write('data')\nimport atexit\natexit.register(lambda: open('atexit.txt', 'w').write('ran'))")
			runtimeDir, pid := s.Server().RuntimeDir(), s.Server().Pid()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, s.Close(ctx))
			b, err := os.ReadFile(filepath.Join(work, "unflushed.txt"))
			require.NoError(t, err)
			assert.Equal(t, "data", string(b))
			b, err = os.ReadFile(filepath.Join(work, "atexit.txt"))
			require.NoError(t, err)
			assert.Equal(t, "ran", string(b))
			assertNothingLeft(t, runtimeDir, pid)
			// The kernel was asked over its websocket; the server did not
			// have to be.
			assert.NotContains(t, logs.String(), "method=DELETE")
			assert.NotContains(t, logs.String(), "shutdown over the websocket failed")
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An empty WorkDir is a fresh private directory, never the process's own
// working directory, and it is gone after Close.
func TestEmptyWorkDirIsPrivate(t *testing.T) {
	jupytertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := session.Open(ctx, session.Config{Sandbox: local.SandboxConfig{Disabled: true}})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			s.Close(context.Background())
		}
	}()
	work := s.WorkDir()
	cwd, _ := os.Getwd()
	assert.NotEqual(t, cwd, work)
	res := run(t, s, "import os\nopen('written.txt', 'w').write('x')\nprint(os.getcwd())")
	assert.Equal(t, work+"\n", stdout(res))
	assert.NoFileExists(t, filepath.Join(cwd, "written.txt"))
	assert.FileExists(t, filepath.Join(work, "written.txt"))
	require.NoError(t, s.Close(ctx))
	closed = true
	assert.NoDirExists(t, work, "removed by Close")
}
