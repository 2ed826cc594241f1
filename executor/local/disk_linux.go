package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The workspace disk limit: what kernels write to the work directory goes to
// a filesystem of the limit's size, so a write past it fails with ENOSPC
// whatever writes it. The filesystem is an ext4 image (sparse: it takes on
// the host only what is written) loop-mounted in the server's private
// directory; an overlay mounted over the work directory keeps the
// directory's files as its read-only lower layer and puts every change in
// the image. Close copies the changes into the work directory and unmounts
// both. Alternatives were weaker: a tmpfs counts against memory, RLIMIT_FSIZE
// bounds one file, not their sum, polling lets a fast writer through, and
// project quotas need a filesystem mounted with them.
//
// It needs root (mount), a loop device and overlayfs. Without root the
// limit is kept by a watcher instead (diskwatch_linux.go).

const (
	diskImage = "disk.img"
	diskMount = "disk"
)

// setupWorkspace mounts the limited workspace over workDir.
func setupWorkspace(dir, workDir string, size int64) error {
	const feature = "workspace disk limit"
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return missing(feature, "mkfs.ext4 is not installed (package e2fsprogs)")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		return missing(feature, "mount is not installed (package mount)")
	}
	if size < 16<<20 {
		return fmt.Errorf("sandbox: disk limit %s is below the minimum of 16 MiB", formatBytes(size))
	}
	img := filepath.Join(dir, diskImage)
	f, err := os.OpenFile(img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("sandbox: disk image: %w", err)
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return fmt.Errorf("sandbox: disk image: %w", err)
	}
	// No journal (the image lives for one run and is copied out at Close),
	// no reserved blocks, no blocks reserved for growing it (resize_inode:
	// 4 MiB written, half of mkfs's time), inode tables left to the
	// image's holes (they read as zeros).
	if out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", "-O", "^has_journal,^resize_inode", "-E", "lazy_itable_init=1,nodiscard", img).CombinedOutput(); err != nil {
		return missing(feature, "mkfs.ext4: %s", firstLine(out, err))
	}
	mnt := filepath.Join(dir, diskMount)
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	// Record the work directory before mounting anything, so that a sweep
	// after a crash finds the mounts.
	o, _ := readOwner(dir)
	o.WorkDir = workDir
	if err := saveOwner(dir, o); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if out, err := exec.Command("mount", "-o", "loop,nosuid,nodev,noatime", img, mnt).CombinedOutput(); err != nil {
		return missing(feature, "cannot loop-mount a filesystem image (%s)", firstLine(out, err))
	}
	upper, work := filepath.Join(mnt, "upper"), filepath.Join(mnt, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			_ = unmount(mnt)
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	st, err := os.Stat(workDir)
	if err == nil {
		_ = os.Chmod(upper, st.Mode().Perm())
	}
	opts := "lowerdir=" + escapeOverlay(workDir) + ",upperdir=" + escapeOverlay(upper) + ",workdir=" + escapeOverlay(work) +
		",redirect_dir=off,index=off,metacopy=off"
	if err := unix.Mount("overlay", workDir, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		_ = unmount(mnt)
		return missing(feature, "cannot mount an overlay over the work directory (%v)", err)
	}
	return nil
}

// escapeOverlay escapes the characters overlayfs options treat specially.
func escapeOverlay(p string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(p)
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		s = err.Error()
	}
	return s
}

// releaseWorkspace unmounts the overlay over workDir, copies what the
// kernels changed into workDir, and unmounts and deletes the image. It does
// nothing when dir holds no image.
func releaseWorkspace(dir, workDir string) error {
	mnt := filepath.Join(dir, diskMount)
	if !isMountPoint(mnt) {
		return nil
	}
	if isMountPoint(workDir) {
		if err := unmount(workDir); err != nil {
			return err
		}
	}
	applyErr := applyUpper(filepath.Join(mnt, "upper"), workDir)
	if err := unmount(mnt); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, diskImage))
	if applyErr != nil {
		return fmt.Errorf("sandbox: copying the workspace back: %w", applyErr)
	}
	return nil
}

// applyUpper applies an overlay's upper layer to dst: whiteouts delete,
// opaque directories replace, files, directories and symlinks are copied.
// Nothing in dst is followed through a symlink: each path is checked with
// Lstat and files are opened with O_NOFOLLOW.
func applyUpper(upper, dst string) error {
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	_ = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			note(err)
			return nil
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			note(err)
			return nil
		}
		st := info.Sys().(*syscall.Stat_t)
		switch {
		case info.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0: // whiteout
			note(os.RemoveAll(target))
		case info.IsDir():
			if ti, err := os.Lstat(target); err == nil && !ti.IsDir() {
				note(os.Remove(target))
			}
			if v, _ := getxattr(p, "trusted.overlay.opaque"); v == "y" {
				note(os.RemoveAll(target))
			}
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
				note(err)
				return filepath.SkipDir
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				note(err)
				return nil
			}
			_ = os.RemoveAll(target)
			note(os.Symlink(link, target))
		case info.Mode().IsRegular():
			note(copyFile(p, target, info.Mode().Perm()))
		}
		return nil
	})
	return firstErr
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if ti, err := os.Lstat(dst); err == nil && !ti.Mode().IsRegular() {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	if err := copySparse(out, in); err != nil {
		out.Close()
		return err
	}
	_ = out.Chmod(perm)
	return out.Close()
}

// copySparse copies in to out keeping holes: only the data extents are
// read and written (SEEK_DATA/SEEK_HOLE), so a sparse file stays sparse.
func copySparse(out, in *os.File) error {
	st, err := in.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole is left
		}
		if err != nil { // no SEEK_DATA here: copy the rest whole
			if _, err := in.Seek(off, io.SeekStart); err != nil {
				return err
			}
			if _, err := out.Seek(off, io.SeekStart); err != nil {
				return err
			}
			_, err = io.Copy(out, in)
			return err
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil || hole > size {
			hole = size
		}
		if _, err := in.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyN(out, in, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return out.Truncate(size)
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
