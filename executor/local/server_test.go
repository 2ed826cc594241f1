package local_test

import (
	"bufio"
	"context"
	"fmt"
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

	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// The server's token is on no command line of the host while it runs, and
// the server listens on no TCP port.
func TestServerTokenOnNoCommandLine(t *testing.T) {
	s := open(t, session.Config{})
	py(t, s, "x = 1")
	token := s.Server().Token()
	require.Len(t, token, 48)
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	seen := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		seen++
		assert.NotContains(t, string(b), token, "token on the command line of pid %s", e.Name())
	}
	assert.Greater(t, seen, 3)

	// No listening TCP socket belongs to the server.
	pid := s.Server().Pid()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	require.NotEmpty(t, inodes)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 9 && fields[3] == "0A" { // LISTEN
				assert.False(t, inodes[fields[9]], "the server listens on TCP: %s", line)
			}
		}
	}
}

// No other local user can reach the server: its socket is in a 0700
// directory. Even with the token, nobody cannot POST /api/terminals; and
// terminals are off for its owner too.
func TestServerUnreachableForOtherUsers(t *testing.T) {
	s := open(t, session.Config{})
	sock := s.Server().Socket()
	st, err := os.Stat(filepath.Dir(sock))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	st, err = os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm()&0o777)

	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	if os.Geteuid() == 0 {
		runuser, err := exec.LookPath("setpriv")
		require.NoError(t, err)
		cmd := exec.Command(runuser, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
			curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
			"--unix-socket", sock, "-X", "POST", "-H", "Authorization: token "+s.Server().Token(), "http://localhost/api/terminals")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "nobody reached the server: %s", out)
		assert.Contains(t, string(out), "000")
	}

	// Its owner gets no terminal either.
	cmd := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
		"--unix-socket", sock, "-X", "POST", "-H", "Authorization: token "+s.Server().Token(), "http://localhost/api/terminals")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "404", string(out))
}

// A server left behind by a SIGKILLed process (its private directory, the
// overlay over its work directory with the disk image, its cgroups) is
// swept by the next Start; what its kernel wrote reaches the work
// directory. Directories whose owner lives are left alone.
func TestStaleServerSwept(t *testing.T) {
	requireRoot(t)
	jupytertest.RequireSandbox(t)
	work := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleServerChild$")
	cmd.Env = append(os.Environ(), "AGENTTEAM_STALE_CHILD="+work, "AGENTTEAM_STALE_TMP="+os.TempDir())
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var runtimeDir string
	lines := bufio.NewScanner(out)
	timer := time.AfterFunc(120*time.Second, func() { _ = cmd.Process.Kill() })
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "READY %s", &runtimeDir); err == nil {
			break
		}
	}
	timer.Stop()
	require.NotEmpty(t, runtimeDir, "the child started a server")
	priv := filepath.Dir(runtimeDir)
	owner, err := os.ReadFile(filepath.Join(priv, "owner"))
	require.NoError(t, err)
	assert.Contains(t, string(owner), work)
	require.True(t, mounted(work), "the work directory has the overlay")
	cgroups := cgroupsOf(strconv.Itoa(cmd.Process.Pid))
	require.NotEmpty(t, cgroups)

	// A directory of a live owner (this process) must survive the sweep.
	live, err := os.MkdirTemp("", "atj-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(live) })
	b, _ := os.ReadFile("/proc/self/stat")
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	require.NoError(t, os.WriteFile(filepath.Join(live, "owner"), []byte(fmt.Sprintf(`{"pid":%d,"start":%s}`, os.Getpid(), f[19])), 0o600))
	// Neither must one without an owner record.
	unowned, err := os.MkdirTemp("", "atj-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(unowned) })

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	s := open(t, session.Config{})
	_ = s
	_, err = os.Stat(priv)
	assert.True(t, os.IsNotExist(err), "the stale directory is gone")
	assert.False(t, mounted(work), "the stale overlay is unmounted")
	for _, cg := range cgroups {
		_, err := os.Stat(cg)
		assert.True(t, os.IsNotExist(err), "stale cgroup %s", cg)
	}
	data, err := os.ReadFile(filepath.Join(work, "from-the-dead-run.txt"))
	require.NoError(t, err)
	assert.Equal(t, "kept", string(data))
	_, err = os.Stat(live)
	assert.NoError(t, err, "a live owner's directory was removed")
	_, err = os.Stat(unowned)
	assert.NoError(t, err, "a directory without owner was removed")
}

// TestStaleServerChild is the child of TestStaleServerSwept: it starts a
// sandboxed server with a disk limit, writes a file from the kernel, says
// where it is, and waits to be killed.
func TestStaleServerChild(t *testing.T) {
	work := os.Getenv("AGENTTEAM_STALE_CHILD")
	if work == "" {
		t.Skip("only run as the child of TestStaleServerSwept")
	}
	// Where the parent's sweep looks.
	os.Setenv("TMPDIR", os.Getenv("AGENTTEAM_STALE_TMP"))
	s, err := session.Open(context.Background(), session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disk: 64 << 20}})
	require.NoError(t, err)
	py(t, s, "open('from-the-dead-run.txt', 'w').write('kept')")
	fmt.Printf("READY %s\n", s.Server().RuntimeDir())
	time.Sleep(2 * time.Minute)
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// cgroupsOf lists the sandbox cgroups whose name records pid as owner.
func cgroupsOf(pid string) []string {
	var out []string
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"} {
		m, _ := filepath.Glob(filepath.Join(root, "agentteam-"+pid+"-*"))
		out = append(out, m...)
	}
	return out
}

// A host that lacks a part of the sandbox gets a typed error naming it, and
// nothing starts.
func TestMissingSandboxFeatureRefusesToStart(t *testing.T) {
	requireRoot(t)
	jupytertest.RequireSandbox(t)
	bwrap, err := exec.LookPath("bwrap")
	require.NoError(t, err)
	for _, c := range []struct {
		name    string
		path    []string // programs on PATH
		feature string
	}{
		{"no bubblewrap", nil, "bubblewrap"},
		{"no mkfs.ext4", []string{bwrap}, "workspace disk limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := t.TempDir()
			for _, p := range c.path {
				require.NoError(t, os.Symlink(p, filepath.Join(bin, filepath.Base(p))))
			}
			t.Setenv("PATH", bin)
			work := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			srv, err := local.Start(ctx, local.Config{Binary: "/usr/bin/jupyter-server", WorkDir: work})
			if srv != nil {
				_ = srv.Close(ctx)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, local.ErrNoSandbox)
			var fe *local.FeatureError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.feature, fe.Feature)
			assert.False(t, mounted(work))
			assert.Empty(t, cgroupsOf(strconv.Itoa(os.Getpid())), "cgroups left")
		})
	}
}
