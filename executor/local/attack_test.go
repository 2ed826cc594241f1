package local_test

// Each test here runs an attack from inside a real sandboxed kernel and
// asserts that it fails.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	policy "github.com/agentteam/agentteam/sandbox"
)

// requireRoot skips tests of what only a root run has (the mounted disk
// limit, cgroups); TestSandboxUnprivileged runs the rest as a user.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a root run's sandbox (mounted disk limit, cgroups)")
	}
}

func open(t *testing.T, cfg session.Config) *session.Session {
	t.Helper()
	jupytertest.RequireSandbox(t)
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := session.Open(ctx, cfg)
	require.NoError(t, err)
	require.True(t, s.Server().Sandboxed())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// py runs code that must succeed and returns its stdout.
func py(t *testing.T, s *session.Session, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := s.Execute(ctx, executor.Request{Code: code, Timeout: 60 * time.Second})
	require.NoError(t, err)
	require.True(t, res.OK(), "%s\n---\n%s", code, res.Text())
	var b strings.Builder
	for _, o := range res.Outputs {
		if o.Type == executor.OutputStream && o.Name == "stdout" {
			b.WriteString(o.Text)
		}
	}
	return b.String()
}

// pyJSON runs code whose last stdout line is JSON and decodes it.
func pyJSON(t *testing.T, s *session.Session, code string, out any) {
	t.Helper()
	text := strings.TrimSpace(py(t, s, code))
	lines := strings.Split(text, "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), out), text)
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

// tryCode wraps a Python statement: prints OK when it worked, else the
// exception.
func tryCode(stmt string) string {
	return fmt.Sprintf("try:\n    %s\n    print('OK')\nexcept BaseException as e:\n    print('FAILED', type(e).__name__, getattr(e, 'errno', ''))\n", stmt)
}

func kernelPid(t *testing.T, s *session.Session) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		for _, p := range jupytertest.ProcessesMatching(s.Server().RuntimeDir()) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			if strings.Contains(string(b), "ipykernel_launcher") && !strings.HasPrefix(string(b), "bwrap") && !strings.Contains(string(b), "/bin/sh") {
				pid = p
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond)
	return pid
}

// The kernel runs as uid 65534 with no capabilities, no_new_privs and a
// seccomp filter, in namespaces of its own.
func TestSandboxIdentityAndNamespaces(t *testing.T) {
	s := open(t, session.Config{})
	var st struct {
		UID, GID  int
		Status    string
		Hostname  string
		NS        map[string]string
		Pids      []string
		Cmdlines  []string
		UsernsErr string
	}
	clone, ok := policy.SyscallNumber(runtime.GOARCH, "clone")
	require.True(t, ok)
	pyJSON(t, s, `import os, json, socket
CLONE_NR = `+strconv.Itoa(clone)+`
ns = {n: os.readlink('/proc/self/ns/' + n) for n in ['user', 'pid', 'ipc', 'uts', 'cgroup', 'net', 'mnt']}
pids = [p for p in os.listdir('/proc') if p.isdigit()]
cmds = []
for p in pids:
    try: cmds.append(open('/proc/%s/cmdline' % p, 'rb').read().decode(errors='replace'))
    except OSError: pass
import ctypes, ctypes.util, subprocess
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
userns = 'created' if libc.unshare(0x10000000) == 0 else os.strerror(ctypes.get_errno())
if subprocess.run(['unshare', '-U', 'true'], capture_output=True).returncode == 0:
    userns += ', created by unshare(1)'
# clone(CLONE_NEWUSER | SIGCHLD): the call unshare(1) and seccomp do not cover.
r = libc.syscall(CLONE_NR, 0x10000000 | 17, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
if r > 0:
    os.waitpid(r, 0)
    userns += ', created by clone'
else:
    userns += ', clone: ' + os.strerror(ctypes.get_errno())
print(json.dumps({'UID': os.getuid(), 'GID': os.getgid(), 'Status': open('/proc/self/status').read(),
  'Hostname': socket.gethostname(), 'NS': ns, 'Pids': pids, 'Cmdlines': cmds, 'UsernsErr': userns}))
`, &st)
	assert.Equal(t, 65534, st.UID)
	assert.Equal(t, 65534, st.GID)
	for _, want := range []string{"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		assert.Contains(t, st.Status, want)
	}
	assert.Equal(t, "sandbox", st.Hostname)
	for name, link := range st.NS {
		host, err := os.Readlink("/proc/self/ns/" + name)
		require.NoError(t, err)
		assert.NotEqual(t, host, link, "the kernel shares the host's %s namespace", name)
	}
	// Its own PID namespace: a handful of processes, none of the host's.
	assert.LessOrEqual(t, len(st.Pids), 4, "processes visible: %v", st.Pids)
	for _, c := range st.Cmdlines {
		assert.NotContains(t, c, "jupyter-server")
		assert.NotContains(t, c, filepath.Base(os.Args[0]))
	}
	assert.Regexp(t, `^Operation not permitted, clone: (No space left on device|Operation not permitted)$`, st.UsernsErr, "no nested user namespace")
}

// The attacks of a kernel on its host: /proc/<pid>/root, remounting,
// another network namespace, moving out of its cgroup, ptrace and
// process_vm_readv and /proc/<pid>/mem on its parent, writing the host's
// filesystem.
func TestSandboxHostEscapes(t *testing.T) {
	s := open(t, session.Config{})
	host := os.Getpid()
	server := s.Server().Pid()
	canary := filepath.Join("/etc", fmt.Sprintf("agentteam-escape-%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = os.Remove(canary) })

	// Writes through /proc/<pid>/root, for the host pids and the namespace's own.
	for _, pid := range []int{host, server, 1, 2} {
		out := py(t, s, tryCode(fmt.Sprintf("open('/proc/%d/root%s', 'w').write('x')", pid, canary)))
		assert.Contains(t, out, "FAILED", "pid %d", pid)
	}
	_, err := os.Stat(canary)
	assert.True(t, os.IsNotExist(err), "the kernel wrote the host's /etc")

	// Remounting the read-only system writable, by the command and by the syscall.
	out := py(t, s, `import subprocess
for args in (['mount', '-o', 'remount,bind,rw', '/usr'], ['mount', '-o', 'remount,rw', '/'], ['mount', '-t', 'tmpfs', 'x', '/tmp']):
    r = subprocess.run(args, capture_output=True)
    print(r.returncode)
`)
	for _, line := range strings.Fields(out) {
		assert.NotEqual(t, "0", line, "a mount succeeded")
	}
	out = py(t, s, tryCode("open('/usr/agentteam-escape', 'w')"))
	assert.Contains(t, out, "FAILED")

	// nsenter into the host's network (or any) namespace.
	out = py(t, s, fmt.Sprintf(`import subprocess
for t in ('1', '%d', '%d'):
    r = subprocess.run(['nsenter', '-t', t, '-n', 'true'], capture_output=True)
    print(r.returncode)
`, host, server))
	for _, line := range strings.Fields(out) {
		assert.NotEqual(t, "0", line, "nsenter succeeded")
	}

	// Moving out of its cgroup: no cgroupfs is reachable, none can be mounted.
	kpid := kernelPid(t, s)
	before, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", kpid))
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		require.Contains(t, string(before), "agentteam-", "the kernel is in the sandbox's cgroup")
	}
	for _, p := range []string{"/sys/fs/cgroup/memory/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/cgroup.procs",
		fmt.Sprintf("/proc/%d/root/sys/fs/cgroup/memory/cgroup.procs", host), "/proc/1/root/sys/fs/cgroup/memory/cgroup.procs"} {
		out := py(t, s, tryCode(fmt.Sprintf("open(%s, 'w').write(str(__import__('os').getpid()))", q(p))))
		assert.Contains(t, out, "FAILED", p)
	}
	out = py(t, s, `import subprocess, os
os.makedirs('/tmp/cg', exist_ok=True)
print(subprocess.run(['mount', '-t', 'cgroup', '-o', 'memory', 'cgroup', '/tmp/cg'], capture_output=True).returncode)
print(os.path.exists('/sys/fs/cgroup'))
`)
	assert.Equal(t, []string{"32", "False"}, strings.Fields(out))
	after, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", kpid))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))

	// ptrace, process_vm_readv and /proc/<pid>/mem against its parent and pid 1.
	var tr map[string]string
	pyJSON(t, s, `import ctypes, ctypes.util, os, json
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
res = {}
for target in sorted({os.getppid(), 1}):
    r = libc.ptrace(16, target, 0, 0)  # PTRACE_ATTACH
    res['ptrace %d' % target] = 'ok' if r == 0 else os.strerror(ctypes.get_errno())
    class iovec(ctypes.Structure):
        _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(64)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
    remote = iovec(0x400000, 64)
    r = libc.process_vm_readv(target, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    res['process_vm_readv %d' % target] = 'ok' if r >= 0 else os.strerror(ctypes.get_errno())
    try:
        with open('/proc/%d/mem' % target, 'rb') as f:
            f.seek(0x400000); f.read(64)
        res['mem %d' % target] = 'ok'
    except OSError as e:
        res['mem %d' % target] = e.strerror
print(json.dumps(res))
`, &tr)
	require.NotEmpty(t, tr)
	for k, v := range tr {
		assert.NotEqual(t, "ok", v, k)
		if strings.HasPrefix(k, "ptrace") || strings.HasPrefix(k, "process_vm") {
			assert.Equal(t, "Operation not permitted", v, k)
		}
	}
	// The host's processes are not there to attack.
	for _, pid := range []int{host, server} {
		out := py(t, s, tryCode(fmt.Sprintf("open('/proc/%d/mem', 'rb').read(1)", pid)))
		assert.Contains(t, out, "FAILED")
		out = py(t, s, tryCode(fmt.Sprintf("open('/proc/%d/environ', 'rb').read()", pid)))
		assert.Contains(t, out, "FAILED")
	}

	// /sys is not there, so not writable; no global file of /proc (sysctls,
	// sysrq-trigger, ...) opens for writing. Nothing is written: opening is
	// the test.
	var writable []string
	pyJSON(t, s, `import os, json
ok = []
for name in os.listdir('/proc'):
    if name.isdigit() or name in ('self', 'thread-self'):
        continue
    p = '/proc/' + name
    for dp, dns, fns in (os.walk(p) if os.path.isdir(p) and not os.path.islink(p) else [('/proc', [], [name])]):
        for fn in fns:
            f = os.path.join(dp, fn)
            try:
                fd = os.open(f, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
                ok.append(f)
            except OSError:
                pass
print(json.dumps(ok))
`+"\n", &writable)
	assert.Empty(t, writable, "global /proc files the kernel can open for writing")
	out = py(t, s, tryCode("open('/proc/sys/kernel/hostname', 'w').write('x')"))
	assert.Contains(t, out, "FAILED")
	out = py(t, s, "import os\nprint(os.path.exists('/sys/kernel'), os.path.exists('/sys/fs/cgroup'))")
	assert.Equal(t, "False False\n", out)

	// Files of the host only this user may read stay hidden (as a user,
	// TestSandboxUserFiles covers the user's own files).
	if os.Geteuid() == 0 {
		shadow, err := os.ReadFile("/etc/shadow")
		require.NoError(t, err)
		out = py(t, s, "try:\n    print(repr(open('/etc/shadow').read()))\nexcept OSError as e:\n    print('FAILED', e.strerror)\n")
		assert.NotContains(t, out, strings.SplitN(string(shadow), "\n", 2)[0])
		assert.NotContains(t, out, "root:")
	}
	// Home directories and the root's are not there.
	out = py(t, s, "import os\nprint(os.path.exists('/root'), os.path.exists('/home'))")
	assert.Equal(t, "False False\n", out)
}

// The environment is the allow-list plus the named variables; nothing of the
// host's leaks, by os.environ or by /proc/<pid>/environ.
func TestSandboxEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-canary-openai-key-123")
	t.Setenv("AGENTTEAM_CANARY_SECRET", "canary-secret-456")
	t.Setenv("AGENTTEAM_PASSED_ON", "passed-789")
	s := open(t, session.Config{Sandbox: local.SandboxConfig{Env: []string{"AGENTTEAM_PASSED_ON"}}})
	var env struct {
		Environ map[string]string
		Procs   []string
	}
	pyJSON(t, s, `import os, json
procs = []
for p in os.listdir('/proc'):
    if p.isdigit():
        try: procs.append(open('/proc/%s/environ' % p, 'rb').read().decode(errors='replace'))
        except OSError: pass
print(json.dumps({'Environ': dict(os.environ), 'Procs': procs}))
`, &env)
	allowed := map[string]bool{"PATH": true, "HOME": true, "TMPDIR": true, "LANG": true, "MPLBACKEND": true, "MPLCONFIGDIR": true,
		"PYTHONDONTWRITEBYTECODE": true, "PYDEVD_DISABLE_FILE_VALIDATION": true, "AGENTTEAM_PASSED_ON": true,
		// set by Python and the kernel themselves
		"PWD": true, "SHLVL": true, "_": true, "JPY_PARENT_PID": true, "CLICOLOR": true, "PAGER": true, "GIT_PAGER": true, "TERM": true, "FORCE_COLOR": true, "CLICOLOR_FORCE": true}
	for k, v := range env.Environ {
		if hv, ok := os.LookupEnv(k); ok && hv == v {
			assert.True(t, allowed[k], "host variable %s reached the kernel", k)
		}
	}
	for _, k := range []string{"OPENAI_API_KEY", "AGENTTEAM_CANARY_SECRET", "USER", "LOGNAME", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			assert.NotEqual(t, v, env.Environ[k], k)
		}
	}
	assert.Equal(t, "passed-789", env.Environ["AGENTTEAM_PASSED_ON"])
	assert.Equal(t, "/tmp", env.Environ["HOME"])
	require.NotEmpty(t, env.Procs)
	for _, e := range env.Procs {
		assert.NotContains(t, e, "sk-canary-openai-key-123")
		assert.NotContains(t, e, "canary-secret-456")
	}
	// The server itself does not hold the secrets either.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.Server().Pid()))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "sk-canary-openai-key-123")
	assert.NotContains(t, string(b), s.Server().Token())
}

// walkForSecrets is Python that searches every readable file the kernel can
// reach (outside /usr and /proc) for the given strings.
func walkForSecrets(secrets ...string) string {
	js, _ := json.Marshal(secrets)
	// The strings go in reversed: the code itself lands in the kernel's
	// history file.
	for i, s := range secrets {
		r := []rune(s)
		for a, b := 0, len(r)-1; a < b; a, b = a+1, b-1 {
			r[a], r[b] = r[b], r[a]
		}
		secrets[i] = string(r)
	}
	js, _ = json.Marshal(secrets)
	return fmt.Sprintf(`import os, json
needles = [s[::-1].encode() for s in json.loads(%s)]
found = []
seen = 0
for root in ['/tmp', '/run', '/var', '/dev/shm', '/etc', os.getcwd()] + [os.path.dirname(p) for p in %s]:
    for dp, dns, fns in os.walk(root):
        for fn in fns:
            p = os.path.join(dp, fn)
            try:
                with open(p, 'rb') as f:
                    data = f.read(1 << 20)
            except OSError:
                continue
            seen += 1
            for n in needles:
                if n in data:
                    found.append(p)
print(json.dumps({'found': found, 'seen': seen}))
`, q(string(js)), "[]")
}

// The server's token, its cookie secret and the HMAC keys of other kernels
// are nowhere the kernel can read; it sees only its own connection file.
func TestSandboxRuntimeSecrets(t *testing.T) {
	s := open(t, session.Config{})
	runtimeDir := s.Server().RuntimeDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A second kernel of the same server.
	other, err := s.Client().StartKernel(ctx, "python3")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Client().DeleteKernel(context.Background(), other.ID) })
	otherConn := filepath.Join(runtimeDir, "kernel-"+other.ID+".json")
	require.Eventually(t, func() bool { _, err := os.Stat(otherConn); return err == nil }, 20*time.Second, 50*time.Millisecond)
	var conn struct{ Key string }
	b, err := os.ReadFile(otherConn)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &conn))
	require.NotEmpty(t, conn.Key)
	cookie, err := os.ReadFile(filepath.Join(runtimeDir, "jupyter_cookie_secret"))
	require.NoError(t, err)

	var listing []string
	pyJSON(t, s, fmt.Sprintf("import os, json\nprint(json.dumps(sorted(os.listdir(%s))))", q(runtimeDir)), &listing)
	own := "kernel-" + s.Kernel().ID()
	require.NotEmpty(t, listing)
	for _, f := range listing {
		assert.True(t, strings.HasPrefix(f, own), "the kernel sees %s in the runtime directory", f)
	}
	out := py(t, s, tryCode(fmt.Sprintf("open(%s).read()", q(otherConn))))
	assert.Contains(t, out, "FAILED")
	// Its own connection file, as the server wrote it, is read-only.
	out = py(t, s, tryCode("open('/run/agentteam/connection.json', 'a').write(' ')"))
	assert.Contains(t, out, "FAILED")
	// Of the server's private directory, only the path to the runtime
	// directory exists; no other server's directory does.
	priv := filepath.Dir(runtimeDir)
	out = py(t, s, fmt.Sprintf("import os, glob\nprint(os.listdir(%s), [p for p in glob.glob(%s) if p != %s])",
		q(priv), q(filepath.Join(filepath.Dir(priv), "atj-*")), q(priv)))
	assert.Equal(t, "['runtime'] []\n", out)

	var found struct {
		Found []string
		Seen  int
	}
	pyJSON(t, s, walkForSecrets(s.Server().Token(), conn.Key, strings.TrimSpace(string(cookie))), &found)
	assert.Greater(t, found.Seen, 10, "the search read files")
	assert.Empty(t, found.Found, "secrets readable by the kernel")
}

