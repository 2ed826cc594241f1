// Package local starts an embedded jupyter-server for when no remote server
// is configured. Its kernels are sandboxed by default (see SandboxConfig).
//
// The server runs in its own process group with a private directory (mode
// 0700) holding its runtime, config and data directories, and listens on a
// unix socket in that directory, so no other local user can reach it. Its
// random token is in a 0600 config file, never on a command line, and
// terminals are off. Close stops it and every kernel and process its kernels
// started. If this process dies without calling Close, the operating system
// takes the server down with it (PR_SET_PDEATHSIG on Linux), kernels exit
// when their parent is gone, and the next Start sweeps what is left.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
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
	token   string
	dir     string // private dir: runtime, config, data, socket
	runtime string
	sock    string // the server's unix socket
	workDir string
	hc      *http.Client
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
	if runtime.GOOS == "windows" {
		return nil, errors.New("local jupyter: the embedded server listens on a unix socket, which is not available here; use a remote Jupyter server")
	}
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
	sweepStale(log)
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
	s.sock = filepath.Join(dir, "server.sock")
	s.hc = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.sock)
		},
	}}

	env := serverEnv(cfg.Sandbox)
	env = append(env,
		"JUPYTER_RUNTIME_DIR="+s.runtime,
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"),
		"JUPYTER_PLATFORM_DIRS=0",
		"PYDEVD_DISABLE_FILE_VALIDATION=1",
		// A config file that fails to load stops the server: without the
		// JSON one it would listen on TCP with a token of its own, without
		// the Python one it would start any kernel spec of the host.
		"TRAITLETS_APPLICATION_RAISE_CONFIG_FILE_ERROR=1",
	)
	// Settings go in a config file readable by this user only: the token
	// must not appear on a command line, where every local user can read
	// it, nor in the environment, which kernels inherit.
	serverCfg := map[string]any{
		"ServerApp": map[string]any{
			"token":             s.token,
			"password":          "",
			"sock":              s.sock,
			"sock_mode":         "0600",
			"terminals_enabled": false,
			"open_browser":      false,
			"root_dir":          work,
		},
	}
	var specDirs []string
	if !cfg.Sandbox.Disabled {
		if runtime.GOOS != "linux" {
			_, err := newSandbox(cfg, s)
			s.cleanupDir()
			return nil, err
		}
		// The sandboxed kernelspec is the only one this server starts
		// (see specsConfig); it is also first on JUPYTER_PATH, where it
		// replaces the system's python3 spec. Kernels talk to the server
		// over unix sockets in their own directory.
		jp := sandboxJupyterPath(dir)
		specDirs = []string{filepath.Join(jp, "kernels")}
		env = append(env, "JUPYTER_PATH="+jp)
		serverCfg["KernelManager"] = map[string]any{"transport": "ipc"}
	}
	if err := writeSpecsConfig(filepath.Join(dir, "config"), specDirs); err != nil {
		s.close(0)
		return nil, fmt.Errorf("local jupyter: %w", err)
	}
	b, _ := json.MarshalIndent(serverCfg, "", " ")
	if err := os.WriteFile(filepath.Join(dir, "config", "jupyter_server_config.json"), b, 0o600); err != nil {
		s.close(0)
		return nil, fmt.Errorf("local jupyter: %w", err)
	}
	args := append(append([]string{}, baseArgs...), "--no-browser")
	if os.Geteuid() == 0 {
		args = append(args, "--allow-root")
	}
	if err := s.start(argv0, args, env); err != nil {
		s.close(0)
		return nil, err
	}
	if !cfg.Sandbox.Disabled {
		// The sandbox is set up while the server starts (a third of a
		// second of Python imports, at least). The server has no kernel
		// to start until the sandbox's kernel spec is written, the last
		// step: it searches no other spec directory.
		sb, err := newSandbox(cfg, s)
		if err != nil {
			s.close(0)
			return nil, err
		}
		s.sandbox = sb
		if sb.workDir != "" {
			s.workDir = sb.workDir
		}
	}
	if err := s.waitReady(ctx); err != nil {
		s.close(0)
		return nil, err
	}
	log.Debug("embedded jupyter-server ready", "socket", s.sock, "workdir", s.workDir, "sandbox", s.sandbox != nil)
	return s, nil
}

