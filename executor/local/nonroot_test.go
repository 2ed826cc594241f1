package local_test

// The sandbox as most people run it: as a user without root. Sessions of
// this project's tests run as root, so TestSandboxUnprivileged runs the
// attack tests again in this test binary as an unprivileged uid.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// unprivilegedEnv is set in the environment of the tests run as a user.
const unprivilegedEnv = "AGENTTEAM_TEST_UNPRIVILEGED"

// unprivilegedUID runs the tests as a user (no passwd entry needed).
const unprivilegedUID = 64123

// unprivilegedTests run as a user; each must pass there, none may skip
// (but the 32-bit ABI test, which skips where the machine has no such
// entry).
var unprivilegedTests = []string{
	"TestSandboxIdentityAndNamespaces",
	"TestSandboxHostEscapes",
	"TestSandboxEnvironment",
	"TestSandboxRuntimeSecrets",
	"TestSandboxCrossRun",
	"TestSandboxHostUnixSockets",
	"TestSandboxSeccompDeniesSyscalls",
	"TestSandboxDataStack",
	"TestSandboxFiguresAreDisplayed",
	"TestSandboxSeccompForeignABI",
	"TestServerTokenOnNoCommandLine",
	"TestServerUnreachableForOtherUsers",
	"TestSandboxUserFiles",
	"TestSandboxUserLimits",
	"TestSandboxDiskWatch",
}

// requireUser skips tests of what only a run without root has.
func requireUser(t *testing.T) {
	t.Helper()
	jupytertest.RequireSandbox(t)
	if os.Geteuid() == 0 {
		t.Skip("the sandbox without root: TestSandboxUnprivileged runs this as a user")
	}
}

// The sandbox's attack tests, as an unprivileged user.
func TestSandboxUnprivileged(t *testing.T) {
	jupytertest.RequireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("running as a user already: the tests of this package ran as one")
	}
	// The test binary, where the user can run it.
	bin, err := os.MkdirTemp("/tmp", "agentteam-user-bin-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(bin) })
	require.NoError(t, os.Chmod(bin, 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	exe := filepath.Join(bin, "local.test")
	copyExecutable(t, self, exe)
	// A home directory of the user's, as on a real machine.
	require.NoError(t, os.MkdirAll("/home", 0o755))
	home, err := os.MkdirTemp("/home", "agentteam-user-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	require.NoError(t, os.Chown(home, unprivilegedUID, unprivilegedUID))
	require.NoError(t, os.Chmod(home, 0o700))

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^("+strings.Join(unprivilegedTests, "|")+")$", "-test.v", "-test.count=1")
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "USER=agentteam-test", "LOGNAME=agentteam-test",
		"LANG=C.UTF-8", "CI=" + os.Getenv("CI"), unprivilegedEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: unprivilegedUID, Gid: unprivilegedUID, Groups: []uint32{}},
		Setpgid:    true,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	t.Logf("as uid %d:\n%s", unprivilegedUID, out)
	require.NoError(t, err, "the tests failed as a user")
	for _, name := range unprivilegedTests {
		assert.Regexp(t, regexp.MustCompile(`(?m)^--- (PASS|SKIP): `+name+` `), string(out), "%s did not run", name)
		if name != "TestSandboxSeccompForeignABI" {
			assert.NotRegexp(t, regexp.MustCompile(`(?m)^\s*--- SKIP: `+name+`\b`), string(out), "%s skipped as a user", name)
		}
	}
}

func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// userHome is a directory of the user's home: as the unprivileged user its
// home, as root one made under /home.
func userHome(t *testing.T) string {
	t.Helper()
	parent := "/home"
	if os.Getenv(unprivilegedEnv) != "" {
		parent = os.Getenv("HOME")
	}
	d, err := os.MkdirTemp(parent, "home-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Chmod(d, 0o700); os.RemoveAll(d) })
	return d
}

// The kernel works in a project of the user's home; it can neither read
// the user's other files nor write anywhere of the host's but the project.
func TestSandboxUserFiles(t *testing.T) {
	jupytertest.RequireSandbox(t)
	home := userHome(t)
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	key, notes := "ssh-key-canary-"+tag, "notes-canary-"+tag
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte(key), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, "notes.txt"), []byte(notes), 0o644))
	var shared []string
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		p := filepath.Join(d, "agentteam-user-secret-"+tag)
		if os.WriteFile(p, []byte(key), 0o600) == nil {
			shared = append(shared, p)
			t.Cleanup(func() { os.Remove(p) })
		}
	}
	require.NotEmpty(t, shared)
	work := filepath.Join(home, "project")
	require.NoError(t, os.Mkdir(work, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(work, "data.csv"), []byte("a\n1\n"), 0o644))
	s := open(t, session.Config{WorkDir: work})

	// Reading: the project is there, the rest of the home is not.
	assert.Equal(t, "a\n1\n", py(t, s, "print(open('data.csv').read(), end='')"))
	out := py(t, s, fmt.Sprintf("import os\nprint(sorted(os.listdir(%s)))", q(home)))
	assert.Equal(t, "['project']\n", out, "the kernel sees the home directory")
	for _, p := range append([]string{filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(home, "notes.txt")}, shared...) {
		out := py(t, s, tryCode(fmt.Sprintf("open(%s).read()", q(p))))
		assert.Contains(t, out, "FAILED", p)
	}
	var found struct {
		Found []string
		Seen  int
	}
	pyJSON(t, s, walkForSecrets(key, notes), &found)
	assert.Greater(t, found.Seen, 10, "the search read files")
	assert.Empty(t, found.Found, "the user's files readable by the kernel")

	// Writing: outside the project nothing reaches the host, by path, by
	// symlink or by hard link.
	escapes := []string{filepath.Join(home, "escape-"+tag), filepath.Join("/tmp", "agentteam-escape-"+tag),
		filepath.Join("/var/tmp", "agentteam-escape-"+tag), filepath.Join("/dev/shm", "agentteam-escape-"+tag)}
	for _, p := range escapes {
		t.Cleanup(func() { os.Remove(p) })
		py(t, s, tryCode(fmt.Sprintf("open(%s, 'w').write('x')", q(p))))
		py(t, s, tryCode(fmt.Sprintf("import os; os.symlink(%s, 'link-%d'); open('link-%d', 'w').write('x')", q(p), len(p), len(p))))
	}
	py(t, s, tryCode(fmt.Sprintf("import os; os.link(%s, 'hard')", q(filepath.Join(home, "notes.txt")))))
	py(t, s, tryCode("open('../escape-relative', 'w').write('x')"))
	for _, p := range append(escapes, filepath.Join(home, "escape-relative")) {
		_, err := os.Lstat(p)
		assert.True(t, os.IsNotExist(err), "the kernel wrote %s", p)
	}
	b, err := os.ReadFile(filepath.Join(home, "notes.txt"))
	require.NoError(t, err)
	assert.Equal(t, notes, string(b))
	_, err = os.Stat(filepath.Join(work, "hard"))
	assert.True(t, os.IsNotExist(err), "a hard link to a file outside the project")

	// What it writes in the project is there, at once.
	py(t, s, "open('result.txt', 'w').write('ok')")
	b, err = os.ReadFile(filepath.Join(work, "result.txt"))
	require.NoError(t, err)
	assert.Equal(t, "ok", string(b))
}

