package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

const (
	leakPassword = "db-pass-Wr0ng-Hands-99"
	leakPlan     = "1. Read creds.txt.\n2. Print what is in it."
)

// leakCode prints the secrets in creds.txt every way the redactor promises
// to catch: plain, base64 at two offsets, hex, on stderr, in an html
// display, in an exception, in a PNG's metadata (saved and displayed) and
// in files the code writes.
const leakCode = "Print the credentials.\n```python\n" + `import base64, sys
secrets = open('creds.txt').read().split()
for s in secrets:
    print('plain:', s)
    print('b64:', base64.b64encode(s.encode()).decode())
    print('b64 shifted:', base64.b64encode(b'xy' + s.encode()).decode())
    print('hex:', s.encode().hex())
    print('stderr:', s, file=sys.stderr)
from IPython.display import display, HTML, Image
display(HTML('<b>' + ' '.join(secrets) + '</b>'))
open('leak.txt', 'w').write('\n'.join(secrets) + '\n')
import matplotlib
matplotlib.use('agg')
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(2, 2))
plt.plot([1, 2, 3])
fig.savefig('leak.png', metadata={'Description': ' '.join(secrets)})
display(Image(filename='leak.png'))
raise ValueError('the key is ' + secrets[0])
` + "```"

// leakAnswer repeats the secrets, as a model that saw them might.
func leakAnswer(secrets []string) string {
	return "Done. The credentials were " + strings.Join(secrets, " and ") + ".\nTERMINATE"
}

// A key printed by kernel code, and repeated by the model, reaches none of
// the outputs (terminal, --json, logs, notebook, report, transcript,
// files/), in replay mode and in model mode, embedded and remote.
func TestSecretsReachNoOutput(t *testing.T) {
	jupytertest.Require(t)
	t.Run("replay", func(t *testing.T) {
		dir := t.TempDir()
		secrets := []string{testKey, leakPassword}
		writeCreds(t, dir, secrets)
		replay := filepath.Join(dir, "replay.md")
		require.NoError(t, os.WriteFile(replay, []byte(leakPlan+"\n---\n"+leakCode+"\n---\nThe code failed on purpose.\n---\n"+leakAnswer(secrets)+"\n"), 0o644))
		r := runSolveBinary(t, dir, []string{"OPENAI_API_KEY=" + testKey, "MY_DB_PASSWORD=" + leakPassword},
			"Show what creds.txt holds; the key is "+testKey, "--file", "creds.txt", "--model", "replay:"+replay, "--verbose")
		assertLeakRun(t, r, secrets)
	})
	t.Run("model-json", func(t *testing.T) {
		dir := t.TempDir()
		secrets := []string{testKey, leakPassword}
		writeCreds(t, dir, secrets)
		srv := leakEndpoint(t, secrets)
		r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey, "SERVICE_SECRET=" + leakPassword},
			"Show what creds.txt holds", "--file", "creds.txt", "--model", "m", "--json", "--verbose")
		assertLeakRun(t, r, secrets)
	})
	t.Run("remote-token", func(t *testing.T) {
		js := jupytertest.Start(t)
		dir := t.TempDir()
		secrets := []string{testKey, js.Token}
		writeCreds(t, dir, secrets)
		srv := leakEndpoint(t, secrets)
		r := runSolveBinary(t, dir, []string{"AGENTTEAM_API_KEY=" + testKey, "AGENTTEAM_JUPYTER_TOKEN=" + js.Token},
			"Show what creds.txt holds", "--file", "creds.txt", "--model", "m", "--base-url", srv.URL, "--jupyter-url", js.URL)
		assertLeakRun(t, r, secrets)
	})
}

// errorLines counts the lines of stderr, without the warning a run
// without the sandbox starts with.
func errorLines(stderr string) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.Contains(l, "WARNING: the kernel runs without the sandbox") {
			n++
		}
	}
	return n
}

func writeCreds(t *testing.T, dir string, secrets []string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "creds.txt"), []byte(strings.Join(secrets, "\n")+"\n"), 0o600))
}

