package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// Two runs' kernels on one remote server work in directories of their
// own: the same file name in both does not collide, listing shows only the
// run's own files, a restart keeps the kernel in its directory, and Close
// removes it.
func TestRemoteKernelsAreKeptApart(t *testing.T) {
	srv := jupytertest.Start(t)
	var starts atomic.Int32
	ks := NewKernels(KernelsConfig{Session: session.Config{URL: srv.URL, Token: srv.Token}, OnStart: func() { starts.Add(1) }})
	ctx := context.Background()
	defer ks.Close(ctx)

	a, err := ks.Get(ctx, "", "")
	require.NoError(t, err)
	b, err := ks.Get(ctx, "", "")
	require.NoError(t, err)
	assert.Equal(t, int32(2), starts.Load())
	require.NoError(t, a.Upload(ctx, "data.csv", []byte("a\n1\n")))
	require.NoError(t, b.Upload(ctx, "data.csv", []byte("b\n2\n")))
	res, err := a.Execute(ctx, executor.Request{Code: "print(open('data.csv').read().split()[0]); _ = open('out.txt', 'w').write('from a')"})
	require.NoError(t, err)
	assert.Equal(t, "a", strings.TrimSpace(res.Text()))

	fa, err := a.ListFiles(ctx)
	require.NoError(t, err)
	fb, err := b.ListFiles(ctx)
	require.NoError(t, err)
	names := func(fs []session.FileInfo) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	assert.Equal(t, []string{"data.csv", "out.txt"}, names(fa))
	assert.Equal(t, []string{"data.csv"}, names(fb))
	got, err := b.Download(ctx, "data.csv")
	require.NoError(t, err)
	assert.Equal(t, "b\n2\n", string(got))

	// The files are under the server's root, in the kernel's own directory.
	onDisk := filepath.Join(srv.RootDir, filepath.FromSlash(a.RemoteDir()), "out.txt")
	_, err = os.Stat(onDisk)
	require.NoError(t, err)

	require.NoError(t, a.Restart(ctx))
	res, err = a.Execute(ctx, executor.Request{Code: "print(open('out.txt').read())"})
	require.NoError(t, err)
	assert.Equal(t, "from a", strings.TrimSpace(res.Text()), "still in its directory after a restart")

	require.NoError(t, a.Close(ctx))
	_, err = os.Stat(filepath.Dir(onDisk))
	assert.True(t, os.IsNotExist(err), "Close removes the kernel's directory")
	require.NoError(t, b.Close(ctx))
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.KernelPids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assert.Empty(t, srv.KernelPids())
}
