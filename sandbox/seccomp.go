// Package sandbox holds the parts of the kernel sandbox's policy that do not
// depend on how a sandbox is started: the seccomp filter every sandboxed
// kernel runs under, and the environment allow-list.
package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// ErrUnsupportedArch is returned when no seccomp filter can be built for the
// architecture.
var ErrUnsupportedArch = errors.New("seccomp: unsupported architecture")

// DeniedSyscalls are refused with EPERM inside the sandbox: they change
// mounts or namespaces, inspect or write other processes, load code into the
// kernel, or reach kernel facilities (keyrings, BPF, perf, userfaultfd,
// io_uring) that a data-analysis kernel never needs and that widen the
// attack surface. Every name must exist on every supported architecture
// unless listed in optional.
var DeniedSyscalls = []string{
	// mounts and namespaces
	"mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	// other processes
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	// the kernel itself
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie",
	"keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	// x86 only
	"umount", "iopl", "ioperm", "modify_ldt", "uselib", "ustat", "sysfs", "_sysctl",
}

// optional names exist on some architectures only (arm64 has no legacy
// umount, iopl, ...).
var optional = map[string]bool{
	"umount": true, "iopl": true, "ioperm": true, "modify_ldt": true, "uselib": true,
	"ustat": true, "sysfs": true, "_sysctl": true, "kexec_file_load": true,
	"lookup_dcookie": true,
}

// Filter returns the seccomp program for the architecture of this binary
// (GOARCH) in the binary form bwrap's --seccomp reads: an array of struct
// sock_filter in native byte order.
func Filter() ([]byte, error) { return FilterFor(runtime.GOARCH) }

// FilterFor returns the seccomp program for a GOARCH ("amd64", "arm64"); the
// library assembles for the running architecture only, so goarch must be
// runtime.GOARCH (CheckArch checks another one's syscall names).
//
// The program first checks the architecture of the calling syscall ABI: a
// call made through another ABI (e.g. the 32-bit int 0x80 entry on amd64,
// where syscall numbers differ) kills the process, x32 calls fail with
// ENOSYS; then every name in DeniedSyscalls fails with EPERM; everything else
// is allowed.
func FilterFor(goarch string) ([]byte, error) {
	names, info, err := deniedNames(goarch)
	if err != nil {
		return nil, err
	}
	if goarch != runtime.GOARCH {
		return nil, fmt.Errorf("%w: %s (this binary is %s)", ErrUnsupportedArch, goarch, runtime.GOARCH)
	}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls:      []seccomp.SyscallGroup{{Names: names, Action: seccomp.ActionErrno}},
	}
	body, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	// The library's own architecture check sends calls of a foreign ABI to
	// the default action (allow); refuse them before it runs.
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
	}
	prog = append(prog, body...)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	var buf bytes.Buffer
	order := byteOrder(goarch)
	for _, ins := range raw {
		_ = binary.Write(&buf, order, ins.Op)
		buf.WriteByte(ins.Jt)
		buf.WriteByte(ins.Jf)
		_ = binary.Write(&buf, order, ins.K)
	}
	return buf.Bytes(), nil
}

// offsetof(struct seccomp_data, arch)
const archOffset = 4

// CheckArch reports whether a filter can be built for goarch: the
// architecture is supported and every required syscall name is known there.
func CheckArch(goarch string) error {
	_, _, err := deniedNames(goarch)
	return err
}

func deniedNames(goarch string) ([]string, *arch.Info, error) {
	info, err := arch.GetInfo(goarch)
	if err != nil || (info != arch.X86_64 && info != arch.AARCH64) {
		return nil, nil, fmt.Errorf("%w: %s", ErrUnsupportedArch, goarch)
	}
	var names []string
	for _, n := range DeniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		} else if !optional[n] {
			return nil, nil, fmt.Errorf("seccomp: syscall %s unknown on %s", n, goarch)
		}
	}
	return names, info, nil
}

// AuditArch is the AUDIT_ARCH value of a GOARCH, as seen in seccomp_data.
func AuditArch(goarch string) (uint32, error) {
	info, err := arch.GetInfo(goarch)
	if err != nil {
		return 0, err
	}
	return uint32(info.ID), nil
}

// SyscallNumber is the number of a syscall on a GOARCH.
func SyscallNumber(goarch, name string) (int, bool) {
	info, err := arch.GetInfo(goarch)
	if err != nil {
		return 0, false
	}
	nr, ok := info.SyscallNames[name]
	return nr, ok
}

func byteOrder(goarch string) binary.ByteOrder {
	switch goarch {
	case "amd64", "arm64", "386", "arm", "riscv64", "ppc64le", "mipsle", "mips64le", "loong64":
		return binary.LittleEndian
	}
	return binary.BigEndian
}
