// Package local starts an embedded jupyter-server on 127.0.0.1 for when no
// remote server is configured. Its kernels are sandboxed by default (see
// SandboxConfig).
//
// The server runs in its own process group with a private runtime, config
// and data directory, a free port and a random token. Close stops it and
// every kernel and process its kernels started. If this process dies
// without calling Close, the kernel takes the server down with it
// (PR_SET_PDEATHSIG), and kernels exit when their parent is gone.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentteam/agentteam/internal/procs"
)

// DefaultStartTimeout bounds the server's start-up when Config.StartTimeout
// is zero.
const DefaultStartTimeout = 60 * time.Second

// ErrNotInstalled is returned when no Jupyter server can be found.
var ErrNotInstalled = errors.New("jupyter-server is not installed (install it with `bash scripts/setup.sh` or `apt-get install jupyter-server python3-ipykernel`, or point agentteam at a remote server with --jupyter-url)")

// Config configures the embedded server.
type Config struct {
	// Binary is the jupyter-server executable; "" finds jupyter-server on
	// PATH, else `jupyter server`.
	Binary string
	// WorkDir is the server's root directory and every kernel's working
	// directory. Required.
	WorkDir string
	// Python runs the kernel when sandboxed; "" takes it from the installed
	// python3 kernelspec, else /usr/bin/python3.
	Python string
	// StartTimeout bounds start-up; zero means DefaultStartTimeout.
	StartTimeout time.Duration
	// Sandbox confines the kernels; see SandboxConfig.
	Sandbox SandboxConfig
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded jupyter-server.
type Server struct {
	cfg     Config
	url     string
	token   string
	dir     string // private dir: runtime, config, data, log
	runtime string
	workDir string
	cmd     *exec.Cmd
	done    chan struct{}
	logBuf  *tailBuffer
	log     *slog.Logger
	sandbox *sandbox

	closeOnce sync.Once
	closeErr  error
}

// Start launches the server and waits until it answers.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("local jupyter: no work directory given")
	}
	work, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("local jupyter: work directory: %w", err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("local jupyter: work directory: %w", err)
	}
	if work, err = filepath.EvalSymlinks(work); err != nil {
		return nil, fmt.Errorf("local jupyter: work directory: %w", err)
	}
	argv0, baseArgs, err := findBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := privateDir()
	if err != nil {
		return nil, fmt.Errorf("local jupyter: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		dir:     dir,
		runtime: filepath.Join(dir, "runtime"),
		workDir: work,
		done:    make(chan struct{}),
		logBuf:  &tailBuffer{max: 16 << 10},
		log:     log,
	}
	for _, d := range []string{s.runtime, filepath.Join(dir, "config"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			s.cleanupDir()
			return nil, fmt.Errorf("local jupyter: %w", err)
		}
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	s.token = hex.EncodeToString(tok)

	env := append(os.Environ(),
		"JUPYTER_RUNTIME_DIR="+s.runtime,
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"),
		"JUPYTER_PLATFORM_DIRS=0",
		"PYDEVD_DISABLE_FILE_VALIDATION=1",
	)
	var extra []string
	if !cfg.Sandbox.Disabled {
		sb, err := newSandbox(cfg, s)
		if err != nil {
			s.cleanupDir()
			return nil, err
		}
		s.sandbox = sb
		// The sandboxed kernelspec lives first on JUPYTER_PATH, so it
		// replaces the system's python3 spec for this server.
		env = append(env, "JUPYTER_PATH="+sb.jupyterPath)
		extra = append(extra, "--KernelManager.transport=ipc")
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			s.cleanupDir()
			return nil, fmt.Errorf("local jupyter: no free port: %w", err)
		}
		s.url = fmt.Sprintf("http://127.0.0.1:%d/", port)
		args := append(append([]string{}, baseArgs...),
			"--no-browser",
			"--ServerApp.ip=127.0.0.1",
			"--ServerApp.port="+strconv.Itoa(port),
			"--ServerApp.port_retries=0",
			"--ServerApp.root_dir="+work,
			"--ServerApp.token="+s.token,
			"--ServerApp.password=",
		)
		if os.Geteuid() == 0 {
			args = append(args, "--allow-root")
		}
		args = append(args, extra...)
		lastErr = s.launch(ctx, argv0, args, env)
		if lastErr == nil {
			log.Debug("embedded jupyter-server ready", "url", s.url, "workdir", work, "sandbox", s.sandbox != nil)
			return s, nil
		}
		if ctx.Err() != nil || !strings.Contains(s.logBuf.String(), "already in use") {
			break
		}
	}
	s.cleanupDir()
	return nil, lastErr
}

