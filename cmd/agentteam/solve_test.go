package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

const testKey = "sk-e2e-SECRET-key-4711"

const messyCSV = `id,when,city,amount
1,2024-01-05,Paris,"1,200"
2,05/01/2024,paris ,300
2,05/01/2024,paris ,300
3,,Lyon,
4,2024/01/09,LYON,450
`

// coderEndpoint answers like a planner and a coder: the coder's first
// attempt raises, it fixes the code once it has seen the error, then it
// gives the final answer.
func coderEndpoint(t *testing.T) *fakeopenai.Server {
	coderTurn := 0
	srv := fakeopenai.New(t, func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		system := ""
		if len(req.Messages) > 0 {
			system = req.Messages[0].Content
		}
		if strings.Contains(system, "You are the planner") {
			return fakeopenai.Reply{Text: "1. Load data.csv.\n2. Clean the amounts.\n3. Save cleaned.csv."}
		}
		coderTurn++
		switch coderTurn {
		case 1:
			return fakeopenai.Reply{Text: "Load and convert.\n```python\nimport pandas as pd\ndf = pd.read_csv('data.csv')\ndf['amount'] = df['amount'].astype(float)\n```"}
		case 2:
			return fakeopenai.Reply{Text: "The amounts have thousands separators.\n```python\ndf = pd.read_csv('data.csv', thousands=',').drop_duplicates()\ndf['city'] = df['city'].str.strip().str.title()\ndf.to_csv('cleaned.csv', index=False)\nprint('saved cleaned.csv', df.shape)\n```"}
		default:
			return fakeopenai.Reply{Text: "Cleaned: 4 unique rows, cities normalised, amounts numeric. File: cleaned.csv\nTERMINATE"}
		}
	})
	srv.RequireKey(testKey)
	return srv
}

type solveRun struct {
	code           int
	stdout, stderr string
	out            string // output dir
}

// runSolveBinary runs the built binary in dir with only the given
// environment (plus PATH and HOME).
func runSolveBinary(t *testing.T, dir string, env []string, args ...string) solveRun {
	t.Helper()
	bin := buildBinary(t)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, append([]string{"solve", "--out", out}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "CI=" + os.Getenv("CI"), "TMPDIR=" + os.Getenv("TMPDIR")}, env...)
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("solve did not finish: %s %s", so.String(), se.String())
	}
	return solveRun{cmd.ProcessState.ExitCode(), so.String(), se.String(), out}
}

// assertNoSecrets checks every output file and the console.
func assertNoSecrets(t *testing.T, r solveRun, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, r.stdout, s)
		assert.NotContains(t, r.stderr, s)
	}
	_ = filepath.WalkDir(r.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			assert.NotContains(t, string(b), s, "secret in %s", p)
		}
		return nil
	})
}

func assertOutputs(t *testing.T, r solveRun) {
	t.Helper()
	nb := filepath.Join(r.out, "notebook.ipynb")
	validateNotebook(t, nb)
	b, err := os.ReadFile(nb)
	require.NoError(t, err)
	assert.Contains(t, string(b), "ValueError", "the failed attempt is in the notebook")
	assert.Contains(t, string(b), "saved cleaned.csv")
	cleaned, err := os.ReadFile(filepath.Join(r.out, "files", "cleaned.csv"))
	require.NoError(t, err)
	assert.Contains(t, string(cleaned), "Paris")
	assert.NotContains(t, string(cleaned), "paris ")
	assert.Equal(t, 5, strings.Count(string(cleaned), "\n"), "header and 4 unique rows")
	report, err := os.ReadFile(filepath.Join(r.out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "Cleaned: 4 unique rows")
	assert.Contains(t, string(report), "files/cleaned.csv")
	assert.NotContains(t, string(report), "cleaned.csv\nTERMINATE", "TERMINATE is not part of the answer")
	tr, err := os.ReadFile(filepath.Join(r.out, "transcript.jsonl"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(tr)), "\n")
	assert.Greater(t, len(lines), 8)
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
	}
}

func assertModelSawError(t *testing.T, srv *fakeopenai.Server) {
	t.Helper()
	saw := false
	for _, r := range srv.Requests() {
		if strings.Contains(r.Messages[0].Content, "You are the coder") && strings.Contains(r.Text(), "could not convert string to float: '1,200'") {
			saw = true
		}
	}
	assert.True(t, saw, "the coder saw the error text")
}

func TestSolveEndToEndEmbedded(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), []byte(messyCSV), 0o644))
	srv := coderEndpoint(t)
	r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
		"Clean data.csv", "--model", "fake-model", "--verbose")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "── coder ──")
	assert.Contains(t, r.stdout, "── summary ──\nfinished\n")
	assert.Regexp(t, `tokens: \d+ \(prompt \d+, completion \d+\)`, r.stdout, "the endpoint's own token count")
	assertOutputs(t, r)
	assertModelSawError(t, srv)
	assertNoSecrets(t, r, testKey)
	// The planner got the data summary.
	first := srv.Requests()[0]
	assert.Contains(t, first.Text(), "shape: 5 rows x 4 columns")
	assert.Empty(t, jupytertest.ProcessesMatching(r.out), "no kernel or server left")
}

