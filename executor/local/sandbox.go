package local

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sandbox defaults.
const (
	DefaultMemory    int64 = 4 << 30
	DefaultProcesses       = 512
)

// ErrNoSandbox is returned when the sandbox is on but bubblewrap is missing
// or cannot run here.
var ErrNoSandbox = errors.New("sandbox unavailable")

// SandboxConfig confines the embedded server's kernels. The zero value is
// the safe default: each kernel runs under bubblewrap with no network, the
// whole system read-only, a private /tmp, the home directories hidden, the
// work directory the only writable place, memory limited to 4 GiB and at
// most 512 processes.
//
// Limits use cgroups (v1 or v2) when this process may create them, which is
// the case when running as root. Otherwise memory is limited with
// RLIMIT_AS, and the process limit with RLIMIT_NPROC, which the kernel does
// not enforce for root: as root without writable cgroups there is no process
// limit (a warning is logged).
type SandboxConfig struct {
	// Disabled runs kernels unconfined. It is the explicit opt-out.
	Disabled bool `json:"disabled"`
	// Network allows kernels to use the network.
	Network bool `json:"network"`
	// Memory is the per-kernel memory limit in bytes; zero means
	// DefaultMemory, negative no limit.
	Memory int64 `json:"memory"`
	// Processes is the per-kernel process limit; zero means
	// DefaultProcesses, negative no limit.
	Processes int `json:"processes"`
	// Writable lists extra directories the kernel may write.
	Writable []string `json:"writable,omitempty"`
	// Hidden lists extra directories replaced by an empty one in the kernel.
	Hidden []string `json:"hidden,omitempty"`
}

type sandbox struct {
	cfg         SandboxConfig
	jupyterPath string
	cgroups     []string // per-server cgroup directories, one per hierarchy
	memory      int64
	procs       int
}