// Without root (no writable cgroups): each process's memory, the tmpfs
// mounts and the process count are bounded, and the server says how.
func TestSandboxUserLimits(t *testing.T) {
	requireUser(t)
	s := open(t, session.Config{Sandbox: local.SandboxConfig{Memory: 1 << 30, Processes: 64}})
	notes := strings.Join(s.Server().LimitNotes(), "\n")
	assert.Contains(t, notes, "memory is limited per process (1 GiB")
	assert.Contains(t, notes, "RLIMIT_NPROC")
	assert.Contains(t, notes, "disk limit (10 GiB)")

	out := py(t, s, tryCode("b = bytearray(3 << 29)"))
	assert.Equal(t, "FAILED MemoryError \n", out, "1.5 GiB in a 1 GiB kernel")
	// /tmp holds what RLIMIT_AS does not count: it has a size (a quarter
	// of the memory limit).
	out = py(t, s, `import os, errno
n = 0
try:
    with open('/tmp/fill', 'wb') as f:
        for i in range(400):
            f.write(b'x' * (1 << 20)); f.flush()
            n += 1
    print('no limit', n)
except OSError as e:
    print(errno.errorcode[e.errno], n)
os.remove('/tmp/fill')
`)
	var errName string
	var filled int
	_, err := fmt.Sscanf(out, "%s %d", &errName, &filled)
	require.NoError(t, err, out)
	assert.Equal(t, "ENOSPC", errName, out)
	assert.InDelta(t, 252, filled, 4, "MiB written to a 256 MiB /tmp")
	// Processes: forking stops below the limit (it counts this user's
	// other processes too).
	out = py(t, s, `import os, time
pids = []
try:
    for i in range(1000):
        p = os.fork()
        if p == 0:
            time.sleep(30); os._exit(0)
        pids.append(p)
    err = 'none'
except OSError as e:
    err = e.strerror
for p in pids:
    os.kill(p, 9); os.waitpid(p, 0)
print(len(pids), err)
`)
	var n int
	var msg string
	_, err = fmt.Sscanf(out, "%d %s", &n, &msg)
	require.NoError(t, err, out)
	assert.Less(t, n, 64, out)
	assert.Greater(t, n, 20, out)
	assert.Contains(t, out, "Resource temporarily unavailable")
}

