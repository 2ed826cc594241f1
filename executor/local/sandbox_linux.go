package local

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	policy "github.com/agentteam/agentteam/sandbox"
)

type sandbox struct {
	cfg         SandboxConfig
	dir         string // the server's private directory
	jupyterPath string
	workDir     string // the work directory (with the disk limit over it)
	diskLimit   bool
	cgroups     []string // per-server cgroup directories, one per hierarchy
	memory      int64
	procs       int
	watch       *diskWatch // the disk limit without root
	tmpfsSize   int64      // size of each writable tmpfs when no cgroup counts them; 0: unbounded
	notes       []string   // where the limits are weaker than with root
	short       []string   // the same, a few words each
	noDebugger  []string   // debugpy's directories, empty in the sandbox
}

// seccompFD is the descriptor the launcher opens the filter on for bwrap
// (a single digit: sh redirects no higher ones).
const seccompFD = 9

// uid and gid of the kernel inside its user namespace (nobody).
const sandboxID = "65534"

func newSandbox(cfg Config, s *Server) (*sandbox, error) {
	sc := cfg.Sandbox
	for _, n := range sc.Env {
		if !validEnvName(n) {
			return nil, fmt.Errorf("sandbox: %q is not an environment variable name", n)
		}
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, missing("bubblewrap", "bwrap is not installed (apt-get install bubblewrap, or bash scripts/setup.sh)")
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return nil, missing("user namespaces", "they are switched off (sysctl user.max_user_namespaces=0)")
	}
	if os.Geteuid() != 0 {
		if b, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(b)) == "0" {
			return nil, missing("user namespaces", "unprivileged user namespaces are switched off (sysctl kernel.unprivileged_userns_clone=0)")
		}
	}
	filter, err := policy.Filter()
	if err != nil {
		return nil, missing("seccomp filter", "%v", err)
	}

	sb := &sandbox{cfg: sc, dir: s.dir, workDir: s.workDir, memory: sc.Memory, procs: sc.Processes}
	if sb.memory == 0 {
		sb.memory = DefaultMemory
	}
	if sb.procs == 0 {
		sb.procs = DefaultProcesses
	}
	python := cfg.Python
	if python == "" {
		python = kernelPython()
	}
	sb.noDebugger = debuggerDirs(python)
	filterPath := filepath.Join(s.dir, "seccomp.bpf")
	if err := os.WriteFile(filterPath, filter, 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	envPath := filepath.Join(s.dir, "kernel.env")
	if err := os.WriteFile(envPath, []byte(kernelEnv(sc.Env)), 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}

	if sb.memory > 0 || sb.procs > 0 {
		sb.cgroups = makeCgroups()
		if len(sb.cgroups) > 0 {
			o, _ := readOwner(s.dir)
			o.Cgroups = sb.cgroups
			_ = saveOwner(s.dir, o)
		}
	}
	if len(sb.cgroups) == 0 && sb.procs > 0 && os.Geteuid() == 0 {
		return nil, missing("process limit", "cgroups are not writable, and as root RLIMIT_NPROC does not apply")
	}
	root := os.Geteuid() == 0
	var limits []string
	if len(sb.cgroups) == 0 {
		// Without cgroups: RLIMIT_AS bounds each process's memory, and
		// the tmpfs mounts, which RLIMIT_AS does not count, get sizes.
		if sb.memory > 0 {
			limits = append(limits, "--as="+strconv.FormatInt(sb.memory, 10))
			sb.tmpfsSize = max(sb.memory/4, 16<<20)
			sb.short = append(sb.short, "memory per process, not per kernel")
			sb.notes = append(sb.notes, fmt.Sprintf("memory is limited per process (%s of address space each, RLIMIT_AS), not per kernel, and /tmp, /var/tmp, /dev/shm and /run to %s each",
				formatBytes(sb.memory), formatBytes(sb.tmpfsSize)))
		}
		if sb.procs > 0 {
			// RLIMIT_NPROC counts all of this user's processes: the
			// kernel gets the limit on top of those running now.
			own := userProcesses()
			limits = append(limits, "--nproc="+strconv.Itoa(own+sb.procs))
			sb.short = append(sb.short, "processes counted with all of this user's")
			sb.notes = append(sb.notes, fmt.Sprintf("processes are limited by RLIMIT_NPROC, which counts all of this user's processes (%d now, plus %d)", own, sb.procs))
		}
	}

	// The same namespaces and mounts as a kernel, running /bin/true: a
	// host that cannot give one of them fails here, before anything runs.
	if err := probe(bwrap, sb, python, envPath, filterPath); err != nil {
		sb.cleanupCgroups()
		return nil, err
	}

	disk := sc.Disk
	if disk == 0 {
		disk = DefaultDisk
	}
	switch {
	case disk > 0 && root:
		if err := setupWorkspace(s.dir, s.workDir, disk); err != nil {
			sb.cleanupCgroups()
			_ = releaseWorkspace(s.dir, s.workDir)
			return nil, err
		}
		sb.diskLimit = true
	case disk > 0:
		if disk < 16<<20 {
			sb.cleanupCgroups()
			return nil, fmt.Errorf("sandbox: disk limit %s is below the minimum of 16 MiB", formatBytes(disk))
		}
		// No root, no mount: the limit is kept by watching the work
		// directory, and RLIMIT_FSIZE bounds each file.
		w, err := startDiskWatch(s.workDir, s.runtime, disk, s.log)
		if err != nil {
			sb.cleanupCgroups()
			return nil, err
		}
		sb.watch = w
		limits = append(limits, "--fsize="+strconv.FormatInt(disk, 10))
		sb.short = append(sb.short, "the disk limit kept by watching the work directory")
		sb.notes = append(sb.notes, fmt.Sprintf("the disk limit (%s) is kept by watching the work directory: kernels that write past it are stopped, a moment after it is passed", formatBytes(disk)))
	}

	kernels := filepath.Join(s.dir, "kernels")
	if err := os.Mkdir(kernels, 0o700); err != nil {
		sb.cleanup()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	var script strings.Builder
	fmt.Fprintf(&script, `#!/bin/sh
# Starts one sandboxed kernel; $1 is its connection file.
set -eu
# What this script makes is private; the kernel keeps the umask agentteam
# runs with, so the files the code writes get the modes they would get from
# the user's own python.
kumask=$(umask)
umask 077
conn="$1"
name=$(basename "$conn" .json)
runtime=%s
kdir=%s/"$name"
mkdir -p "$kdir"
# The kernel sees its own connection file read-only, and its own directory
# mounted at the runtime directory for the sockets it creates, which the
# server reaches through these links.
for p in $(sed -n 's/^ *"[a-z]*_port": *\([0-9][0-9]*\).*/\1/p' "$conn"); do
  ln -sfn "$kdir/$name-ipc-$p" "$runtime/$name-ipc-$p"
done
`, shQuote(s.runtime), shQuote(kernels))
	for _, cg := range sb.cgroups {
		fmt.Fprintf(&script, "d=%s/\"$name\"\nmkdir -p \"$d\"\n", shQuote(cg))
		if sb.memory > 0 {
			m := strconv.FormatInt(sb.memory, 10)
			fmt.Fprintf(&script, "[ ! -f \"$d/memory.limit_in_bytes\" ] || echo %s > \"$d/memory.limit_in_bytes\"\n", m)
			fmt.Fprintf(&script, "[ ! -f \"$d/memory.memsw.limit_in_bytes\" ] || echo %s > \"$d/memory.memsw.limit_in_bytes\" 2>/dev/null || true\n", m)
			fmt.Fprintf(&script, "[ ! -f \"$d/memory.max\" ] || echo %s > \"$d/memory.max\"\n", m)
			script.WriteString("[ ! -f \"$d/memory.swap.max\" ] || echo 0 > \"$d/memory.swap.max\"\n")
		}
		if sb.procs > 0 {
			fmt.Fprintf(&script, "[ ! -f \"$d/pids.max\" ] || echo %d > \"$d/pids.max\"\n", sb.procs)
		}
		script.WriteString("echo $$ > \"$d/cgroup.procs\"\n")
	}
	script.WriteString("umask \"$kumask\"\nexec ")
	if len(limits) > 0 {
		p, err := exec.LookPath("prlimit")
		if err != nil {
			sb.cleanup()
			return nil, missing("memory limit", "cgroups are not writable and prlimit (util-linux) is not installed")
		}
		script.WriteString(shQuote(p))
		for _, l := range limits {
			script.WriteString(" " + l)
		}
		script.WriteString(" -- ")
	}
	script.WriteString(shQuote(bwrap))
	for _, a := range bwrapArgs(sb, python, envPath) {
		script.WriteString(" " + shQuote(a))
	}
	fmt.Fprintf(&script, ` --bind "$kdir" "$runtime" --ro-bind "$conn" /run/agentteam/connection.json`)
	// ipykernel rewrites the file it is given at start: it makes itself a
	// copy in its own directory (where the command line, which names the
	// runtime directory, lets Close find it).
	fmt.Fprintf(&script, ` -- /bin/sh -c '. /run/agentteam/env && cp /run/agentteam/connection.json "$1" && shift && exec "$@"' sh "$runtime/$name.json" %s -m ipykernel_launcher -f "$runtime/$name.json" %d<%s`+"\n",
		shQuote(python), seccompFD, shQuote(filterPath))

	sb.jupyterPath = sandboxJupyterPath(s.dir)
	specDir := filepath.Join(sb.jupyterPath, "kernels", "python3")
	if err := os.MkdirAll(specDir, 0o700); err != nil {
		sb.cleanup()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	launcher := filepath.Join(s.dir, "launch.sh")
	if err := os.WriteFile(launcher, []byte(script.String()), 0o700); err != nil {
		sb.cleanup()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	spec := map[string]any{
		"argv":         []string{"/bin/sh", launcher, "{connection_file}"},
		"display_name": "Python 3 (sandboxed)",
		"language":     "python",
		// bwrap sits between the launcher and the kernel; a SIGINT to the
		// process group would end bwrap and with it the kernel, so
		// interrupts go as messages on the control channel.
		"interrupt_mode": "message",
		"metadata":       map[string]any{"agentteam": map[string]any{"sandbox": true, "network": sc.Network}},
	}
	b, _ := json.MarshalIndent(spec, "", " ")
	if err := os.WriteFile(filepath.Join(specDir, "kernel.json"), b, 0o600); err != nil {
		sb.cleanup()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return sb, nil
}

// bwrapArgs are bwrap's options for a kernel, up to (not including) the
// kernel's own directory and command. envFile is bound read-only at
// /run/agentteam/env.
func bwrapArgs(sb *sandbox, python, envFile string) []string {
	sc := sb.cfg
	args := []string{
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
		"--uid", sandboxID, "--gid", sandboxID,
		"--disable-userns", "--assert-userns-disabled",
		"--cap-drop", "ALL",
		"--die-with-parent", "--new-session",
		"--clearenv",
		"--hostname", "sandbox",
		"--seccomp", strconv.Itoa(seccompFD),
	}
	if !sc.Network {
		args = append(args, "--unshare-net")
	}
	args = append(args, "--ro-bind", "/usr", "/usr")
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		if target, err := os.Readlink(d); err == nil {
			args = append(args, "--symlink", target, d)
		} else if st, err := os.Stat(d); err == nil && st.IsDir() {
			args = append(args, "--ro-bind", d, d)
		}
	}
	args = append(args, "--ro-bind", "/etc", "/etc")
	// The kernel's uid maps to this process's uid outside, so it would read
	// what only this user may read: hide those files.
	args = append(args, hideUnreadable("/etc")...)
	if prefix := filepath.Dir(filepath.Dir(python)); filepath.IsAbs(python) && !under(python, "/usr") && prefix != "/" {
		args = append(args, "--ro-bind", prefix, prefix)
	}
	for _, d := range sb.noDebugger {
		args = append(args, "--tmpfs", d, "--remount-ro", d)
	}
	args = append(args, "--proc", "/proc")
	args = append(args, coverProc()...)
	args = append(args, "--dev", "/dev")
	for _, d := range []string{"/dev/shm", "/tmp", "/var/tmp", "/run"} {
		args = append(args, sb.tmpfs(d)...)
	}
	args = append(args, "--ro-bind", envFile, "/run/agentteam/env")
	if sc.Network {
		// /etc/resolv.conf often points into /run.
		if t, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && under(t, "/run") {
			args = append(args, "--ro-bind", t, t)
		}
	}
	for _, r := range sc.ReadOnly {
		args = append(args, "--ro-bind", r, r)
	}
	for _, w := range append([]string{sb.workDir}, sc.Writable...) {
		args = append(args, "--bind", w, w)
	}
	for _, h := range sc.Hidden {
		args = append(args, sb.tmpfs(h)...)
	}
	return append(args, "--chdir", sb.workDir)
}

// tmpfs mounts a writable tmpfs at dest, of tmpfsSize when set.
func (sb *sandbox) tmpfs(dest string) []string {
	if sb.tmpfsSize > 0 {
		return []string{"--size", strconv.FormatInt(sb.tmpfsSize, 10), "--tmpfs", dest}
	}
	return []string{"--tmpfs", dest}
}

// userProcesses counts the processes of this user.
func userProcesses() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	uid := uint32(os.Getuid())
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == uid {
				n++
			}
		}
	}
	return n
}