// A kernel of one run cannot reach another run's kernel, even knowing its
// connection file and key: the other run's files and sockets do not exist in
// its world.
func TestSandboxCrossRun(t *testing.T) {
	a := open(t, session.Config{})
	b := open(t, session.Config{})
	py(t, b, "secret_of_b = 'B-' + 'SECRET-31337'")
	connPath := filepath.Join(b.Server().RuntimeDir(), "kernel-"+b.Kernel().ID()+".json")
	connData, err := os.ReadFile(connPath)
	require.NoError(t, err)

	out := py(t, a, tryCode(fmt.Sprintf("open(%s).read()", q(connPath))))
	assert.Contains(t, out, "FAILED")
	// Handed the other run's connection info and key, a signed
	// execute_request still reaches nothing.
	out = py(t, a, fmt.Sprintf(`import json, queue
from jupyter_client import BlockingKernelClient
info = json.loads(%s)
kc = BlockingKernelClient()
kc.load_connection_info(info)
kc.start_channels()
msg_id = kc.execute('print(secret_of_b)')
try:
    reply = kc.get_shell_msg(timeout=5)
    print('REPLY', reply['content'])
    print('IOPUB', [m['content'] for m in kc.get_iopub_msgs(timeout=2)] if hasattr(kc, 'get_iopub_msgs') else '')
except queue.Empty:
    print('no reply')
kc.stop_channels()
`, q(string(connData))))
	assert.Contains(t, out, "no reply")
	assert.NotContains(t, out, "SECRET-31337")
	// b still works and still has its state.
	assert.Equal(t, "B-SECRET-31337\n", py(t, b, "print(secret_of_b)"))
}