// serverEnv is the environment of the server (and of unsandboxed kernels):
// for a sandboxed server, only what it needs to run; unsandboxed, this
// process's environment without variables that look like secrets. Names in
// sc.Env always go through.
func serverEnv(sc SandboxConfig) []string {
	named := map[string]bool{}
	for _, n := range sc.Env {
		named[n] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case named[name]:
		case strings.HasPrefix(name, "JUPYTER") || strings.HasPrefix(name, "JPY_"):
			continue
		case sc.Disabled && !secretName(name):
		case serverVars[name] || strings.HasPrefix(name, "LC_"):
		default:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// serverVars are passed from this process to a sandboxed server.
var serverVars = map[string]bool{"PATH": true, "HOME": true, "LANG": true, "TZ": true, "TMPDIR": true, "SYSTEMROOT": true}

// secretName reports whether an environment variable's name says it holds a
// secret.
func secretName(name string) bool {
	u := strings.ToUpper(name)
	for _, suf := range []string{"_KEY", "_TOKEN", "_SECRET", "_PASSWORD"} {
		if strings.HasSuffix(u, suf) {
			return true
		}
	}
	return u == "JUPYTER_TOKEN"
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

// start starts the server process; waitReady waits until it answers.
func (s *Server) start(argv0 string, args, env []string) error {
	cmd := exec.Command(argv0, args...)
	cmd.Dir = s.workDir
	cmd.Env = env
	cmd.Stdout = s.logBuf
	cmd.Stderr = s.logBuf
	cmd.SysProcAttr = serverProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("local jupyter: start %s: %w", argv0, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	done := s.done
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	done := s.done
	limit := s.cfg.StartTimeout
	if limit <= 0 {
		limit = DefaultStartTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, "http://localhost/api/status", nil)
		req.Header.Set("Authorization", "token "+s.token)
		if resp, err := s.hc.Do(req); err == nil {
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
		case <-time.After(10 * time.Millisecond):
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

// URL is the server's base URL for a client that dials Socket: the server
// listens on no TCP port.
func (s *Server) URL() string { return "http://localhost/" }

// Socket is the path of the unix socket the server listens on, in a
// directory only this user can enter.
func (s *Server) Socket() string { return s.sock }

// Token is the server's random token.
func (s *Server) Token() string { return s.token }

// WorkDir is the kernels' working directory (absolute). Under a disk limit
// it is the configured work directory with the limited filesystem mounted
// over it until Close.
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

// LimitNotes says, one sentence each, where this host keeps the sandbox's
// limits in a weaker form than SandboxConfig describes (without root:
// memory per process, processes counted for the whole user, the disk limit
// kept by watching); nil when they hold as described or there is no
// sandbox.
func (s *Server) LimitNotes() []string {
	if s.sandbox == nil {
		return nil
	}
	return s.sandbox.limitNotes()
}

// Close stops the server, every kernel and every process the kernels
// started, and, under a disk limit, copies what the kernels wrote into the
// work directory. It is safe to call more than once.
// LimitSummary says in one short line what LimitNotes details ("" when
// there is nothing to say).
func (s *Server) LimitSummary() string {
	if s.sandbox == nil {
		return ""
	}
	short := s.sandbox.limitSummary()
	if len(short) == 0 {
		return ""
	}
	return "the sandbox's limits are weaker for this user (no cgroups or mounts): " + strings.Join(short, "; ")
}

func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.close(3 * time.Second) })
	return s.closeErr
}

// CloseNow is Close without giving the server time to shut its kernels
// down: the server's process group and every kernel process end at once.
// Use it when the kernels were already shut down (a kernel killed this way
// does not flush files its code left open).
func (s *Server) CloseNow(ctx context.Context) error {
	s.closeOnce.Do(func() { s.close(0) })
	return s.closeErr
}

// close kills everything (giving the server grace to stop its kernels),
// releases the sandbox and removes the private directory.
func (s *Server) close(grace time.Duration) {
	s.killAll(grace)
	if s.sandbox != nil {
		if err := s.sandbox.cleanup(); err != nil {
			s.closeErr = err
		}
	}
	s.cleanupDir()
}

// maxRuntimeDir bounds the runtime directory's path: kernels' unix sockets
// live there (as RUNTIME/kernel-<uuid>-ipc-<n>) and a socket path may not be
// longer than 107 bytes.
const maxRuntimeDir = 50

// privateDir makes the server's private directory (mode 0700) in the
// temporary directory, or in /tmp when that path would be too long for
// sockets, and records this process in it as the owner, so that a later
// Start can remove it once this process is gone.
func privateDir() (string, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return "", err
	}
	if len(filepath.Join(dir, "runtime")) > maxRuntimeDir && runtime.GOOS != "windows" {
		os.Remove(dir)
		if dir, err = os.MkdirTemp("/tmp", dirPrefix); err != nil {
			return "", err
		}
	}
	if err := writeOwner(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// dirPrefix names the servers' private directories.
const dirPrefix = "atj-"

// cleanupDir removes the private directory, unless something is still
// mounted in it.
func (s *Server) cleanupDir() {
	if s.dir != "" && !mountedUnder(s.dir) {
		_ = os.RemoveAll(s.dir)
	}
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
