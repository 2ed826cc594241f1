package local

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Sandbox defaults.
const (
	DefaultMemory    int64 = 4 << 30
	DefaultProcesses       = 512
	DefaultDisk      int64 = 10 << 30
)

// ErrNoSandbox is returned (wrapped in a *FeatureError) when the sandbox is
// on but this host cannot provide one of its parts. The server is not
// started: the sandbox never silently does less than it promises.
var ErrNoSandbox = errors.New("sandbox unavailable")

// FeatureError names the part of the sandbox this host cannot provide.
// errors.Is(err, ErrNoSandbox) holds for it.
type FeatureError struct {
	Feature string // e.g. "user namespaces", "seccomp filter", "workspace disk limit"
	Detail  string // why, and what would provide it
}

func (e *FeatureError) Error() string {
	s := "sandbox unavailable: " + e.Feature
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrNoSandbox) true.
func (e *FeatureError) Is(target error) bool { return target == ErrNoSandbox }

func missing(feature, format string, args ...any) error {
	return &FeatureError{Feature: feature, Detail: strings.TrimSpace(fmt.Sprintf(format, args...))}
}

// SandboxConfig confines the embedded server's kernels. The zero value is
// the safe default. Each kernel runs under bubblewrap with, from its first
// instruction:
//
//   - new user, PID, IPC, UTS, cgroup and network namespaces (the network is
//     shared only when Network is set); uid 65534 and no capabilities inside;
//     no further user namespaces;
//   - a seccomp filter refusing mount, ptrace, process_vm_*, kexec, bpf,
//     perf_event_open, keyrings, setns, unshare, userfaultfd,
//     open_by_handle_at and more (see package sandbox);
//   - a cleared environment: PATH, HOME, TMPDIR, LANG, MPLBACKEND and the
//     variables named in Env;
//   - a filesystem of /usr and /etc read-only (files in /etc that are not
//     world-readable are hidden), its own /proc, a minimal /dev, private
//     /tmp, /var/tmp, /run and /dev/shm, no /sys, no home directories, its
//     own connection file read-only and its own socket directory, and the
//     work directory as the only writable host directory; debugpy's
//     directory empty (no debugger);
//   - no kernel spec but the sandbox's own;
//   - memory limited to 4 GiB, at most 512 processes, and the work directory
//     limited to 10 GiB of new data.
//
// Where the host cannot provide one of these, Start fails with a
// *FeatureError. The limits take a weaker form where cgroups cannot be
// written and nothing can be mounted (a normal user); Server.LimitNotes
// then says so: memory is limited per process (RLIMIT_AS) and each tmpfs
// of the kernel to a quarter of it, processes by RLIMIT_NPROC (which counts
// all of the user's processes; the limit is added to those running at
// start), and the disk limit is kept by a watcher that stops the kernels
// once they have added more than it, with RLIMIT_FSIZE bounding each file.
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
	// Disk limits what the kernels may add to the work directory, in bytes;
	// zero means DefaultDisk, negative no limit. As root it is a
	// loop-mounted filesystem under an overlay (a write past it fails with
	// ENOSPC); otherwise a watcher stops the kernels once they pass it.
	Disk int64 `json:"disk"`
	// Env names variables of this process's environment passed into the
	// kernel; no other host variable reaches it.
	Env []string `json:"env,omitempty"`
	// Writable lists extra directories the kernel may write.
	Writable []string `json:"writable,omitempty"`
	// ReadOnly lists extra directories the kernel may read.
	ReadOnly []string `json:"read_only,omitempty"`
	// Hidden lists directories replaced by an empty one in the kernel (for
	// parts of Writable or ReadOnly directories).
	Hidden []string `json:"hidden,omitempty"`
}

// validEnvName reports whether name can be an environment variable's name.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
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

// sandboxJupyterPath is where a sandboxed server's kernel spec is written
// (under kernels/python3), in the server's private directory dir.
func sandboxJupyterPath(dir string) string { return filepath.Join(dir, "share") }