// Unix sockets of the host (in /run, /tmp, /var/tmp, /dev/shm, and abstract
// ones) cannot be reached.
func TestSandboxHostUnixSockets(t *testing.T) {
	s := open(t, session.Config{})
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	var paths []string
	var listeners []net.Listener
	for _, dir := range []string{"/run", "/tmp", "/var/tmp", "/dev/shm", os.Getenv("XDG_RUNTIME_DIR")} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "agentteam-test-"+tag+".sock")
		l, err := net.Listen("unix", p)
		if os.Geteuid() != 0 && errors.Is(err, fs.ErrPermission) {
			continue // a user can listen only where it may write
		}
		require.NoError(t, err)
		listeners = append(listeners, l)
		paths = append(paths, p)
	}
	abstract := "@agentteam-test-" + tag
	l, err := net.Listen("unix", abstract)
	require.NoError(t, err)
	listeners = append(listeners, l)
	accepted := make(chan string, 10)
	for _, l := range listeners {
		go func(l net.Listener) {
			c, err := l.Accept()
			if err == nil {
				accepted <- l.Addr().String()
				c.Close()
			}
		}(l)
		t.Cleanup(func() { l.Close() })
	}
	for _, p := range append(paths, "\x00"+abstract[1:]) {
		out := py(t, s, tryCode(fmt.Sprintf("import socket; c = socket.socket(socket.AF_UNIX); c.settimeout(3); c.connect(%s)", q(p))))
		assert.Contains(t, out, "FAILED", p)
	}
	select {
	case a := <-accepted:
		t.Fatalf("the kernel reached the host socket %s", a)
	case <-time.After(200 * time.Millisecond):
	}
}