// diskKill runs code that must get the kernel stopped for the disk limit.
func diskKill(t *testing.T, s *session.Session, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := s.Execute(ctx, executor.Request{Code: code, Timeout: 60 * time.Second})
	require.Error(t, err, "the kernel was not stopped: %s", res.Text())
	assert.ErrorIs(t, err, executor.ErrKernelDied)
	assert.Contains(t, err.Error(), "disk limit (64 MiB)")
}

// usage is what dir takes on disk.
func usage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			n += info.Sys().(*syscall.Stat_t).Blocks * 512
		}
		return nil
	}))
	return n
}

// Without root the disk limit is kept by watching the work directory: a
// kernel that writes past it, however it hides what it wrote, is stopped;
// one file never grows past it; files land in the work directory as they
// are written.
func TestSandboxDiskWatch(t *testing.T) {
	requireUser(t)
	const limit = 64 << 20
	cfg := func(work string) session.Config {
		return session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disk: limit}}
	}

	t.Run("within the limit", func(t *testing.T) {
		work := t.TempDir()
		s := open(t, cfg(work))
		// A sparse file takes no room (60 MiB long, next to 40 MiB of
		// data); the data fits.
		py(t, s, "with open('sparse.bin', 'wb') as f:\n    f.truncate(60 << 20)\nopen('data.bin', 'wb').write(b'x' * (40 << 20))")
		time.Sleep(time.Second)
		assert.Equal(t, "ok\n", py(t, s, "print('ok')"))
		st, err := os.Stat(filepath.Join(work, "data.bin"))
		require.NoError(t, err)
		assert.Equal(t, int64(40<<20), st.Size())
		// One file stops at the limit with EFBIG (RLIMIT_FSIZE), even in
		// /tmp, before the watcher sees it.
		out := py(t, s, `import errno
n = 0
try:
    with open('/tmp/big', 'wb') as f:
        for i in range(100):
            f.write(b'x' * (1 << 20)); f.flush(); n += 1
except OSError as e:
    print(errno.errorcode[e.errno], n)
`)
		assert.Equal(t, "EFBIG 64\n", out)
	})

	t.Run("many files", func(t *testing.T) {
		work := t.TempDir()
		s := open(t, cfg(work))
		start := time.Now()
		diskKill(t, s, "import os\nfor i in range(64):\n    open('f%d' % i, 'wb').write(b'x' * (8 << 20))\n")
		got := usage(t, work)
		t.Logf("stopped after %s with %d MiB written (limit %d MiB)", time.Since(start), got>>20, limit>>20)
		assert.Less(t, got, int64(limit+256<<20), "far past the limit")
		// Past the limit the restarted kernel runs and may delete; it is
		// stopped again only when it adds.
		assert.Equal(t, "alive\n", py(t, s, "print('alive')"))
		time.Sleep(time.Second)
		assert.Equal(t, "still\n", py(t, s, "print('still')"))
		diskKill(t, s, "open('more.bin', 'wb').write(b'x' * (4 << 20))\nimport time\ntime.sleep(5)")
		py(t, s, "import glob, os\nfor f in glob.glob('*'): os.remove(f)")
		py(t, s, "open('small.txt', 'w').write('ok')")
		time.Sleep(time.Second)
		b, err := os.ReadFile(filepath.Join(work, "small.txt"))
		require.NoError(t, err)
		assert.Equal(t, "ok", string(b))
		assert.Equal(t, "alive\n", py(t, s, "print('alive')"))
	})

	t.Run("deleted files held open", func(t *testing.T) {
		s := open(t, cfg(t.TempDir()))
		diskKill(t, s, `import os
fs = []
for i in range(16):
    f = open('h%d' % i, 'wb'); os.remove('h%d' % i); fs.append(f)
    f.write(b'x' * (8 << 20)); f.flush()
import time; time.sleep(5)
`)
	})

	t.Run("deleted files mapped", func(t *testing.T) {
		s := open(t, cfg(t.TempDir()))
		diskKill(t, s, `import os, mmap, time
ms = []
for i in range(4):
    fd = os.open('m%d' % i, os.O_RDWR | os.O_CREAT)
    os.ftruncate(fd, 32 << 20)
    m = mmap.mmap(fd, 32 << 20); os.close(fd); os.remove('m%d' % i)
    for off in range(0, 32 << 20, 4096):
        m[off] = 1
    ms.append(m)
time.sleep(5)
`)
	})

	t.Run("unreadable directory", func(t *testing.T) {
		work := t.TempDir()
		s := open(t, cfg(work))
		diskKill(t, s, `import os, time
os.mkdir('hidden'); os.chmod('hidden', 0o300)
for i in range(16):
    open('hidden/f%d' % i, 'wb').write(b'x' * (8 << 20))
time.sleep(5)
`)
		_ = os.Chmod(filepath.Join(work, "hidden"), 0o700)
	})
}