func leakEndpoint(t *testing.T, secrets []string) *fakeopenai.Server {
	coder := 0
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(req.Messages[0].Content, "You are the planner") {
			return fakeopenai.Reply{Text: leakPlan}
		}
		coder++
		if coder == 1 {
			return fakeopenai.Reply{Text: leakCode}
		}
		return fakeopenai.Reply{Text: leakAnswer(secrets)}
	})
	srv.RequireKey(testKey)
	return srv
}

// assertLeakRun checks that the run did leak attempts (the code ran, the
// files were collected) and that no secret, in any promised form, is in
// the console or in any output file agentteam wrote. workspace/ is the
// kernel's own directory and not agentteam's output.
func assertLeakRun(t *testing.T, r solveRun, secrets []string) {
	t.Helper()
	require.FileExists(t, filepath.Join(r.out, "report.md"), "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	nb, err := os.ReadFile(filepath.Join(r.out, "notebook.ipynb"))
	require.NoError(t, err)
	assert.Contains(t, string(nb), "plain: [REDACTED]", "the code ran and its output was redacted")
	assert.Contains(t, string(nb), "image/png", "the figure was displayed")
	leak, err := os.ReadFile(filepath.Join(r.out, "files", "leak.txt"))
	require.NoError(t, err, "the written file was collected")
	assert.Equal(t, "[REDACTED]\n[REDACTED]\n", string(leak))
	assert.FileExists(t, filepath.Join(r.out, "files", "leak.png"))

	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, fmt.Sprintf("%x", s),
			strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(s)), "=")[:len(s)*4/3-2],
			strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("xy"+s)), "=")[4:len(s)*4/3])
	}
	for _, f := range forms {
		assert.NotContains(t, r.stdout, f)
		assert.NotContains(t, r.stderr, f)
	}
	n := 0
	_ = filepath.WalkDir(r.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == "workspace" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		n++
		b, _ := os.ReadFile(p)
		for _, f := range forms {
			assert.NotContains(t, string(b), f, "a secret in %s", p)
		}
		// The displayed PNG is in the notebook as base64: decode every
		// image there and look inside too.
		if strings.HasSuffix(p, ".ipynb") {
			for _, img := range notebookImages(t, b) {
				for _, s := range secrets {
					assert.NotContains(t, string(img), s, "a secret inside an image in %s", p)
				}
			}
		}
		return nil
	})
	assert.GreaterOrEqual(t, n, 5, "notebook, report, transcript and files were checked")
}

