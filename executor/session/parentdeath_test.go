package session_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// TestParentDeathTakesServerDown: when the process that started the
// embedded server is SIGKILLed (no Close, no signal handler), the server
// and its sandboxed kernel go with it.
func TestParentDeathTakesServerDown(t *testing.T) {
	jupytertest.RequireSandbox(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestParentDeathChild$")
	cmd.Env = append(os.Environ(), "AGENTTEAM_PARENT_DEATH_CHILD="+t.TempDir())
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	var serverPid int
	var runtimeDir string
	lines := bufio.NewScanner(out)
	deadline := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "READY %d %s", &serverPid, &runtimeDir); err == nil {
			break
		}
	}
	deadline.Stop()
	require.NotZero(t, serverPid, "the child started a server")
	require.NotEmpty(t, jupytertest.ProcessesMatching(runtimeDir), "a kernel runs")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	assert.Eventually(t, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", serverPid))
		return err != nil || strings.Contains(string(b), ") Z ")
	}, 10*time.Second, 50*time.Millisecond, "the server died with its parent")
	assert.Eventually(t, func() bool { return len(jupytertest.ProcessesMatching(runtimeDir)) == 0 },
		15*time.Second, 100*time.Millisecond, "the kernel died with the server")
}

// TestParentDeathChild is the child of TestParentDeathTakesServerDown: it
// starts an embedded server with a kernel, says where they are, and waits
// to be killed.
func TestParentDeathChild(t *testing.T) {
	dir := os.Getenv("AGENTTEAM_PARENT_DEATH_CHILD")
	if dir == "" {
		t.Skip("only run as the child of TestParentDeathTakesServerDown")
	}
	// No disk limit: its overlay would stay mounted over dir until the next
	// start sweeps it (tested in executor/local).
	s, err := session.Open(context.Background(), session.Config{WorkDir: dir, Sandbox: local.SandboxConfig{Disk: -1}})
	require.NoError(t, err)
	fmt.Printf("READY %d %s\n", s.Server().Pid(), s.Server().RuntimeDir())
	time.Sleep(2 * time.Minute)
}

// A binary that is not a Jupyter server fails fast with its cause.
func TestBadJupyterBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := session.Open(ctx, session.Config{WorkDir: t.TempDir(), JupyterBinary: "/bin/false", Sandbox: localNoSandbox()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited during start-up")
	assert.Less(t, time.Since(start), 10*time.Second)
}