func findBinary(bin string) (string, []string, error) {
	if bin != "" {
		p, err := exec.LookPath(bin)
		if err != nil {
			return "", nil, fmt.Errorf("local jupyter: %q: %w; %w", bin, err, ErrNotInstalled)
		}
		if filepath.Base(p) == "jupyter" {
			return p, []string{"server"}, nil
		}
		return p, nil, nil
	}
	if p, err := exec.LookPath("jupyter-server"); err == nil {
		return p, nil, nil
	}
	if p, err := exec.LookPath("jupyter"); err == nil {
		if exec.Command(p, "server", "--version").Run() == nil {
			return p, []string{"server"}, nil
		}
	}
	return "", nil, ErrNotInstalled
}

func (s *Server) launch(ctx context.Context, argv0 string, args, env []string) error {
	cmd := exec.Command(argv0, args...)
	cmd.Dir = s.workDir
	cmd.Env = env
	cmd.Stdout = s.logBuf
	cmd.Stderr = s.logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("local jupyter: start %s: %w", argv0, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	done := s.done
	go func() { _ = cmd.Wait(); close(done) }()

	limit := s.cfg.StartTimeout
	if limit <= 0 {
		limit = DefaultStartTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, s.url+"api/status", nil)
		req.Header.Set("Authorization", "token "+s.token)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("local jupyter: server exited during start-up: %s", s.logTail())
		case <-wctx.Done():
			s.killAll(3 * time.Second)
			if ctx.Err() != nil {
				return fmt.Errorf("local jupyter: start cancelled: %w", ctx.Err())
			}
			return fmt.Errorf("local jupyter: server not ready after %s: %s", limit, s.logTail())
		case <-time.After(40 * time.Millisecond):
		}
	}
}

// logTail is the last lines of the server's log, without the token.
func (s *Server) logTail() string {
	text := strings.TrimSpace(s.logBuf.String())
	text = strings.ReplaceAll(text, s.token, "[REDACTED]")
	lines := strings.Split(text, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}

// URL is the server's base URL (http://127.0.0.1:PORT/).
func (s *Server) URL() string { return s.url }

// Token is the server's random token.
func (s *Server) Token() string { return s.token }

// WorkDir is the kernels' working directory (absolute).
func (s *Server) WorkDir() string { return s.workDir }

// RuntimeDir holds the kernels' connection files.
func (s *Server) RuntimeDir() string { return s.runtime }

// Pid is the server process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Sandboxed reports whether kernels run in the sandbox.
func (s *Server) Sandboxed() bool { return s.sandbox != nil }

// LogTail is the last lines of the server's output on one line, token
// redacted: for error messages.
func (s *Server) LogTail() string { return s.logTail() }

// Log returns the end of the server's output, token redacted.
func (s *Server) Log() string {
	return strings.ReplaceAll(s.logBuf.String(), s.token, "[REDACTED]")
}

// DeathCause explains why a kernel died when the sandbox knows (e.g. it hit
// the memory limit); "" otherwise.
func (s *Server) DeathCause(kernelID string) string {
	if s.sandbox == nil {
		return ""
	}
	return s.sandbox.deathCause(kernelID)
}

// Close stops the server, every kernel and every process the kernels
// started. It is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.killAll(3 * time.Second)
		s.cleanupDir()
	})
	return s.closeErr
}

// CloseNow is Close without giving the server time to shut its kernels
// down: the server's process group and every kernel process end at once.
// Use it when the kernels were already shut down (a kernel killed this way
// does not flush files its code left open).
func (s *Server) CloseNow(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.killAll(0)
		s.cleanupDir()
	})
	return s.closeErr
}

// killAll asks the server to stop (waiting at most grace), then kills what is left: the server's
// process group, every kernel (found by our runtime dir in its command
// line), every process in a kernel's session, and every process in the
// sandbox's cgroups.
func (s *Server) killAll(grace time.Duration) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	kernels := procs.Matching(s.runtime)
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	kernels = append(kernels, procs.Matching(s.runtime)...)
	victims := map[int]bool{}
	for _, pid := range kernels {
		victims[pid] = true
		for _, p := range procs.SessionMembers(pid) {
			victims[p] = true
		}
	}
	if s.sandbox != nil {
		for _, p := range s.sandbox.processes() {
			victims[p] = true
		}
	}
	for pid := range victims {
		if pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
	if s.sandbox != nil {
		s.sandbox.cleanup()
	}
}

func (s *Server) cleanupDir() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// maxRuntimeDir bounds the runtime directory's path: kernels' unix sockets
// live there (as RUNTIME/kernel-<uuid>-ipc-<n>) and a socket path may not be
// longer than 107 bytes.
const maxRuntimeDir = 50

// privateDir makes the server's private directory in the temporary
// directory, or in /tmp when that path would be too long for sockets.
func privateDir() (string, error) {
	dir, err := os.MkdirTemp("", "atj-")
	if err != nil {
		return "", err
	}
	if len(filepath.Join(dir, "runtime")) <= maxRuntimeDir {
		return dir, nil
	}
	os.Remove(dir)
	return os.MkdirTemp("/tmp", "atj-")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var _ io.Writer = (*tailBuffer)(nil)
