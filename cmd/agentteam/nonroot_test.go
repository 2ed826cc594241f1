package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// userUID runs agentteam as a user without a passwd entry.
const userUID = 64124

// asUser runs agentteam with args in dir as userUID; it returns stdout,
// stderr and the exit code.
func asUser(t *testing.T, bin, home, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C.UTF-8"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: userUID, Gid: userUID, Groups: []uint32{}}}
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	require.NoError(t, cmd.Start())
	timer := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	_ = cmd.Wait()
	timer.Stop()
	return so.String(), se.String(), cmd.ProcessState.ExitCode()
}

// A normal user's `agentteam exec` and `agentteam solve` run sandboxed,
// with the files where they belong, one line on stderr saying how the
// limits are kept without root, and the disk limit stopping a kernel that
// writes past it. Root runs say nothing of the kind.
func TestUnprivilegedExecAndSolve(t *testing.T) {
	jupytertest.RequireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("runs agentteam as another user, which needs root")
	}
	bin := filepath.Join(mkdirMode(t, "/tmp", 0o755), "agentteam")
	copyFile(t, buildBinary(t), bin, 0o755)
	require.NoError(t, os.MkdirAll("/home", 0o755))
	home := mkdirMode(t, "/home", 0o700)
	require.NoError(t, os.Chown(home, userUID, userUID))
	proj := filepath.Join(home, "proj")
	require.NoError(t, os.Mkdir(proj, 0o755))
	require.NoError(t, os.Chown(proj, userUID, userUID))

	stdout, stderr, code := asUser(t, bin, home, proj, "exec", "-c", "open('made.txt', 'w').write('x')\nimport os\nprint(1 + 1, os.getuid())")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Equal(t, "2 65534\n", stdout)
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	require.Len(t, lines, 1, stderr)
	assert.Equal(t, "agentteam: note: the sandbox's limits are weaker for this user (no cgroups or mounts): memory per process, not per kernel; "+
		"processes counted with all of this user's; the disk limit kept by watching the work directory (--verbose for details)", lines[0])
	_, stderr, code = asUser(t, bin, home, proj, "exec", "--verbose", "-c", "1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "the disk limit (10 GiB) is kept by watching the work directory", "the details with --verbose")
	assert.Contains(t, stderr, "memory is limited per process (4 GiB")
	b, err := os.ReadFile(filepath.Join(proj, "made.txt"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))

	// A kernel writing past --disk is stopped, and the error says why.
	stdout, stderr, code = asUser(t, bin, home, proj, "exec", "--disk", "32MiB", "-c", "for i in range(64):\n    open('f%d' % i, 'wb').write(b'x' * (1 << 20))\nimport time\ntime.sleep(5)")
	assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Contains(t, stderr, "the kernels wrote more than the sandbox disk limit (32 MiB) to the work directory and were stopped")
	// --disk none: no watcher, and the note does not mention one.
	stdout, stderr, code = asUser(t, bin, home, proj, "exec", "--disk", "none", "-c", "print(3)")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Equal(t, "3\n", stdout)
	assert.NotContains(t, stderr, "disk limit")

	// solve: the kernel's files are collected into files/, and the report
	// and the notebook record how the limits were kept.
	replay := filepath.Join(proj, "replay.md")
	require.NoError(t, os.WriteFile(replay, []byte("1. Write the result.\n---\n```python\nopen('result.txt', 'w').write('42')\nprint('written')\n```\n---\nWritten.\n---\nDone: 42.\nTERMINATE\n"), 0o644))
	out := filepath.Join(proj, "out")
	stdout, stderr, code = asUser(t, bin, home, proj, "solve", "Write 42 to result.txt", "--model", "replay:"+replay, "--out", out)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Contains(t, stdout+stderr, "the sandbox's limits are weaker for this user (no cgroups or mounts): memory per process, not per kernel")
	assert.Contains(t, stdout+stderr, "(details in report.md)")
	b, err = os.ReadFile(filepath.Join(out, "files", "result.txt"))
	require.NoError(t, err)
	assert.Equal(t, "42", string(b))
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "the sandbox kept its limits in a weaker form (no cgroups or mounts for this user): memory is limited per process")
	var nb struct {
		Metadata struct {
			Agentteam struct {
				SandboxNotes []string `json:"sandbox_notes"`
				Sandboxed    bool     `json:"sandboxed"`
			} `json:"agentteam"`
		} `json:"metadata"`
	}
	b, err = os.ReadFile(filepath.Join(out, "notebook.ipynb"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &nb))
	assert.True(t, nb.Metadata.Agentteam.Sandboxed)
	assert.NotEmpty(t, nb.Metadata.Agentteam.SandboxNotes)
	assert.Empty(t, jupytertest.ProcessesMatching(proj), "no kernel or server left")

	// As root: the limits hold as configured, and nothing is said.
	root := t.TempDir()
	cmd := exec.Command(bin, "exec", "-c", "print(4)")
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	require.NoError(t, cmd.Run(), se.String())
	assert.Equal(t, "4\n", so.String())
	assert.Empty(t, se.String())
}

func mkdirMode(t *testing.T, parent string, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp(parent, "agentteam-user-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	require.NoError(t, os.Chmod(d, mode))
	return d
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
