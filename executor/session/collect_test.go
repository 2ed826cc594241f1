package session_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// dirSink collects into a directory, as the solve output does.
type dirSink struct {
	dir string
	mu  sync.Mutex
}

func (d *dirSink) create(rel string) (io.WriteCloser, error) {
	p := filepath.Join(d.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

func (d *dirSink) remove(rel string) { os.Remove(filepath.Join(d.dir, filepath.FromSlash(rel))) }

func (d *dirSink) config() session.CollectConfig {
	return session.CollectConfig{Create: d.create, Remove: d.remove}
}

func reasons(c *session.Collected) map[string]string {
	m := map[string]string{}
	for _, s := range c.Skipped {
		m[s.Path] = s.Reason
	}
	return m
}

func paths(c *session.Collected) []string {
	var p []string
	for _, f := range c.Files {
		p = append(p, f.Path)
	}
	return p
}

// The kernel leaves links, a fifo, a huge sparse file and files over the
// limits: Collect copies only regular files within the limits, never
// follows a link, never blocks on the fifo, and says why it skipped each.
func TestCollectEmbeddedLimitsAndLinks(t *testing.T) {
	jupytertest.RequireSandbox(t)
	work := t.TempDir()
	s := open(t, session.Config{WorkDir: work})
	host := filepath.Join(t.TempDir(), "host-secret.txt")
	require.NoError(t, os.WriteFile(host, []byte("HOST-ONLY-CONTENT"), 0o600))
	res := run(t, s, fmt.Sprintf(`
import os
os.makedirs('sub/deeper', exist_ok=True)
open('small.txt', 'w').write('small')
open('sub/deeper/b.csv', 'w').write('a,b\n1,2\n')
open('mid1.bin', 'wb').write(b'x' * 700_000)
open('mid2.bin', 'wb').write(b'y' * 700_000)
open('over.bin', 'wb').write(b'z' * 1_100_000)
with open('sparse.bin', 'wb') as f:
    f.truncate(3 << 30)
os.symlink(%q, 'link-host.txt')
os.symlink('/etc/passwd', 'link-etc.txt')
os.symlink('/etc', 'linkdir')
os.link('small.txt', 'hard.txt')
os.mkfifo('pipe')
open('input.csv', 'w').write('input')
open('.hidden', 'w').write('hidden')
open('new\nline.txt', 'w').write('nl')
print('ok')
`, host))
	require.True(t, res.OK(), res.Text())

	sink := &dirSink{dir: t.TempDir()}
	cfg := sink.config()
	cfg.MaxFileBytes = 1 << 20
	cfg.MaxTotalBytes = 1_000_000
	cfg.Skip = func(rel string) bool { return rel == "input.csv" }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := s.Collect(ctx, cfg)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"mid1.bin", "new\nline.txt", "sub/deeper/b.csv"}, paths(got))
	r := reasons(got)
	assert.Equal(t, session.ReasonTooLarge, r["sparse.bin"])
	assert.Equal(t, session.ReasonTooLarge, r["over.bin"])
	assert.Equal(t, session.ReasonTotal, r["mid2.bin"])
	assert.Equal(t, session.ReasonSymlink, r["link-host.txt"])
	assert.Equal(t, session.ReasonSymlink, r["link-etc.txt"])
	assert.Equal(t, session.ReasonSymlink, r["linkdir"])
	assert.Equal(t, session.ReasonNotRegular, r["pipe"])
	assert.Equal(t, session.ReasonHardLink, r["hard.txt"])
	assert.Equal(t, session.ReasonHardLink, r["small.txt"], "both names of a hard-linked file are skipped")
	assert.NotContains(t, r, "input.csv")
	assert.NotContains(t, r, ".hidden")
	assert.LessOrEqual(t, got.Bytes, int64(1_000_000))
	b, err := os.ReadFile(filepath.Join(sink.dir, "sub", "deeper", "b.csv"))
	require.NoError(t, err)
	assert.Equal(t, "a,b\n1,2\n", string(b))
	_, err = os.Stat(filepath.Join(sink.dir, "sparse.bin"))
	assert.True(t, os.IsNotExist(err))

	// DownloadTo refuses links too, and caps what it reads.
	var buf strings.Builder
	_, err = s.DownloadTo(ctx, "link-host.txt", &buf, 0)
	assert.Error(t, err)
	_, err = s.DownloadTo(ctx, "linkdir/passwd", &buf, 0)
	assert.Error(t, err)
	_, err = s.DownloadTo(ctx, "over.bin", &buf, 1000)
	assert.ErrorIs(t, err, session.ErrTooLarge)
	_, err = s.Download(ctx, "pipe")
	assert.Error(t, err)
	assert.NotContains(t, buf.String(), "HOST-ONLY")
}