// coverProc makes the global files of /proc read-only. The kernel's uid
// maps to this process's uid outside; as root, that is the uid the kernel
// checks for writes to /proc/sys (sysctls) and /proc/sysrq-trigger, without
// any capability. /proc/sys becomes the host's, read-only; other global
// entries with a writable file are covered.
func coverProc() []string {
	var args []string
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		name := e.Name()
		if _, err := strconv.Atoi(name); err == nil {
			continue
		}
		p := "/proc/" + name
		switch {
		case name == "self" || name == "thread-self" || name == "net" || e.Type()&fs.ModeSymlink != 0:
		case name == "sys":
			args = append(args, "--ro-bind", p, p)
		case e.IsDir():
			if anyWritable(p) {
				args = append(args, "--tmpfs", p, "--remount-ro", p)
			}
		default:
			if info, err := e.Info(); err == nil && info.Mode().Perm()&0o222 != 0 {
				args = append(args, "--ro-bind", "/dev/null", p)
			}
		}
	}
	return args
}

// anyWritable reports whether a file under dir has a write bit.
func anyWritable(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return nil
		}
		if info, err := d.Info(); err == nil && !d.IsDir() && info.Mode().Perm()&0o222 != 0 {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// hideUnreadable covers every file and directory under root that is not
// world-readable (shadow, private keys, ...).
func hideUnreadable(root string) []string {
	var args []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		if info.Mode().Perm()&0o004 != 0 {
			return nil
		}
		if info.IsDir() {
			args = append(args, "--tmpfs", p, "--remount-ro", p)
			return filepath.SkipDir
		}
		args = append(args, "--ro-bind", "/dev/null", p)
		return nil
	})
	return args
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// probe runs /bin/true in a sandbox made like a kernel's, seccomp filter
// included.
func probe(bwrap string, sb *sandbox, python, envPath, filterPath string) error {
	f, err := os.Open(filterPath)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer f.Close()
	args := replaceArg(bwrapArgs(sb, python, envPath), "--seccomp", "3")
	cmd := exec.Command(bwrap, append(args, "--", "/bin/true")...)
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		feature := probeFeature(string(out))
		if strings.Contains(string(out), "seccomp") {
			feature = "seccomp filter"
		}
		return missing(feature, "bwrap cannot create the sandbox here: %s", firstLine(out, err))
	}
	return nil
}

