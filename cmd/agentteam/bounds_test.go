package main

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// vmHWM is the peak resident set of a process, in bytes (0 once it is
// gone).
func vmHWM(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// allocated is the disk space the files under dir take (what du counts:
// a sparse file takes what it has written).
func allocated(t *testing.T, dir string) (total int64) {
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err == nil {
			total += st.Blocks * 512
		}
		return nil
	}))
	return total
}

// Kernel code writes a 3 GB sparse file and a 60 MB image, and displays
// the image: agentteam's own peak memory stays under 400 MiB and --out
// under 150 MiB, the sparse file is listed as skipped in report.md, and
// the run finishes.
func TestSolveBigFilesAndImagesStayBounded(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	replay := filepath.Join(dir, "replay.md")
	code := "Make big outputs.\n```python\n" + `import os
with open('sparse.bin', 'wb') as f:
    f.truncate(3 << 30)
from IPython.display import display, Image
data = b'\x89PNG\r\n\x1a\n' + os.urandom(60 << 20)
open('big.png', 'wb').write(data)
display(Image(data=data, format='png'))
del data
print('made')
` + "```"
	require.NoError(t, os.WriteFile(replay, []byte("1. Make big outputs.\n---\n"+code+"\n---\nMade.\n---\nDone.\nTERMINATE\n"), 0o644))
	bin := buildBinary(t)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "solve", "Make big outputs", "--model", "replay:"+replay, "--out", out)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR")}
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(4 * time.Minute)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			peak = max(peak, vmHWM(cmd.Process.Pid))
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("solve did not finish: %s %s", so.String(), se.String())
		}
	}
	require.Equal(t, 0, cmd.ProcessState.ExitCode(), "stdout: %s\nstderr: %s", so.String(), se.String())
	t.Logf("agentteam peak RSS (VmHWM): %d MiB; --out takes %d MiB on disk", peak>>20, allocated(t, out)>>20)
	require.Greater(t, peak, int64(0), "the peak was measured")
	assert.Less(t, peak, int64(400<<20), "agentteam's peak RSS")
	assert.Less(t, allocated(t, out), int64(150<<20), "--out on disk")
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "sparse.bin (3221225472 bytes): larger than the per-file limit")
	_, err = os.Stat(filepath.Join(out, "files", "sparse.bin"))
	assert.True(t, os.IsNotExist(err), "the sparse file was not copied")
	assert.Empty(t, jupytertest.ProcessesMatching(out), "no kernel or server left")
}