// Every syscall of the deny list fails with EPERM from the kernel.
func TestSandboxSeccompDeniesSyscalls(t *testing.T) {
	s := open(t, session.Config{})
	nums := map[string]int{}
	for _, n := range policy.DeniedSyscalls {
		if nr, ok := policy.SyscallNumber(runtime.GOARCH, n); ok {
			nums[n] = nr
		}
	}
	require.NotEmpty(t, nums)
	js, _ := json.Marshal(nums)
	var res map[string]int
	pyJSON(t, s, fmt.Sprintf(`import ctypes, ctypes.util, json
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for name, nr in json.loads(%s).items():
    ctypes.set_errno(0)
    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    out[name] = 0 if r == 0 else ctypes.get_errno()
print(json.dumps(out))
`, q(string(js))), &res)
	for name := range nums {
		assert.Equal(t, 1, res[name], "%s: errno %d, want EPERM", name, res[name])
	}
	// Allowed ones still work (unshare(0) succeeds without the filter, so
	// this tells the filter apart from a lack of privilege).
	out := py(t, s, "import os\nprint(os.getpid() > 0)")
	assert.Equal(t, "True\n", out)
}

// The workspace is limited: a write past the limit fails with ENOSPC; after
// Close the work directory holds what the kernel wrote, and what it deleted
// is gone.
func TestSandboxDiskLimit(t *testing.T) {
	requireRoot(t)
	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, "input.csv"), []byte("a,b\n1,2\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(work, "delete-me.txt"), []byte("x"), 0o644))
	s := open(t, session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disk: 64 << 20}})
	out := py(t, s, `import os, errno
print(open('input.csv').read().splitlines()[1])
os.remove('delete-me.txt')
os.makedirs('out/sub', exist_ok=True)
open('out/sub/result.txt', 'w').write('result')
written = 0
try:
    with open('big.bin', 'wb') as f:
        chunk = b'\0' * (1 << 20)
        for i in range(200):
            f.write(chunk); f.flush(); os.fsync(f.fileno())
            written += 1
    print('no limit', written)
except OSError as e:
    print('stopped', errno.errorcode.get(e.errno), written)
`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	assert.Equal(t, "1,2", lines[0])
	var code string
	var written int
	_, err := fmt.Sscanf(lines[1], "stopped %s %d", &code, &written)
	require.NoError(t, err, out)
	assert.Equal(t, "ENOSPC", code)
	assert.Less(t, written, 64)
	// The host's side sees the same files during the run.
	b, err := os.ReadFile(filepath.Join(work, "out/sub/result.txt"))
	require.NoError(t, err)
	assert.Equal(t, "result", string(b))
	py(t, s, "os.remove('big.bin')\nopen('final.txt', 'w').write('done')\nwith open('sparse.bin', 'wb') as f:\n    f.write(b'head'); f.truncate(1 << 30); f.seek(512 << 20); f.write(b'middle')")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	b, err = os.ReadFile(filepath.Join(work, "out/sub/result.txt"))
	require.NoError(t, err)
	assert.Equal(t, "result", string(b))
	b, err = os.ReadFile(filepath.Join(work, "final.txt"))
	require.NoError(t, err)
	assert.Equal(t, "done", string(b))
	_, err = os.Stat(filepath.Join(work, "delete-me.txt"))
	assert.True(t, os.IsNotExist(err), "a file the kernel deleted is back")
	_, err = os.Stat(filepath.Join(work, "big.bin"))
	assert.True(t, os.IsNotExist(err))
	// A sparse file stays sparse in the copy.
	sp, err := os.Open(filepath.Join(work, "sparse.bin"))
	require.NoError(t, err)
	defer sp.Close()
	st, err := sp.Stat()
	require.NoError(t, err)
	assert.Equal(t, int64(1<<30), st.Size())
	assert.Less(t, st.Sys().(*syscall.Stat_t).Blocks*512, int64(1<<20), "the copy of a sparse file takes its size on disk")
	buf := make([]byte, 6)
	_, err = sp.ReadAt(buf, 512<<20)
	require.NoError(t, err)
	assert.Equal(t, "middle", string(buf))
	_, err = sp.ReadAt(buf[:4], 0)
	require.NoError(t, err)
	assert.Equal(t, "head", string(buf[:4]))
	b, err = os.ReadFile(filepath.Join(work, "input.csv"))
	require.NoError(t, err)
	assert.Equal(t, "a,b\n1,2\n", string(b))
	mi, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	assert.NotContains(t, string(mi), work, "the workspace is unmounted")
}