// replaceArg drops flag and its value from args when with is "".
func replaceArg(args []string, flag, with string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == flag && i+1 < len(args) {
			if with != "" {
				out = append(out, flag, with)
			}
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// probeFeature names what a failed bwrap probe lacks, from its message.
func probeFeature(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "user namespace") || strings.Contains(m, "uid map") || strings.Contains(m, "setting up uid"):
		return "user namespaces"
	case strings.Contains(m, "cgroup"):
		return "cgroup namespace"
	case strings.Contains(m, "network") || strings.Contains(m, "loopback"):
		return "network namespace"
	case strings.Contains(m, "pid"):
		return "PID namespace"
	}
	return "bubblewrap sandbox"
}

// kernelEnv is the kernel's whole environment as a shell script: a short
// allow-list, then the host variables named in names.
func kernelEnv(names []string) string {
	lang := os.Getenv("LANG")
	if lang == "" || strings.ContainsAny(lang, "'\n") {
		lang = "C.UTF-8"
	}
	vars := [][2]string{
		{"PATH", "/usr/local/bin:/usr/bin:/bin"},
		{"HOME", "/tmp"},
		{"TMPDIR", "/tmp"},
		{"LANG", lang},
		// ipykernel's inline backend, as an unconfined kernel has: with
		// "agg" a figure that is shown is never displayed.
		{"MPLBACKEND", "module://matplotlib_inline.backend_inline"},
		{"MPLCONFIGDIR", "/tmp/matplotlib"},
		{"PYTHONDONTWRITEBYTECODE", "1"},
		{"PYDEVD_DISABLE_FILE_VALIDATION", "1"},
	}
	var b strings.Builder
	for _, kv := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shQuote(kv[1]))
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, n := range sorted {
		if v, ok := os.LookupEnv(n); ok {
			fmt.Fprintf(&b, "export %s=%s\n", n, shQuote(v))
		}
	}
	return b.String()
}

