package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/agentteam/agentteam/executor/jupyter"
)

// Default limits of Collect.
const (
	DefaultMaxFileBytes  int64 = 100 << 20
	DefaultMaxTotalBytes int64 = 1 << 30
	DefaultMaxFiles            = 10000
	// maxDepth bounds how deep Collect descends into directories.
	maxDepth = 32
)

// Reasons a file is not collected (Skipped.Reason).
const (
	ReasonTooLarge   = "larger than the per-file limit"
	ReasonTotal      = "over the limit for all files together"
	ReasonTooMany    = "over the limit on the number of files"
	ReasonSymlink    = "a symbolic link (not followed)"
	ReasonNotRegular = "not a regular file"
	ReasonHardLink   = "a hard link to a file outside the working directory, or to another name in it"
	ReasonTooDeep    = "nested too deeply"
	ReasonUnreadable = "could not be read"
)

// ErrTooLarge is returned by DownloadTo when a file is longer than the
// limit (the same error as jupyter.ErrTooLarge).
var ErrTooLarge = jupyter.ErrTooLarge

// CollectConfig configures Collect. Zero limits mean the defaults; negative
// ones mean no limit.
type CollectConfig struct {
	// MaxFileBytes is the most copied of one file; longer files are
	// skipped whole.
	MaxFileBytes int64
	// MaxTotalBytes is the most copied in all; files that would go past it
	// are skipped.
	MaxTotalBytes int64
	// MaxFiles is the most files copied or listed as skipped.
	MaxFiles int
	// Skip, when set, names files not to collect at all (e.g. the inputs);
	// they are not listed as skipped either.
	Skip func(rel string) bool
	// Create opens the destination of a file (rel is slash-separated and
	// relative); Collect writes the file into it and closes it. Required.
	Create func(rel string) (io.WriteCloser, error)
	// Remove deletes a destination Collect gave up on partway (the file
	// grew past the limit, or reading failed). Optional.
	Remove func(rel string)
}

// Skipped is a file Collect did not copy, and why.
type Skipped struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// Collected is what Collect copied and skipped.
type Collected struct {
	Files   []FileInfo `json:"files"`
	Skipped []Skipped  `json:"skipped,omitempty"`
	Bytes   int64      `json:"bytes"`
}

func (c *CollectConfig) limits() (perFile, total int64, files int) {
	perFile, total, files = c.MaxFileBytes, c.MaxTotalBytes, c.MaxFiles
	if perFile == 0 {
		perFile = DefaultMaxFileBytes
	}
	if total == 0 {
		total = DefaultMaxTotalBytes
	}
	if files == 0 {
		files = DefaultMaxFiles
	}
	if perFile < 0 {
		perFile = 1<<63 - 1
	}
	if total < 0 {
		total = 1<<63 - 1
	}
	if files < 0 {
		files = int(^uint(0) >> 1)
	}
	return
}

// collector applies the limits as files come.
type collector struct {
	cfg                  CollectConfig
	perFile, total       int64
	maxFiles             int
	res                  Collected
	full                 bool // MaxFiles reached
	moreFiles, moreBytes int64
}

func newCollector(cfg CollectConfig) *collector {
	c := &collector{cfg: cfg}
	c.perFile, c.total, c.maxFiles = cfg.limits()
	return c
}

func (c *collector) skip(rel string, size int64, reason string) {
	if c.count() >= c.maxFiles {
		c.full = true
		c.moreFiles++
		return
	}
	c.res.Skipped = append(c.res.Skipped, Skipped{Path: rel, Size: size, Reason: reason})
}

func (c *collector) count() int { return len(c.res.Files) + len(c.res.Skipped) }

// admit decides, from the size the file has now, whether to copy it; it
// returns the most bytes to copy.
func (c *collector) admit(rel string, size int64) (int64, bool) {
	if c.cfg.Skip != nil && c.cfg.Skip(rel) {
		return 0, false
	}
	if c.count() >= c.maxFiles {
		c.full = true
		c.moreFiles++
		return 0, false
	}
	if size > c.perFile {
		c.skip(rel, size, ReasonTooLarge)
		return 0, false
	}
	if c.res.Bytes+size > c.total {
		c.skip(rel, size, ReasonTotal)
		return 0, false
	}
	return min(c.perFile, c.total-c.res.Bytes), true
}

// copy copies what read writes into a new destination, at most max bytes;
// a file that turns out longer is removed and listed as skipped.
func (c *collector) copy(rel string, size int64, mtime time.Time, limit int64, read func(w io.Writer, max int64) (int64, error)) {
	dst, err := c.cfg.Create(rel)
	if err != nil {
		c.skip(rel, size, "could not be written: "+err.Error())
		return
	}
	n, err := read(dst, limit)
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("could not be written: %w", cerr)
	}
	if err != nil {
		if c.cfg.Remove != nil {
			c.cfg.Remove(rel)
		}
		reason := ReasonUnreadable + ": " + err.Error()
		if errors.Is(err, ErrTooLarge) {
			reason = ReasonTooLarge
			if limit < c.perFile {
				reason = ReasonTotal
			}
		}
		c.skip(rel, max(size, n), reason)
		return
	}
	c.res.Bytes += n
	c.res.Files = append(c.res.Files, FileInfo{Path: rel, Size: n, ModTime: mtime})
}

