package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/agentteam/agentteam/internal/procs"
)

// The workspace disk limit without root. No size-limited filesystem can be
// mounted over the work directory by an unprivileged user (a loop mount
// needs root; a tmpfs would hold the files in memory and out of the host's
// sight), so the bound is kept by watching: the watcher measures what the
// work directory holds (blocks allocated, each inode once, plus files the
// kernels deleted but still hold open or mapped), and when the growth since
// the start passes the limit it kills every kernel of the server; past the
// limit, kernels may delete but not add. The files inotify reports changed
// are measured at once; when they may have passed the limit, the kernels
// are paused (SIGSTOP) while the whole directory is measured. The whole
// directory is also measured at least every pollEvery (less often for one
// that takes long to walk), which catches writes through a mapping that
// inotify does not report. Each kernel also runs under RLIMIT_FSIZE of the
// limit, so no single file grows past it, however fast it is written. What
// the kernels write before the watcher reacts goes over the limit: the
// overshoot is the write speed times the reaction time.

const (
	pollEvery   = 250 * time.Millisecond
	minInterval = 20 * time.Millisecond
)

type diskWatch struct {
	dir     string // the work directory
	runtime string // the server's runtime directory (in every kernel's command line)
	limit   int64
	base    int64
	log     *slog.Logger

	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	killed map[string]bool // kernel ids stopped for the limit
	over   int64           // growth measured when they were stopped
}

// startDiskWatch measures the work directory and watches it until close.
func startDiskWatch(dir, runtime string, limit int64, log *slog.Logger) (*diskWatch, error) {
	w := &diskWatch{dir: dir, runtime: runtime, limit: limit, log: log,
		stop: make(chan struct{}), done: make(chan struct{}), killed: map[string]bool{}}
	base, err := w.usage(nil)
	if err != nil {
		return nil, fmt.Errorf("sandbox: measuring the work directory: %w", err)
	}
	w.base = base
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		fd = -1 // polling alone
	}
	go w.run(fd)
	return w, nil
}

func (w *diskWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// inotifyMask is the changes that may grow the work directory.
const inotifyMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_ATTRIB

// watcher state shared with the inotify reader.
type inotifyState struct {
	mu       sync.Mutex
	dirs     map[int]string  // watch descriptor -> directory
	watched  map[string]bool // directories watched
	touched  map[string]bool // files changed since the last walk
	needWalk bool            // a directory appeared, or events were lost
}

func (w *diskWatch) run(fd int) {
	defer close(w.done)
	st := &inotifyState{dirs: map[int]string{}, watched: map[string]bool{}, touched: map[string]bool{}}
	var events chan struct{}
	if fd >= 0 {
		events = make(chan struct{}, 1)
		reader := make(chan struct{})
		go func() { defer close(reader); readEvents(fd, st, events, w.stop) }()
		// The descriptor is closed only when the reader is done with
		// it: its number may be reused at once.
		defer func() { <-reader; unix.Close(fd) }()
	}
	var ceiling int64 // usage when the kernels were last stopped
	var last int64    // usage at the last walk
	var lastAt time.Time
	var took time.Duration
	walk := func() {
		start := time.Now()
		st.mu.Lock()
		st.touched, st.needWalk = map[string]bool{}, false
		st.mu.Unlock()
		n, err := w.usage(func(dir string) {
			if fd < 0 {
				return
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if !st.watched[dir] {
				if wd, err := unix.InotifyAddWatch(fd, dir, inotifyMask|unix.IN_DONT_FOLLOW); err == nil {
					st.watched[dir], st.dirs[wd] = true, dir
				}
			}
		})
		switch {
		case err != nil:
			w.log.Debug("disk watch: measuring failed; stopping the kernels", "error", err)
			w.killKernels(-1)
		case n-w.base > w.limit && n > ceiling:
			// Past the limit the kernels may delete, not add: the
			// restarted kernel runs until it writes more than was there
			// when its predecessor was stopped.
			w.killKernels(n - w.base)
			ceiling = n
		}
		last, lastAt, took = n, time.Now(), time.Since(start)
	}
	walk()
	for {
		// A walk costs time in proportion to the directory: after a
		// change at most a fifth of the time goes to walking, when idle
		// a tenth.
		soon := lastAt.Add(max(minInterval, 4*took))
		idle := lastAt.Add(max(pollEvery, 10*took))
		timer := time.NewTimer(time.Until(idle))
		select {
		case <-w.stop:
			timer.Stop()
			return
		case <-timer.C:
			walk()
			continue
		case <-events:
			timer.Stop()
		}
		// Changes: the files they name are measured at once. Past the
		// limit by that estimate (which counts each changed file whole),
		// the kernels are paused while the directory is walked to be
		// sure, so that they write nothing more meanwhile.
		st.mu.Lock()
		paths := make([]string, 0, len(st.touched))
		for p := range st.touched {
			paths = append(paths, p)
		}
		needWalk := st.needWalk
		st.mu.Unlock()
		est := last + changedBytes(paths)
		if est-w.base > w.limit && est > ceiling {
			paused := w.pause()
			walk()
			resume(paused)
			continue
		}
		if !needWalk {
			continue
		}
		select {
		case <-w.stop:
			return
		case <-time.After(time.Until(soon)):
		}
		walk()
	}
}

// pause stops every kernel process (SIGSTOP), including those started
// while it stops them, and returns them for resume.
func (w *diskWatch) pause() []int {
	stopped := map[int]bool{}
	var pids []int
	for range 5 {
		added := 0
		for _, p := range w.kernelProcesses() {
			if !stopped[p] {
				stopped[p] = true
				pids = append(pids, p)
				_ = syscall.Kill(p, syscall.SIGSTOP)
				added++
			}
		}
		if added == 0 {
			break
		}
	}
	return pids
}

// resume continues the processes pause stopped (a killed one ignores it).
func resume(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
}

// changedBytes is what the files at paths take (each inode once).
func changedBytes(paths []string) int64 {
	var total int64
	seen := map[[2]uint64]bool{}
	for _, p := range paths {
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			continue
		}
		k := [2]uint64{uint64(st.Dev), st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
	}
	return total
}

// readEvents records the files inotify reports changed in st and signals
// ev (without blocking).
func readEvents(fd int, st *inotifyState, ev chan<- struct{}, stop <-chan struct{}) {
	buf := make([]byte, 64<<10)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := unix.Poll(fds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n <= 0 {
			continue
		}
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				break
			}
			st.mu.Lock()
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				e := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameBytes := buf[off+unix.SizeofInotifyEvent : min(n, off+unix.SizeofInotifyEvent+int(e.Len))]
				off += unix.SizeofInotifyEvent + int(e.Len)
				name := string(bytes.TrimRight(nameBytes, "\x00"))
				switch {
				case e.Mask&unix.IN_Q_OVERFLOW != 0:
					st.needWalk = true
				case e.Mask&unix.IN_ISDIR != 0 && e.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
					st.needWalk = true // to watch it and what it holds
				case name != "":
					if dir, ok := st.dirs[int(e.Wd)]; ok {
						st.touched[filepath.Join(dir, name)] = true
					}
				}
			}
			st.mu.Unlock()
			// Signal each batch: a steady stream of events never
			// drains the queue.
			select {
			case ev <- struct{}{}:
			default:
			}
		}
	}
}

