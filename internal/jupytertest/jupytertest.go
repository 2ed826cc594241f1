//go:build linux

package jupytertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentteam/agentteam/internal/procs"
)

// Server is a running jupyter-server child process.
type Server struct {
	URL        string // http://127.0.0.1:PORT/ (with trailing slash)
	Token      string
	RootDir    string // the server's root_dir (kernels' working directory)
	RuntimeDir string // JUPYTER_RUNTIME_DIR: kernel connection files live here
	cmd        *exec.Cmd
	done       chan struct{}
	logFile    *os.File
}

// Binary returns the path of jupyter-server, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("jupyter-server"); err == nil {
		return p
	}
	return ""
}

// Require skips the test when jupyter-server is missing, or fails it on CI.
func Require(t testing.TB) {
	t.Helper()
	if Binary() != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("jupyter-server is not installed: run scripts/setup.sh")
	}
	t.Skip("jupyter-server is not installed: run scripts/setup.sh")
}

// RequireSandbox is Require plus bubblewrap, which the embedded server's
// sandbox needs: on CI a missing one fails the test, elsewhere it skips.
func RequireSandbox(t testing.TB) {
	t.Helper()
	Require(t)
	if _, err := exec.LookPath("bwrap"); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("bubblewrap is not installed: run scripts/setup.sh")
	}
	t.Skip("bubblewrap is not installed: run scripts/setup.sh")
}

// Start starts a server for one test; it is stopped (with every kernel) when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := StartProcess(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// StartElsewhere is Start with the server process running in cwd, a
// directory other than its root directory (as a service usually is): a
// kernel started without a path works in cwd, not in the root.
func StartElsewhere(t testing.TB, cwd string) *Server {
	t.Helper()
	Require(t)
	s, err := startProcess(t.TempDir(), cwd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// StartProcess starts a server whose root and runtime directories live under
// dir. Use it from TestMain to share one server across a package; call
// Close when done.
func StartProcess(dir string) (*Server, error) { return startProcess(dir, "") }

func startProcess(dir, cwd string) (*Server, error) {
	// The port is free when picked but may be taken before the server binds
	// it (another test's server, say): then the server exits at once
	// (port_retries=0), saying so, and another port is tried.
	for attempt := 1; ; attempt++ {
		s, err := startOnce(dir, cwd)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return s, err
		}
	}
}

// pickPort picks the server's port (a variable for the test of a port taken
// in between).
var pickPort = FreePort

var errPortTaken = errors.New("the port was taken before jupyter-server bound it")

func startOnce(dir, cwd string) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, fmt.Errorf("jupyter-server is not installed: run scripts/setup.sh")
	}
	root := filepath.Join(dir, "root")
	runtime := filepath.Join(dir, "runtime")
	for _, d := range []string{root, runtime} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	port, err := pickPort()
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	s := &Server{
		URL:        fmt.Sprintf("http://127.0.0.1:%d/", port),
		Token:      hex.EncodeToString(tok),
		RootDir:    root,
		RuntimeDir: runtime,
		done:       make(chan struct{}),
	}
	args := []string{
		"--no-browser",
		"--ServerApp.ip=127.0.0.1",
		"--ServerApp.port=" + strconv.Itoa(port),
		"--ServerApp.port_retries=0",
		"--ServerApp.token=" + s.Token,
		"--ServerApp.root_dir=" + root,
	}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-root")
	}
	s.logFile, err = os.Create(filepath.Join(dir, "jupyter-server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	if cwd != "" {
		cmd.Dir = cwd
	}
	cmd.Env = append(os.Environ(),
		"JUPYTER_RUNTIME_DIR="+runtime,
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(dir, "data"),
		"JUPYTER_PATH=/usr/share/jupyter",
		"PYDEVD_DISABLE_FILE_VALIDATION=1",
	)
	cmd.Stdout = s.logFile
	cmd.Stderr = s.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.logFile.Close()
		return nil, fmt.Errorf("start jupyter-server: %w", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(60 * time.Second); err != nil {
		log := s.Log()
		s.Close()
		if strings.Contains(log, "already in use") {
			return nil, fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	go func() {
		// A server that exits ends the wait, also while a request hangs
		// (on a port something else holds but does not answer on).
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"api/status", nil)
		req.Header.Set("Authorization", "token "+s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
			continue
		}
		select {
		case <-s.done:
			return fmt.Errorf("jupyter-server exited during start-up; log: %s", s.Log())
		default:
			return fmt.Errorf("jupyter-server not ready after %s; log: %s", limit, s.Log())
		}
	}
}

// Log returns the server's output so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logFile.Name())
	return string(b)
}

// Stop kills the server and every kernel it started (its process group),
// without removing its directories: Start it again with Restart.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
	// Kernels are in the same process group, but make sure.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	for _, pid := range ProcessesMatching(s.RuntimeDir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Close stops the server and its kernels.
func (s *Server) Close() {
	s.Stop()
	if s.logFile != nil {
		s.logFile.Close()
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// KernelPids lists the kernel processes this server started that are still
// running.
func (s *Server) KernelPids() []int { return ProcessesMatching(s.RuntimeDir) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ProcessesMatching lists the live processes (other than this one) whose
// command line contains substr.
func ProcessesMatching(substr string) []int { return procs.Matching(substr) }

// Main runs a package's tests with TMPDIR set to a fresh directory, so that
// every jupyter-server, kernel and embedded server the tests start (directly
// or through an agentteam process) keeps its files there; afterwards it
// checks that no process naming that directory is left, and fails the run
// when one is. Use it as `func TestMain(m *testing.M) { os.Exit(jupytertest.Main(m)) }`.
func Main(m interface{ Run() int }) int {
	dir, err := os.MkdirTemp("", "att-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "jupytertest:", err)
		return 1
	}
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir)
	code := m.Run()
	if had {
		os.Setenv("TMPDIR", old)
	} else {
		os.Unsetenv("TMPDIR")
	}
	deadline := time.Now().Add(10 * time.Second)
	left := ProcessesMatching(dir)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		left = ProcessesMatching(dir)
	}
	if len(left) > 0 {
		for _, pid := range left {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
			fmt.Fprintf(os.Stderr, "jupytertest: process %d left behind by the tests: %s\n", pid, strings.ReplaceAll(string(b), "\x00", " "))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if code == 0 {
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	return code
}