func (c *collector) result() *Collected {
	if c.moreFiles > 0 {
		c.res.Skipped = append(c.res.Skipped, Skipped{Path: fmt.Sprintf("(%d more files)", c.moreFiles), Reason: ReasonTooMany})
	}
	sort.Slice(c.res.Files, func(i, j int) bool { return c.res.Files[i].Path < c.res.Files[j].Path })
	return &c.res
}

// Collect copies the files in the kernel's working directory (skipping
// hidden ones, whose names start with ".") through cfg.Create, within the
// limits, and lists what it skipped and why. It never reads a whole file
// into memory.
//
// For the embedded server, it walks the directory by file descriptor:
// every name is opened relative to its already-open parent with
// O_NOFOLLOW, and only what fstat of the opened descriptor says is a
// regular file with a single link is read. Kernel code swapping files for
// symbolic links (or hard links) while Collect runs cannot make it read
// anything outside the working directory. For a remote server, files are
// streamed through the server's /files/ handler, or in chunks through the
// kernel where there is none; the limits are enforced while reading, not
// only from the sizes listed.
func (s *Session) Collect(ctx context.Context, cfg CollectConfig) (*Collected, error) {
	if cfg.Create == nil {
		return nil, errors.New("session: Collect needs a Create function")
	}
	c := newCollector(cfg)
	if s.server != nil {
		if err := c.walkLocal(ctx, s.server.WorkDir()); err != nil {
			return c.result(), err
		}
		return c.result(), nil
	}
	files, err := s.ListFiles(ctx)
	if err != nil {
		return c.result(), err
	}
	for _, f := range files {
		if ctx.Err() != nil {
			return c.result(), ctx.Err()
		}
		max, ok := c.admit(f.Path, f.Size)
		if !ok {
			continue
		}
		c.copy(f.Path, f.Size, f.ModTime, max, func(w io.Writer, max int64) (int64, error) {
			return s.downloadRemote(ctx, f.Path, w, max)
		})
	}
	return c.result(), nil
}

// entry decides whether the directory entry name below rel is visited,
// and gives its path: not when ctx is done (the error), not past the file
// limit (counted), not a hidden name.
func (c *collector) entry(ctx context.Context, rel, name string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if c.full {
		c.moreFiles++
		return "", false, nil
	}
	if strings.HasPrefix(name, ".") {
		return "", false, nil
	}
	return path.Join(rel, name), true, nil
}

// copyMax copies at most max bytes from r; ErrTooLarge when r has more.
func copyMax(w io.Writer, r io.Reader, max int64) (int64, error) {
	n, err := io.Copy(w, io.LimitReader(r, max))
	if err != nil {
		return n, err
	}
	if n == max {
		if m, _ := io.ReadFull(r, make([]byte, 1)); m > 0 {
			return n, ErrTooLarge
		}
	}
	return n, nil
}

// DownloadTo streams a file of the kernel's working directory into w, at
// most max bytes (ErrTooLarge past that; max <= 0 means
// DefaultMaxFileBytes), and returns the bytes written. For the embedded
// server the file is opened without following symbolic links at any
// level, and only a regular file is read.
func (s *Session) DownloadTo(ctx context.Context, relPath string, w io.Writer, max int64) (int64, error) {
	rel, err := cleanRel(relPath)
	if err != nil {
		return 0, err
	}
	if max <= 0 {
		max = DefaultMaxFileBytes
	}
	if s.server == nil {
		return s.downloadRemote(ctx, rel, w, max)
	}
	f, err := openBeneath(s.server.WorkDir(), rel)
	if err != nil {
		return 0, fmt.Errorf("session: download %s: %w", rel, err)
	}
	defer f.Close()
	n, err := copyMax(w, f, max)
	if err != nil {
		return n, fmt.Errorf("session: download %s: %w", rel, err)
	}
	return n, nil
}

// downloadRemote streams a file from a remote server: through /files/,
// else through the kernel.
func (s *Session) downloadRemote(ctx context.Context, rel string, w io.Writer, max int64) (int64, error) {
	if !s.cfg.FilesThroughKernel {
		n, err := s.client.DownloadTo(ctx, rel, w, max)
		var apiErr *jupyter.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || n > 0 {
			return n, err
		}
	}
	return s.downloadThroughKernel(ctx, rel, w, max)
}

// downloadThroughKernel reads a file in chunks small enough for the
// kernel's output cap, stopping once more than max bytes came.
func (s *Session) downloadThroughKernel(ctx context.Context, rel string, w io.Writer, max int64) (int64, error) {
	var n int64
	for {
		var out struct {
			Data string `json:"data"`
			EOF  bool   `json:"eof"`
		}
		code := fmt.Sprintf("def __agentteam_get():\n    import base64, json\n    with open(%s, 'rb') as f:\n        f.seek(%d)\n        b = f.read(%d)\n    print(json.dumps({'data': base64.b64encode(b).decode(), 'eof': len(b) < %d}))\n__agentteam_get(); del __agentteam_get\n",
			pyString(rel), n, downloadChunk, downloadChunk)
		if err := s.internal(ctx, code, &out); err != nil {
			return n, fmt.Errorf("session: download %s through the kernel: %w", rel, err)
		}
		chunk, err := base64.StdEncoding.DecodeString(out.Data)
		if err != nil {
			return n, fmt.Errorf("session: download %s through the kernel: %w", rel, err)
		}
		if n+int64(len(chunk)) > max {
			return n, fmt.Errorf("session: download %s: %w of %d bytes", rel, ErrTooLarge, max)
		}
		m, err := w.Write(chunk)
		n += int64(m)
		if err != nil {
			return n, err
		}
		if out.EOF {
			return n, nil
		}
	}
}