// usage is the bytes allocated under the work directory (each inode once),
// plus the files under it that kernel processes deleted but hold open or
// mapped. A directory the kernel made unreadable is made readable again
// (it is this user's); one that stays unreadable is an error.
func (w *diskWatch) usage(onDir func(dir string)) (int64, error) {
	var total int64
	seen := map[[2]uint64]bool{}
	count := func(st *syscall.Stat_t) {
		k := [2]uint64{uint64(st.Dev), st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
	}
	var walkErr error
	var walk func(dir string)
	walk = func(dir string) {
		if onDir != nil {
			onDir(dir)
		}
		f, err := os.Open(dir)
		if errors.Is(err, fs.ErrPermission) {
			_ = os.Chmod(dir, 0o700)
			f, err = os.Open(dir)
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && walkErr == nil {
				walkErr = err
			}
			return
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil && walkErr == nil {
			walkErr = err
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				continue
			}
			count(&st)
			if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				walk(p)
			}
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(w.dir, &st); err != nil {
		return 0, err
	}
	count(&st)
	walk(w.dir)
	for _, pid := range w.kernelProcesses() {
		total += w.hiddenFiles(pid, seen)
	}
	return total, walkErr
}

// hiddenFiles is what the deleted files under the work directory that pid
// holds open or mapped take (each inode once).
func (w *diskWatch) hiddenFiles(pid int, seen map[[2]uint64]bool) int64 {
	var total int64
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, _ := os.ReadDir(fdDir)
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil || !strings.HasSuffix(link, " (deleted)") || !under(strings.TrimSuffix(link, " (deleted)"), w.dir) {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(fdDir, e.Name()), &st) != nil {
			continue
		}
		k := [2]uint64{uint64(st.Dev), st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
	}
	// A mapping outlives its descriptor; its size bounds what it holds.
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return total
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasSuffix(line, []byte(" (deleted)")) {
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) < 7 {
			continue
		}
		path := strings.Join(fields[5:len(fields)-1], " ")
		if !under(path, w.dir) {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		a, err1 := strconv.ParseUint(start, 16, 64)
		b, err2 := strconv.ParseUint(end, 16, 64)
		if !ok || err1 != nil || err2 != nil || b < a {
			continue
		}
		total += int64(b - a)
	}
	return total
}

// kernelProcesses lists the server's kernel processes (their command lines
// name the runtime directory) and all their descendants.
func (w *diskWatch) kernelProcesses() []int {
	roots := procs.Matching(w.runtime)
	if len(roots) == 0 {
		return nil
	}
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	seen := map[int]bool{}
	var out []int
	var visit func(int)
	visit = func(p int) {
		if seen[p] || p == os.Getpid() {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			visit(c)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	return out
}

// killKernels kills every kernel process (and what they started) and
// remembers the kernels' ids for deathCause. growth < 0: the directory
// could not be measured.
func (w *diskWatch) killKernels(growth int64) {
	pids := w.kernelProcesses()
	if len(pids) == 0 {
		return
	}
	w.mu.Lock()
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if id := kernelIDIn(string(b)); id != "" {
			w.killed[id] = true
		}
	}
	w.over = growth
	w.mu.Unlock()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	w.log.Debug("disk watch: kernels stopped", "growth", growth, "limit", w.limit, "processes", len(pids))
}

// kernelIDIn finds the id in "kernel-<id>.json" in a command line.
func kernelIDIn(cmdline string) string {
	if m := kernelFile.FindStringSubmatch(cmdline); m != nil {
		return m[1]
	}
	return ""
}

var kernelFile = regexp.MustCompile(`kernel-([0-9a-fA-F-]+)\.json`)

// deathCause says why a kernel was stopped, when the watcher stopped it.
func (w *diskWatch) deathCause(kernelID string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.killed[kernelID] {
		return ""
	}
	delete(w.killed, kernelID) // a restarted kernel keeps its id
	if w.over < 0 {
		return "the sandbox could not measure the work directory against its disk limit and stopped the kernel"
	}
	return fmt.Sprintf("the kernels wrote more than the sandbox disk limit (%s) to the work directory and were stopped", formatBytes(w.limit))
}
