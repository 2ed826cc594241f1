package solve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// copyCode writes files named like every other run's, in the kernel's
// working directory.
const copyCode = "Copying.\n```python\nimport os\nd = open('data.csv').read()\nopen('out.csv', 'w').write(d.upper())\nos.makedirs('sub', exist_ok=True)\nopen('sub/note.txt', 'w').write(d)\nprint('cwd', os.getcwd())\n```"

// copyTeam answers from what each request shows, so that concurrent runs
// can share it.
func copyTeam(_ int, req *fakeopenai.Request) fakeopenai.Reply {
	if strings.Contains(req.Messages[0].Content, "You are the planner") {
		return fakeopenai.Reply{Text: "1. Copy the data."}
	}
	if strings.Contains(req.Text(), "cwd /") {
		return fakeopenai.Reply{Text: "Copied. TERMINATE"}
	}
	return fakeopenai.Reply{Text: copyCode}
}

// Two runs at once on one server (whose process runs outside its root
// directory), with the same file names: each works in its own directory
// under the root, reads its own input, collects its own outputs, and
// leaves nothing behind.
func TestRunsOnASharedServerStayApart(t *testing.T) {
	cwd := t.TempDir()
	js := jupytertest.StartElsewhere(t, cwd)
	m, _ := model(t, copyTeam)
	r, err := New(remoteConfig(js, m))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	inputs := []string{"alpha,1\n", "beta,2\n"}
	dirs := make([]string, len(inputs))
	sums := make([]*Summary, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		dirs[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev, err := range r.Run(ctx, Task{Text: "Copy data.csv", OutDir: dirs[i], Files: []File{{Name: "data.csv", Data: []byte(in)}}}) {
				if err != nil {
					errs[i] = err
				}
				if ev.Type == EventSummary {
					sums[i] = ev.Summary
				}
			}
		}()
	}
	wg.Wait()
	for i, in := range inputs {
		require.NoError(t, errs[i])
		require.NotNil(t, sums[i])
		assert.Equal(t, Finished, sums[i].Cause, sums[i].Reason)
		assert.Equal(t, []string{"out.csv", "sub/note.txt"}, sums[i].Files)
		assert.Equal(t, strings.ToUpper(in), readFile(t, filepath.Join(dirs[i], "files", "out.csv")))
		assert.Equal(t, in, readFile(t, filepath.Join(dirs[i], "files", "sub", "note.txt")))
		assert.NoFileExists(t, filepath.Join(dirs[i], "files", "data.csv"), "inputs are not collected")
		// The kernel worked in agentteam/<run id> under the server's root.
		nb := readFile(t, filepath.Join(dirs[i], "notebook.ipynb"))
		assert.Contains(t, nb, "cwd "+filepath.Join(js.RootDir, "agentteam")+"/")
	}
	// Nothing in the server process's directory, nothing left in the root.
	left, err := os.ReadDir(cwd)
	require.NoError(t, err)
	assert.Empty(t, left, "the server's cwd is untouched")
	rootLeft, _ := os.ReadDir(filepath.Join(js.RootDir, "agentteam"))
	assert.Empty(t, rootLeft, "each run's remote directory is removed")
	assert.NoFileExists(t, filepath.Join(js.RootDir, "data.csv"))

	t.Run("keep remote", func(t *testing.T) {
		cfg := remoteConfig(js, m)
		cfg.KeepRemote = true
		cfg.RemoteDir = "runs/here"
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		_, sum, err := collect(t, ctx, r, Task{ID: "kept-1", Text: "Copy data.csv", Files: []File{{Name: "data.csv", Data: []byte("gamma\n")}}})
		require.NoError(t, err)
		assert.Equal(t, Finished, sum.Cause, sum.Reason)
		kept := filepath.Join(js.RootDir, "runs", "here", "kept-1")
		assert.Equal(t, "gamma\n", readFile(t, filepath.Join(kept, "data.csv")))
		assert.Equal(t, "GAMMA\n", readFile(t, filepath.Join(kept, "out.csv")))
	})
	t.Run("bad run id", func(t *testing.T) {
		_, sum, err := collect(t, ctx, r, Task{ID: "../escape", Text: "x", OutDir: t.TempDir()})
		require.Error(t, err)
		assert.Contains(t, sum.Reason, "run id")
	})
	assert.Eventually(t, func() bool { return len(js.KernelPids()) == 0 }, 10*time.Second, 50*time.Millisecond, "every kernel is shut down")
}