func newSandbox(cfg Config, s *Server) (*sandbox, error) {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, fmt.Errorf("%w: bubblewrap (bwrap) is not installed, so kernels cannot be sandboxed; install it (`apt-get install bubblewrap` or `bash scripts/setup.sh`), or run unsandboxed on purpose with --no-sandbox (sandbox.enabled: false)", ErrNoSandbox)
	}
	if out, err := exec.Command(bwrap, "--ro-bind", "/", "/", "--unshare-net", "--", "/bin/true").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: bwrap cannot create a sandbox here (%s); run unsandboxed on purpose with --no-sandbox (sandbox.enabled: false)", ErrNoSandbox, strings.TrimSpace(string(out)))
	}
	sc := cfg.Sandbox
	sb := &sandbox{cfg: sc, memory: sc.Memory, procs: sc.Processes}
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

	if sb.memory > 0 || sb.procs > 0 {
		sb.cgroups = makeCgroups()
	}
	if len(sb.cgroups) == 0 && sb.procs > 0 && os.Geteuid() == 0 {
		s.log.Warn("sandbox: cgroups are not writable; running as root, the process limit cannot be enforced")
	}

	home, _ := os.UserHomeDir()
	args := []string{bwrap, "--die-with-parent",
		"--ro-bind", "/", "/",
		"--dev", "/dev", "--tmpfs", "/dev/shm",
		"--proc", "/proc",
		"--tmpfs", "/tmp",
	}
	hidden := []string{"/root", "/home"}
	if home != "" && home != "/" {
		hidden = append(hidden, home)
	}
	hidden = append(hidden, s.dir)
	hidden = append(hidden, sc.Hidden...)
	for _, h := range hidden {
		if st, err := os.Stat(h); err == nil && st.IsDir() {
			args = append(args, "--tmpfs", h)
		}
	}
	writable := append([]string{s.workDir, s.runtime}, sc.Writable...)
	for _, w := range writable {
		args = append(args, "--bind", w, w)
	}
	if !sc.Network {
		args = append(args, "--unshare-net")
	}
	args = append(args,
		"--chdir", s.workDir,
		"--setenv", "HOME", "/tmp",
		"--setenv", "TMPDIR", "/tmp",
		"--", python, "-m", "ipykernel_launcher", "-f")

	var limits []string
	if len(sb.cgroups) == 0 {
		if sb.memory > 0 {
			limits = append(limits, "--as="+strconv.FormatInt(sb.memory, 10))
		}
		if sb.procs > 0 {
			limits = append(limits, "--nproc="+strconv.Itoa(sb.procs))
		}
	}

	var script strings.Builder
	script.WriteString("#!/bin/sh\n# Starts one sandboxed kernel; $1 is its connection file.\nconn=\"$1\"\nname=$(basename \"$conn\" .json)\n")
	for _, cg := range sb.cgroups {
		fmt.Fprintf(&script, "d=%s/\"$name\"\nif mkdir -p \"$d\" 2>/dev/null; then\n", shQuote(cg))
		if sb.memory > 0 {
			m := strconv.FormatInt(sb.memory, 10)
			fmt.Fprintf(&script, "  [ -f \"$d/memory.limit_in_bytes\" ] && echo %s > \"$d/memory.limit_in_bytes\"\n", m)
			fmt.Fprintf(&script, "  [ -f \"$d/memory.max\" ] && echo %s > \"$d/memory.max\"\n", m)
			script.WriteString("  [ -f \"$d/memory.swap.max\" ] && echo 0 > \"$d/memory.swap.max\"\n")
		}
		if sb.procs > 0 {
			fmt.Fprintf(&script, "  [ -f \"$d/pids.max\" ] && echo %d > \"$d/pids.max\"\n", sb.procs)
		}
		script.WriteString("  echo $$ > \"$d/cgroup.procs\"\nfi\n")
	}
	script.WriteString("exec ")
	if len(limits) > 0 {
		if p, err := exec.LookPath("prlimit"); err == nil {
			script.WriteString(shQuote(p))
			for _, l := range limits {
				script.WriteString(" " + l)
			}
			script.WriteString(" -- ")
		} else {
			s.log.Warn("sandbox: neither cgroups nor prlimit are available; kernels run without memory and process limits")
		}
	}
	for _, a := range args {
		script.WriteString(shQuote(a) + " ")
	}
	script.WriteString("\"$conn\"\n")

	sb.jupyterPath = filepath.Join(s.dir, "share")
	specDir := filepath.Join(sb.jupyterPath, "kernels", "python3")
	if err := os.MkdirAll(specDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	wrapper := filepath.Join(specDir, "sandbox.sh")
	if err := os.WriteFile(wrapper, []byte(script.String()), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	spec := map[string]any{
		"argv":         []string{"/bin/sh", wrapper, "{connection_file}"},
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
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return sb, nil
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

// makeCgroups creates a cgroup for this server in each hierarchy that has a
// memory or pids controller and lets us write; kernels get sub-cgroups.
func makeCgroups() []string {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "agentteam-" + hex.EncodeToString(suffix)
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
	for _, h := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"} {
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
		_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// cleanup removes the cgroups (once their processes are gone).
func (sb *sandbox) cleanup() {
	for _, cg := range sb.cgroups {
		for i := 0; i < 20; i++ {
			entries, _ := os.ReadDir(cg)
			for _, e := range entries {
				if e.IsDir() {
					_ = os.Remove(filepath.Join(cg, e.Name()))
				}
			}
			if os.Remove(cg) == nil || errors.Is(os.Remove(cg), os.ErrNotExist) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// deathCause says "memory limit" when the kernel's cgroup saw an OOM kill.
func (sb *sandbox) deathCause(kernelID string) string {
	for _, cg := range sb.cgroups {
		d := filepath.Join(cg, "kernel-"+kernelID)
		if oomKills(d) > 0 {
			return fmt.Sprintf("the kernel hit the sandbox memory limit (%s) and was killed", formatBytes(sb.memory))
		}
	}
	return ""
}

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

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func shQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '-' || r == '_' || r == '.' || r == '=' || r == ':' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