// Kernel code swaps files for symbolic links to host files while Collect
// runs, many rounds: nothing collected ever holds host content.
func TestCollectSymlinkSwapRace(t *testing.T) {
	jupytertest.RequireSandbox(t)
	work := t.TempDir()
	s := open(t, session.Config{WorkDir: work})
	host := filepath.Join(t.TempDir(), "host-secret.txt")
	require.NoError(t, os.WriteFile(host, []byte("HOST-ONLY-CONTENT\n"), 0o600))
	targets := []string{host, "/etc/shadow", "/etc/passwd"}
	res := run(t, s, fmt.Sprintf(`
import os, threading
__stop = threading.Event()
def __swap(targets):
    os.makedirs('d', exist_ok=True)
    i = 0
    while not __stop.is_set():
        for n in range(20):
            for name in ('f%%d.txt' %% n, 'd/g%%d.txt' %% n):
                tmp = name + '.tmp'
                try:
                    if i %% 2:
                        os.symlink(targets[n %% len(targets)], tmp)
                    else:
                        with open(tmp, 'w') as f:
                            f.write('safe %%d\n' %% i)
                    os.replace(tmp, name)
                except OSError:
                    pass
        if i %% 3 == 0:
            try:
                os.replace('d', 'd.old')
                os.symlink('/etc', 'd')
                os.replace('d', 'dl')
                os.replace('d.old', 'd')
            except OSError:
                pass
        i += 1
__t = threading.Thread(target=__swap, args=(%s,), daemon=True)
__t.start()
print('swapping')
`, pyList(targets)))
	require.True(t, res.OK(), res.Text())
	defer run(t, s, "__stop.set(); __t.join()")

	host1, _ := os.ReadFile(host)
	etc := []string{string(host1)}
	for _, p := range targets[1:] {
		b, err := os.ReadFile(p)
		if err == nil && len(b) > 0 {
			etc = append(etc, firstLine(string(b)))
		}
	}
	ctx := context.Background()
	collected := 0
	for round := 0; round < 60; round++ {
		sink := &dirSink{dir: t.TempDir()}
		got, err := s.Collect(ctx, sink.config())
		require.NoError(t, err)
		collected += len(got.Files)
		for _, f := range got.Files {
			b, err := os.ReadFile(filepath.Join(sink.dir, filepath.FromSlash(f.Path)))
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(b), "safe ") || len(b) == 0, "round %d: %s holds %q", round, f.Path, b)
			for _, h := range etc {
				require.NotContains(t, string(b), h, "round %d: host content in %s", round, f.Path)
			}
		}
	}
	assert.Greater(t, collected, 100, "the race was exercised: regular files were collected")
}

func pyList(ss []string) string {
	var q []string
	for _, s := range ss {
		q = append(q, fmt.Sprintf("%q", s))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i > 0 {
		return s[:i]
	}
	return s
}

// On a remote server, files stream through /files/ (or through the
// kernel), and the limits hold while reading.
func TestCollectRemoteLimits(t *testing.T) {
	srv := jupytertest.Start(t)
	for _, through := range []bool{false, true} {
		t.Run(fmt.Sprintf("through-kernel=%v", through), func(t *testing.T) {
			s := open(t, session.Config{URL: srv.URL, Token: srv.Token, FilesThroughKernel: through})
			entries, _ := os.ReadDir(srv.RootDir)
			for _, e := range entries {
				os.RemoveAll(filepath.Join(srv.RootDir, e.Name()))
			}
			res := run(t, s, `
import os
os.makedirs('sub', exist_ok=True)
open('sub/ok.txt', 'w').write('fine')
open('big.bin', 'wb').write(b'b' * 300_000)
open('two.bin', 'wb').write(b't' * 150_000)
print('ok')
`)
			require.True(t, res.OK(), res.Text())
			sink := &dirSink{dir: t.TempDir()}
			cfg := sink.config()
			cfg.MaxFileBytes = 200_000
			cfg.MaxTotalBytes = 100_000
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got, err := s.Collect(ctx, cfg)
			require.NoError(t, err)
			assert.Equal(t, []string{"sub/ok.txt"}, paths(got))
			r := reasons(got)
			assert.Equal(t, session.ReasonTooLarge, r["big.bin"])
			assert.Equal(t, session.ReasonTotal, r["two.bin"])
			b, err := os.ReadFile(filepath.Join(sink.dir, "sub", "ok.txt"))
			require.NoError(t, err)
			assert.Equal(t, "fine", string(b))

			// A file that grows past the listed size is cut off while
			// reading, not trusted from the listing.
			var w strings.Builder
			n, err := s.DownloadTo(ctx, "big.bin", &w, 100_000)
			assert.ErrorIs(t, err, session.ErrTooLarge)
			assert.LessOrEqual(t, n, int64(100_000))
		})
	}
}