func notebookImages(t *testing.T, nb []byte) [][]byte {
	var doc struct {
		Cells []struct {
			Outputs []struct {
				Data map[string]any `json:"data"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	require.NoError(t, json.Unmarshal(nb, &doc))
	var imgs [][]byte
	for _, c := range doc.Cells {
		for _, o := range c.Outputs {
			if s, ok := o.Data["image/png"].(string); ok {
				// Redaction leaves non-base64 text; decode what is left.
				b, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "[REDACTED]", ""))
				imgs = append(imgs, b)
			}
		}
	}
	return imgs
}

// `agentteam solve ... | head -1`: the closed stdout does not stop the run
// before its outputs are written.
func TestSolveClosedStdoutStillWritesOutputs(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	replay := filepath.Join(dir, "replay.md")
	require.NoError(t, os.WriteFile(replay, []byte("1. Print a lot.\n---\nPrint.\n```python\nfor i in range(2000):\n    print('line', i)\nopen('made.txt', 'w').write('made')\n```\n---\nPrinted.\n---\nDone.\nTERMINATE\n"), 0o644))
	bin := buildBinary(t)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "solve", "Print a lot", "--model", "replay:"+replay, "--out", out)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR")}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var se syncBuffer
	cmd.Stderr = &se
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	assert.NotEmpty(t, line)
	require.NoError(t, stdout.Close(), "like head -1: read one line, close the pipe")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("solve did not finish")
	}
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "not killed by SIGPIPE: %s %s", cmd.ProcessState, se.String())
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "Done.")
	assert.FileExists(t, filepath.Join(out, "files", "made.txt"))
	assert.Empty(t, jupytertest.ProcessesMatching(out), "no kernel or server left")
}

// An --out that cannot be written exits 2 with a one-line cause, before
// any kernel starts.
func TestSolveUnwritableOut(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	replay := filepath.Join(dir, "replay.md")
	require.NoError(t, os.WriteFile(replay, []byte("plan\n---\nTERMINATE\n"), 0o644))
	bin := buildBinary(t)
	for name, out := range map[string]string{
		"below a file": filepath.Join(file, "out"),
		"a file":       file,
		"in /proc":     "/proc/agentteam-out",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			cmd := exec.Command(bin, "solve", "Hi", "--model", "replay:"+replay, "--out", out)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR")}
			var so, se syncBuffer
			cmd.Stdout, cmd.Stderr = &so, &se
			_ = cmd.Run()
			assert.Equal(t, 2, cmd.ProcessState.ExitCode(), "stdout: %s\nstderr: %s", so.String(), se.String())
			msg := strings.TrimSpace(se.String())
			assert.Equal(t, 0, strings.Count(msg, "\n"), "one line: %q", msg)
			assert.Contains(t, msg, "--out")
			assert.Contains(t, msg, out)
			assert.Less(t, time.Since(start), 10*time.Second)
		})
	}
}

// --no-sandbox, by any route, warns on stderr (with -q too) and is
// recorded in report.md, the transcript and the notebook's metadata.
func TestNoSandboxIsWarnedAndRecorded(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	replay := filepath.Join(dir, "replay.md")
	require.NoError(t, os.WriteFile(replay, []byte("1. Say hi.\n---\nHi.\n```python\nprint('hi')\n```\n---\nOk.\n---\nHi.\nTERMINATE\n"), 0o644))
	cfg := filepath.Join(dir, "agentteam.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("sandbox:\n  enabled: false\n"), 0o644))
	for name, route := range map[string]struct {
		env  []string
		args []string
	}{
		"flag":   {args: []string{"--no-sandbox"}},
		"config": {args: []string{"--config", cfg}},
		"env":    {env: []string{"AGENTTEAM_SANDBOX_ENABLED=false"}},
	} {
		t.Run(name, func(t *testing.T) {
			run := t.TempDir()
			r := runSolveBinary(t, run, route.env, append([]string{"Say hi", "--model", "replay:" + replay, "-q"}, route.args...)...)
			require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			assert.Contains(t, r.stderr, "WARNING: the kernel runs without the sandbox")
			assert.Equal(t, "Hi.", strings.TrimSpace(r.stdout), "-q prints only the answer on stdout")
			report, err := os.ReadFile(filepath.Join(r.out, "report.md"))
			require.NoError(t, err)
			assert.Contains(t, string(report), "without the sandbox")
			tr, err := os.ReadFile(filepath.Join(r.out, "transcript.jsonl"))
			require.NoError(t, err)
			first := strings.SplitN(string(tr), "\n", 2)[0]
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(first), &ev))
			assert.Equal(t, false, ev["sandboxed"], "the transcript starts with the run's record: %s", first)
			var nb struct {
				Metadata struct {
					Agentteam map[string]any `json:"agentteam"`
				} `json:"metadata"`
			}
			b, err := os.ReadFile(filepath.Join(r.out, "notebook.ipynb"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &nb))
			assert.Equal(t, false, nb.Metadata.Agentteam["sandboxed"])
		})
	}
	// And a sandboxed run says nothing of the kind.
	if _, err := os.Stat("/usr/bin/bwrap"); err == nil {
		r := runSolveBinary(t, t.TempDir(), nil, "Say hi", "--model", "replay:"+replay, "-q")
		require.Equal(t, 0, r.code, r.stderr)
		assert.NotContains(t, r.stderr, "without the sandbox")
	}
}