// debuggerDirs lists the directories of the debugpy package python would
// import, where the sandbox shows them (under /usr or python's prefix).
// The sandbox puts an empty directory in their place: ipykernel then runs
// without a debugger, which agentteam never uses (Jupyter's visual
// debugger), and its kernels start 0.2 s sooner (debugpy is a third of
// ipykernel's imports).
func debuggerDirs(python string) []string {
	if !filepath.IsAbs(python) {
		return nil
	}
	const find = "import importlib.util as u\ns = u.find_spec('debugpy')\nprint('\\n'.join(s.submodule_search_locations or []) if s else '')"
	out, err := exec.Command(python, "-I", "-c", find).Output()
	if err != nil {
		return nil
	}
	prefix := filepath.Dir(filepath.Dir(python))
	var dirs []string
	for _, d := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !filepath.IsAbs(d) || filepath.Base(d) != "debugpy" || !(under(d, "/usr") || prefix != "/" && under(d, prefix)) {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// kernelPython is the interpreter of the installed python3 kernelspec.
func kernelPython() string {
	for _, d := range []string{"/usr/local/share/jupyter/kernels/python3", "/usr/share/jupyter/kernels/python3"} {
		b, err := os.ReadFile(filepath.Join(d, "kernel.json"))
		if err != nil {
			continue
		}
		var spec struct {
			Argv []string `json:"argv"`
		}
		if json.Unmarshal(b, &spec) == nil && len(spec.Argv) > 0 && filepath.IsAbs(spec.Argv[0]) {
			return spec.Argv[0]
		}
	}
	return "/usr/bin/python3"
}

// cgroupPrefix names the sandbox's cgroups: agentteam-<pid>-<start>-<rand>,
// so that a later start can tell when their owner is gone.
const cgroupPrefix = "agentteam-"

func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	return []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"}
}

// makeCgroups creates a cgroup for this server in each hierarchy that has a
// memory or pids controller and lets us write; kernels get sub-cgroups.
func makeCgroups() []string {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("%s%d-%d-%s", cgroupPrefix, os.Getpid(), startTime(os.Getpid()), hex.EncodeToString(suffix))
	var dirs []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// cgroup v2: one hierarchy; enable the controllers for children.
		d := filepath.Join("/sys/fs/cgroup", name)
		if os.Mkdir(d, 0o755) == nil {
			if os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +pids"), 0o644) == nil {
				return []string{d}
			}
			_ = os.Remove(d)
		}
		return nil
	}
	for _, h := range cgroupRoots() {
		d := filepath.Join(h, name)
		if os.Mkdir(d, 0o755) == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// processes lists every process in the sandbox's cgroups.
func (sb *sandbox) processes() []int {
	var pids []int
	for _, cg := range sb.cgroups {
		pids = append(pids, cgroupProcs(cg)...)
	}
	return pids
}

// waitEmpty waits (briefly) until the cgroups hold no process.
func (sb *sandbox) waitEmpty() {
	deadline := time.Now().Add(3 * time.Second)
	for len(sb.processes()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanup removes the cgroups and releases the workspace: what the kernels
// wrote is copied into the work directory.
func (sb *sandbox) cleanup() error {
	sb.cleanupCgroups()
	if sb.watch != nil {
		sb.watch.close()
		sb.watch = nil
	}
	if sb.diskLimit {
		sb.diskLimit = false
		return releaseWorkspace(sb.dir, sb.workDir)
	}
	return nil
}

func (sb *sandbox) cleanupCgroups() {
	for _, cg := range sb.cgroups {
		removeCgroup(cg)
	}
	sb.cgroups = nil
}

// deathCause says "memory limit" when the kernel's cgroup saw an OOM kill.
func (sb *sandbox) deathCause(kernelID string) string {
	if sb.watch != nil {
		if c := sb.watch.deathCause(kernelID); c != "" {
			return c
		}
	}
	for _, cg := range sb.cgroups {
		d := filepath.Join(cg, "kernel-"+kernelID)
		if oomKills(d) > 0 {
			return fmt.Sprintf("the kernel hit the sandbox memory limit (%s) and was killed", formatBytes(sb.memory))
		}
	}
	return ""
}

// limitNotes says where the limits are weaker than the policy states
// (without root): one sentence each.
func (sb *sandbox) limitNotes() []string { return append([]string(nil), sb.notes...) }

func (sb *sandbox) limitSummary() []string { return append([]string(nil), sb.short...) }

func oomKills(dir string) int {
	for _, f := range []string{"memory.oom_control", "memory.events"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 2 && fields[0] == "oom_kill" {
				n, _ := strconv.Atoi(fields[1])
				return n
			}
		}
	}
	return 0
}