func TestSolveEndToEndRemote(t *testing.T) {
	js := jupytertest.Start(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "in"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in", "data.csv"), []byte(messyCSV), 0o644))
	srv := coderEndpoint(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), []byte(messyCSV), 0o644))
	r := runSolveBinary(t, dir, []string{"AGENTTEAM_API_KEY=" + testKey, "AGENTTEAM_JUPYTER_TOKEN=" + js.Token},
		"Clean the data", "--file", "data.csv", "--file", "in/data.csv", "--model", "fake-model", "--base-url", srv.URL,
		"--jupyter-url", js.URL, "--json")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "--json prints JSON lines: %q", l)
	}
	assert.Contains(t, r.stdout, `"event":"summary"`)
	assertOutputs(t, r)
	assertModelSawError(t, srv)
	assertNoSecrets(t, r, testKey, js.Token)
	// Both inputs reached the run's own directory on the server, which is
	// gone after the run (--keep-remote keeps it).
	assert.Contains(t, readString(t, filepath.Join(r.out, "notebook.ipynb")), "in/data.csv")
	assert.NoFileExists(t, filepath.Join(js.RootDir, "data.csv"))
	assert.NoDirExists(t, filepath.Join(js.RootDir, "in"))
	left, _ := os.ReadDir(filepath.Join(js.RootDir, "agentteam"))
	assert.Empty(t, left)
	assert.Eventually(t, func() bool { return len(js.KernelPids()) == 0 }, 10*time.Second, 50*time.Millisecond, "the kernel is shut down")
}

func TestSolveMaxTurnsWritesOutputs(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply {
		return fakeopenai.Reply{Text: "Still thinking, no code yet."}
	})
	r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
		"Think forever", "--model", "m", "--max-turns", "4", "--no-sandbox")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "did not finish: 4 turns reached")
	assert.Equal(t, 1, errorLines(r.stderr), "one line: %s", r.stderr)
	assert.FileExists(t, filepath.Join(r.out, "notebook.ipynb"))
	assert.FileExists(t, filepath.Join(r.out, "report.md"))
	assert.FileExists(t, filepath.Join(r.out, "transcript.jsonl"))
}

func TestSolveModelErrorsAreOneLine(t *testing.T) {
	jupytertest.Require(t)
	t.Run("401", func(t *testing.T) {
		srv := fakeopenai.New(t, fakeopenai.Script("never"))
		srv.RequireKey("the-right-key")
		r := runSolveBinary(t, t.TempDir(), []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
			"Hi", "--model", "m", "--no-sandbox")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "rejected the API key")
		assert.Equal(t, 1, errorLines(r.stderr), r.stderr)
		assertNoSecrets(t, r, testKey)
	})
	t.Run("unreachable", func(t *testing.T) {
		port, err := jupytertest.FreePort()
		require.NoError(t, err)
		start := time.Now()
		r := runSolveBinary(t, t.TempDir(), []string{"OPENAI_BASE_URL=" + fmt.Sprintf("http://127.0.0.1:%d/v1", port), "OPENAI_API_KEY=" + testKey},
			"Hi", "--model", "m", "--no-sandbox")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "unreachable")
		assert.Less(t, time.Since(start), 30*time.Second)
	})
	t.Run("no endpoint", func(t *testing.T) {
		r := runSolveBinary(t, t.TempDir(), nil, "Hi")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "no model endpoint configured")
		assert.Contains(t, r.stderr, "replay:")
	})
}

func TestSolveSignalsWriteOutputsAndCleanUp(t *testing.T) {
	jupytertest.Require(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) { testSolveSignal(t, tc.sig, tc.code) })
	}
}

func testSolveSignal(t *testing.T, sig syscall.Signal, code int) {
	dir := t.TempDir()
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(req.Messages[0].Content, "You are the planner") {
			return fakeopenai.Reply{Text: "1. Wait."}
		}
		return fakeopenai.Reply{Text: "Counting slowly.\n```python\nimport time\nfor i in range(5):\n    print('tick', i, flush=True)\nopen('started', 'w').close()\ntime.sleep(120)\n```"}
	})
	bin := buildBinary(t)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "solve", "Wait a long time", "--model", "m", "--out", out)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR"), "OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey}
	var se syncBuffer
	cmd.Stderr = &se
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(out, "workspace", "started"))
		return err == nil
	}, 90*time.Second, 50*time.Millisecond, "the cell started: %s", se.String())
	require.NoError(t, cmd.Process.Signal(sig))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("solve did not exit after %s", sig)
	}
	assert.Equal(t, code, cmd.ProcessState.ExitCode(), se.String())
	assert.Contains(t, se.String(), "interrupted by")
	assert.FileExists(t, filepath.Join(out, "notebook.ipynb"))
	assert.FileExists(t, filepath.Join(out, "transcript.jsonl"))
	assert.FileExists(t, filepath.Join(out, "report.md"))
	assert.Empty(t, jupytertest.ProcessesMatching(out), "no kernel or server left")
	// The running cell is kept with the output it had, marked interrupted;
	// the report says why there is no answer.
	validateNotebook(t, filepath.Join(out, "notebook.ipynb"))
	nb, err := notebook.ReadFile(filepath.Join(out, "notebook.ipynb"))
	require.NoError(t, err)
	var cell *notebook.Cell
	for _, c := range nb.CodeCells() {
		if strings.Contains(c.Source, "time.sleep(120)") {
			cell = c
		}
	}
	require.NotNil(t, cell, "the running cell is in the notebook")
	assert.Equal(t, map[string]any{"interrupted": true}, cell.Metadata["agentteam"])
	var text strings.Builder
	for _, o := range cell.Outputs {
		text.WriteString(o.Text)
	}
	assert.Contains(t, text.String(), "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n")
	report := readString(t, filepath.Join(out, "report.md"))
	assert.Contains(t, report, "## No final answer")
	assert.Contains(t, report, "without a final answer: interrupted by "+sigName(sig)+" at step 1.")
	assert.NotContains(t, report, "Counting slowly")
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