// pandas and matplotlib work in the sandbox.
func TestSandboxDataStack(t *testing.T) {
	s := open(t, session.Config{})
	out := py(t, s, `import pandas as pd, matplotlib.pyplot as plt
df = pd.DataFrame({'x': [1, 2, 3], 'y': [2, 4, 6]})
df.plot(x='x', y='y')
plt.savefig('plot.png')
import os
print(df.y.sum(), os.path.getsize('plot.png') > 1000)
`)
	assert.Equal(t, "12 True\n", out)
}

// A figure that is shown is displayed, as in an unconfined kernel: charts
// reach the notebook and the model.
func TestSandboxFiguresAreDisplayed(t *testing.T) {
	s := open(t, session.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := s.Execute(ctx, executor.Request{Code: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()", Timeout: 60 * time.Second})
	require.NoError(t, err)
	require.True(t, res.OK(), res.Text())
	png := false
	for _, o := range res.Outputs {
		if _, ok := o.Data["image/png"]; ok && o.Type == executor.OutputDisplayData {
			png = true
		}
	}
	assert.True(t, png, "plt.show() displays the figure: %+v", res.Outputs)
}

// int80 calls i386 getpid through int 0x80 from a 64-bit process: a filter
// that checks syscall numbers without the ABI would let i386 calls through
// (their numbers mean other syscalls).
const int80 = `import mmap, ctypes
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(b'\xb8\x14\x00\x00\x00\xcd\x80\xc3')  # mov eax, 20; int 0x80; ret
f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
print(f())
`

// A syscall through the 32-bit ABI kills the process that makes it.
func TestSandboxSeccompForeignABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the 32-bit ABI check is tested on amd64")
	}
	jupytertest.RequireSandbox(t)
	host := exec.Command("/usr/bin/python3", "-c", int80)
	if out, err := host.CombinedOutput(); err != nil {
		t.Skipf("this machine has no 32-bit syscall entry (%v: %s)", err, out)
	}
	s := open(t, session.Config{})
	out := py(t, s, fmt.Sprintf("import subprocess, sys\nr = subprocess.run([sys.executable, '-c', %s], capture_output=True)\nprint(r.returncode)\n", q(int80)))
	assert.Equal(t, "-31\n", out, "killed by SIGSYS")
}

// A sandboxed server starts only its own kernel spec. Another spec the host
// has (here one in the IPython directory, which jupyter-server also
// searches) would run its kernel unconfined; naming it fails instead, and
// the server lists nothing else.
func TestSandboxOnlyItsKernelSpec(t *testing.T) {
	jupytertest.RequireSandbox(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("IPYTHONDIR", "")
	marker := filepath.Join(t.TempDir(), "ran-unconfined")
	d := filepath.Join(home, ".ipython", "kernels", "unconfined")
	require.NoError(t, os.MkdirAll(d, 0o755))
	spec, _ := json.Marshal(map[string]any{
		"argv":         []string{"/bin/sh", "-c", "touch " + marker + "; exec /usr/bin/python3 -m ipykernel_launcher -f \"$0\"", "{connection_file}"},
		"display_name": "unconfined", "language": "python",
	})
	require.NoError(t, os.WriteFile(filepath.Join(d, "kernel.json"), spec, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := session.Open(ctx, session.Config{WorkDir: t.TempDir(), KernelName: "unconfined"})
	if s != nil {
		_ = s.Close(ctx)
	}
	require.Error(t, err, "a kernel spec of the host started in a sandboxed server")
	assert.Contains(t, err.Error(), `no such kernel spec: "unconfined" (available: python3)`)
	_, statErr := os.Stat(marker)
	assert.True(t, os.IsNotExist(statErr), "the unconfined kernel ran")

	s = open(t, session.Config{})
	specs, err := s.Client().KernelSpecs(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"python3"}, specs.Names())
}

// The sandboxed kernel runs without a debugger: debugpy's directory is
// empty in it, so ipykernel neither loads it nor opens its socket.
func TestSandboxNoDebugger(t *testing.T) {
	s := open(t, session.Config{})
	out := py(t, s, "import os\nfrom ipykernel.debugger import _is_debugpy_available\nimport importlib.util as u\nspec = u.find_spec('debugpy')\nd = spec.submodule_search_locations[0] if spec else ''\nprint(_is_debugpy_available, d and os.listdir(d))")
	assert.Equal(t, "False []\n", out)
}

// The files the code writes get the modes the user's own python would give
// them (agentteam's umask), not the sandbox script's private one, also after
// the copy back from the disk limit's filesystem.
func TestSandboxFileModesFollowTheUmask(t *testing.T) {
	for _, mask := range []int{0o022, 0o027} {
		t.Run(fmt.Sprintf("%03o", mask), func(t *testing.T) {
			old := syscall.Umask(mask)
			defer syscall.Umask(old)
			work := t.TempDir()
			s := open(t, session.Config{WorkDir: work})
			py(t, s, "import os\nopen('out.csv', 'w').write('a\\n')\nos.makedirs('figs')")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, s.Close(ctx))
			for name, full := range map[string]os.FileMode{"out.csv": 0o666, "figs": 0o777} {
				st, err := os.Stat(filepath.Join(work, name))
				require.NoError(t, err)
				assert.Equal(t, full&^os.FileMode(mask), st.Mode().Perm(), name)
			}
		})
	}
}
