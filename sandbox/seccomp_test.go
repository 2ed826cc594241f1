package sandbox

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
)

// The required names are those the sandbox promises to deny.
var required = []string{
	"mount", "umount2", "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load",
	"bpf", "perf_event_open", "keyctl", "add_key", "setns", "unshare", "pivot_root",
	"userfaultfd", "open_by_handle_at",
}

func TestEverySupportedArchKnowsTheDeniedSyscalls(t *testing.T) {
	for _, goarch := range []string{"amd64", "arm64"} {
		require.NoError(t, CheckArch(goarch), goarch)
		for _, n := range required {
			_, ok := SyscallNumber(goarch, n)
			assert.True(t, ok, "%s on %s", n, goarch)
		}
	}
	// x86_64 and arm64 have umount2 only; umount is the i386 name.
	_, ok := SyscallNumber("amd64", "umount")
	assert.False(t, ok)
	assert.ErrorIs(t, CheckArch("s390x"), ErrUnsupportedArch)
}

// run executes the filter bytes on a seccomp_data for (arch, nr). The BPF
// interpreter loads words big-endian, so the data is laid out that way.
func run(t *testing.T, filter []byte, auditArch uint32, nr uint32) uint32 {
	t.Helper()
	require.Zero(t, len(filter)%8)
	var raw []bpf.RawInstruction
	for i := 0; i < len(filter); i += 8 {
		raw = append(raw, bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(filter[i:]), Jt: filter[i+2], Jf: filter[i+3],
			K: binary.LittleEndian.Uint32(filter[i+4:]),
		})
	}
	prog, ok := bpf.Disassemble(raw)
	require.True(t, ok, "the filter disassembles")
	vm, err := bpf.NewVM(prog)
	require.NoError(t, err)
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], auditArch)
	out, err := vm.Run(data)
	require.NoError(t, err)
	return uint32(out)
}

const (
	retAllow = 0x7fff0000
	retEPERM = 0x00050000 | 1
	retKill  = 0x80000000
)

func TestFilterDeniesTheListAndAllowsTheRest(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("seccomp filter is built for amd64 and arm64")
	}
	f, err := Filter()
	require.NoError(t, err)
	native, err := AuditArch(runtime.GOARCH)
	require.NoError(t, err)
	for _, n := range DeniedSyscalls {
		nr, ok := SyscallNumber(runtime.GOARCH, n)
		if !ok {
			continue
		}
		assert.Equal(t, uint32(retEPERM), run(t, f, native, uint32(nr)), n)
	}
	for _, n := range []string{"read", "write", "openat", "mmap", "clone", "execve", "socket", "connect", "futex"} {
		nr, ok := SyscallNumber(runtime.GOARCH, n)
		require.True(t, ok, n)
		assert.Equal(t, uint32(retAllow), run(t, f, native, uint32(nr)), n)
	}
	// A foreign ABI (i386 on amd64, arm on arm64) is killed whatever the
	// number: its numbers mean other syscalls (26 is ptrace on i386).
	foreign := "386"
	if runtime.GOARCH == "arm64" {
		foreign = "arm"
	}
	fa, err := AuditArch(foreign)
	require.NoError(t, err)
	assert.Equal(t, uint32(retKill), run(t, f, fa, 26))
	assert.Equal(t, uint32(retKill), run(t, f, fa, 0))
	if runtime.GOARCH == "amd64" {
		// x32 numbers have bit 30 set.
		nr, _ := SyscallNumber("amd64", "ptrace")
		assert.NotEqual(t, uint32(retAllow), run(t, f, native, uint32(nr)|0x40000000))
	}
	_, err = FilterFor("s390x")
	assert.ErrorIs(t, err, ErrUnsupportedArch)
}
