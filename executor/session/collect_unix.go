//go:build unix

package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// walkLocal collects the embedded server's working directory by file
// descriptor (see Collect).
func (c *collector) walkLocal(ctx context.Context, dir string) error {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("session: open the working directory: %w", err)
	}
	return c.walk(ctx, root, "", 0)
}

// walk collects the directory open at dirfd (which it closes).
func (c *collector) walk(ctx context.Context, dirfd int, rel string, depth int) error {
	dir := os.NewFile(uintptr(dirfd), rel)
	defer dir.Close()
	for {
		entries, err := dir.ReadDir(256)
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			name := e.Name()
			p, ok, err := c.entry(ctx, rel, name)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ELOOP) {
					c.skip(p, 0, ReasonSymlink)
				} else if !errors.Is(err, unix.ENOENT) {
					c.skip(p, 0, ReasonUnreadable+": "+err.Error())
				}
				continue
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				c.skip(p, 0, ReasonUnreadable+": "+err.Error())
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if depth+1 >= maxDepth {
					unix.Close(fd)
					c.skip(p+"/", 0, ReasonTooDeep)
					continue
				}
				if err := c.walk(ctx, fd, p, depth+1); err != nil {
					return err
				}
			case unix.S_IFREG:
				c.copyFD(fd, p, &st)
			default:
				unix.Close(fd)
				c.skip(p, st.Size, ReasonNotRegular)
			}
		}
		if err != nil || len(entries) == 0 {
			return nil // io.EOF, or a directory that vanished
		}
	}
}

// copyFD copies the regular file open at fd (which it closes).
func (c *collector) copyFD(fd int, rel string, st *unix.Stat_t) {
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	if st.Nlink > 1 {
		if c.cfg.Skip == nil || !c.cfg.Skip(rel) {
			c.skip(rel, st.Size, ReasonHardLink)
		}
		return
	}
	max, ok := c.admit(rel, st.Size)
	if !ok {
		return
	}
	c.copy(rel, st.Size, time.Unix(st.Mtim.Unix()), max, func(w io.Writer, max int64) (int64, error) {
		return copyMax(w, f, max)
	})
}

// openBeneath opens the regular file rel below root, refusing symbolic
// links at every level.
func openBeneath(root, rel string) (*os.File, error) {
	dirfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(rel, "/")
	for _, d := range parts[:len(parts)-1] {
		fd, err := unix.Openat(dirfd, d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dirfd)
		if err != nil {
			return nil, err
		}
		dirfd = fd
	}
	fd, err := unix.Openat(dirfd, parts[len(parts)-1], unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	unix.Close(dirfd)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, errors.New(ReasonNotRegular)
	}
	return os.NewFile(uintptr(fd), rel), nil
}