// Where the server has no contents API (a Kernel Gateway), the kernel makes
// the run's directory itself, in its own working directory, and removes it.
func TestRunDirectoryMadeByTheKernel(t *testing.T) {
	cwd := t.TempDir()
	js := jupytertest.StartElsewhere(t, cwd)
	m, _ := model(t, copyTeam)
	cfg := remoteConfig(js, m)
	cfg.Session.FilesThroughKernel = true
	cfg.OutDir = t.TempDir()
	r, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, sum, err := collect(t, ctx, r, Task{ID: "kg-1", Text: "Copy data.csv", Files: []File{{Name: "data.csv", Data: []byte("delta\n")}}})
	require.NoError(t, err)
	assert.Equal(t, Finished, sum.Cause, sum.Reason)
	assert.Equal(t, []string{"out.csv", "sub/note.txt"}, sum.Files)
	assert.Equal(t, "DELTA\n", readFile(t, filepath.Join(cfg.OutDir, "files", "out.csv")))
	assert.Contains(t, readFile(t, filepath.Join(cfg.OutDir, "notebook.ipynb")), "cwd "+filepath.Join(cwd, "agentteam", "kg-1"))
	assert.NoDirExists(t, filepath.Join(cwd, "agentteam", "kg-1"), "removed after the run")
	assert.NoFileExists(t, filepath.Join(cwd, "data.csv"))
}

// countingKernel records whether the run gave its kernel back.
type countingKernel struct {
	Kernel
	closed *int
}

func (k countingKernel) Close(ctx context.Context) error {
	*k.closed++
	return k.Kernel.Close(ctx)
}

// A caller may hand a run an open kernel (used, never closed by the run)
// or a factory (called once per run, its kernel closed at the end).
func TestRunOnAGivenKernel(t *testing.T) {
	js := jupytertest.Start(t)
	m, _ := model(t, copyTeam)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	sess, err := session.Open(ctx, session.Config{URL: js.URL, Token: js.Token, RemoteDir: "warm"})
	require.NoError(t, err)
	defer sess.Close(context.Background())
	cfg := remoteConfig(js, m)
	cfg.Kernel = sess
	cfg.Where = "a warm kernel"
	r, err := New(cfg)
	require.NoError(t, err)
	for i, in := range []string{"one\n", "two\n"} {
		dir := t.TempDir()
		_, sum, err := collect(t, ctx, r, Task{Text: "Copy data.csv", OutDir: dir, Files: []File{{Name: "data.csv", Data: []byte(in)}}})
		require.NoError(t, err, "run %d", i)
		assert.Equal(t, Finished, sum.Cause, sum.Reason)
		assert.Equal(t, strings.ToUpper(in), readFile(t, filepath.Join(dir, "files", "out.csv")))
		assert.Contains(t, readFile(t, filepath.Join(dir, "notebook.ipynb")), "a warm kernel")
	}
	res, err := executor.Execute(ctx, sess, executor.Request{Code: "print(open('out.csv').read())"})
	require.NoError(t, err, "the kernel is still open")
	assert.Equal(t, "TWO", strings.TrimSpace(res.Text()))

	closed, made := 0, 0
	cfg = remoteConfig(js, m)
	cfg.NewKernel = func(ctx context.Context, run RunInfo) (Kernel, error) {
		made++
		assert.NotEmpty(t, run.ID)
		assert.Equal(t, "agentteam/"+run.ID, run.RemoteDir)
		s, err := session.Open(ctx, session.Config{URL: js.URL, Token: js.Token, RemoteDir: run.RemoteDir})
		if err != nil {
			return nil, err
		}
		return countingKernel{Kernel: s, closed: &closed}, nil
	}
	cfg.OutDir = t.TempDir()
	r, err = New(cfg)
	require.NoError(t, err)
	_, sum, err := collect(t, ctx, r, Task{Text: "Copy data.csv", Files: []File{{Name: "data.csv", Data: []byte("three\n")}}})
	require.NoError(t, err)
	assert.Equal(t, Finished, sum.Cause, sum.Reason)
	assert.Equal(t, 1, made)
	assert.Equal(t, 1, closed)
	left, _ := os.ReadDir(filepath.Join(js.RootDir, "agentteam"))
	assert.Empty(t, left, "the factory's session removed its directory")
}
