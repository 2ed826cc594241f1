package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// owner is recorded in a server's private directory (file "owner") so that a
// later Start can tell whether the process that made it is gone, and undo
// what it left: the work directory's overlay and disk image, cgroups.
type owner struct {
	Pid     int      `json:"pid"`
	Start   uint64   `json:"start"` // the process's start time (clock ticks since boot)
	WorkDir string   `json:"workdir,omitempty"`
	Cgroups []string `json:"cgroups,omitempty"`
}

const ownerFile = "owner"

func writeOwner(dir string) error {
	return saveOwner(dir, owner{Pid: os.Getpid(), Start: startTime(os.Getpid())})
}

func saveOwner(dir string, o owner) error {
	b, _ := json.Marshal(o)
	tmp := filepath.Join(dir, ownerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ownerFile))
}

func readOwner(dir string) (owner, bool) {
	var o owner
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil || json.Unmarshal(b, &o) != nil || o.Pid <= 0 || o.Start == 0 {
		return o, false
	}
	return o, true
}

// startTime is field 22 of /proc/pid/stat; 0 when the process is gone.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// alive reports whether the recorded owner still runs: same pid, same start
// time (a reused pid has another).
func (o owner) alive() bool { return startTime(o.Pid) == o.Start }

// sweepStale removes what servers whose owner process is gone left behind
// (after a SIGKILL): their private directories in the temporary directory
// and /tmp, with the work directory's overlay (its changes are copied into
// the work directory first) and disk image, and their cgroups. Directories
// without an owner record, or whose owner lives, are left alone.
func sweepStale(log *slog.Logger) {
	seen := map[string]bool{}
	for _, base := range []string{os.TempDir(), "/tmp"} {
		matches, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
		for _, dir := range matches {
			if seen[dir] {
				continue
			}
			seen[dir] = true
			st, err := os.Lstat(dir)
			if err != nil || !st.IsDir() || st.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
				continue
			}
			o, ok := readOwner(dir)
			if !ok || o.alive() {
				continue
			}
			log.Debug("removing a stale embedded server directory", "dir", dir, "owner", o.Pid)
			if o.WorkDir != "" {
				if err := releaseWorkspace(dir, o.WorkDir); err != nil {
					log.Warn("stale workspace not released", "dir", dir, "err", err)
					continue
				}
			}
			for _, cg := range o.Cgroups {
				removeCgroup(cg)
			}
			if !mountedUnder(dir) {
				_ = os.RemoveAll(dir)
			}
		}
	}
	sweepCgroups(log)
}

// sweepCgroups removes cgroups named agentteam-<pid>-<start>-... whose
// owner is gone, killing what still runs in them.
func sweepCgroups(log *slog.Logger) {
	for _, root := range cgroupRoots() {
		matches, _ := filepath.Glob(filepath.Join(root, cgroupPrefix+"*"))
		for _, cg := range matches {
			f := strings.Split(strings.TrimPrefix(filepath.Base(cg), cgroupPrefix), "-")
			if len(f) != 3 {
				continue
			}
			pid, err1 := strconv.Atoi(f[0])
			start, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 != nil || err2 != nil || (owner{Pid: pid, Start: start}).alive() {
				continue
			}
			log.Debug("removing a stale sandbox cgroup", "cgroup", cg)
			removeCgroup(cg)
		}
	}
}

// removeCgroup kills every process in cg and its children and removes them.
func removeCgroup(cg string) {
	for i := 0; i < 40; i++ {
		pids := cgroupProcs(cg)
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		entries, _ := os.ReadDir(cg)
		for _, e := range entries {
			if e.IsDir() {
				_ = os.Remove(filepath.Join(cg, e.Name()))
			}
		}
		if err := os.Remove(cg); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cgroupProcs(cg string) []int {
	var pids []int
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
	return pids
}

// mounts lists the mount points of this mount namespace.
func mounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isMountPoint reports whether path is a mount point.
func isMountPoint(path string) bool {
	for _, m := range mounts() {
		if m == path {
			return true
		}
	}
	return false
}

// mountedUnder reports whether anything is mounted at or below dir.
func mountedUnder(dir string) bool {
	for _, m := range mounts() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			return true
		}
	}
	return false
}

// unmount detaches the mount at path; a busy mount is detached lazily.
func unmount(path string) error {
	err := unix.Unmount(path, 0)
	if err == unix.EBUSY {
		err = unix.Unmount(path, unix.MNT_DETACH)
	}
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	return nil
}
