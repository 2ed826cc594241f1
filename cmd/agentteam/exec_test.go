package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command tree in-process.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func remoteArgs(s *jupytertest.Server, args ...string) []string {
	return append([]string{"exec", "--jupyter-url", s.URL, "--token", s.Token}, args...)
}

// A secret the kernel prints (an environment variable's value, here
// printed in two pieces) is not shown.
func TestExecRedactsKernelOutput(t *testing.T) {
	s := jupytertest.Start(t)
	t.Setenv("EXEC_TEST_API_KEY", "sk-exec-SECRET-4242")
	r := runCLI(t, "", remoteArgs(s, "-c", "import sys\nprint('key: sk-exec-', end='', flush=True)\nprint('SECRET-4242')\nprint('sk-exec-SECRET-4242', file=sys.stderr)")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "key: [REDACTED]\n", r.stdout)
	assert.Equal(t, "[REDACTED]\n", r.stderr)
}

func TestExecCodeScriptAndStdin(t *testing.T) {
	s := jupytertest.Start(t)
	r := runCLI(t, "", remoteArgs(s, "-c", "x = 20\nprint(x + 22)")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "42\n", r.stdout)

	script := filepath.Join(t.TempDir(), "s.py")
	require.NoError(t, os.WriteFile(script, []byte("# %%\na = 1\nprint('first', a)\n# %% second\na += 1\na\n"), 0o644))
	r = runCLI(t, "", remoteArgs(s, script)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "first 1\n2\n", r.stdout, "cells share state; the last expression is shown")

	r = runCLI(t, "import sys\nprint('from stdin')\nprint('oops', file=sys.stderr)\n", remoteArgs(s, "-")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "from stdin\n", r.stdout)
	assert.Equal(t, "oops\n", r.stderr)

	assert.Empty(t, s.KernelPids(), "the kernel is shut down on exit")
}

func TestExecNotebook(t *testing.T) {
	s := jupytertest.Start(t)
	dir := t.TempDir()
	nb := notebook.New()
	nb.AddMarkdown("# Title")
	nb.AddCode("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")
	nb.AddCode("y = 5\ny * 2")
	nb.AddCode("print(undefined_name)")
	nb.AddCode("print('after the error')")
	in := filepath.Join(dir, "in.ipynb")
	require.NoError(t, notebook.WriteFile(in, nb))

	out := filepath.Join(dir, "out.ipynb")
	r := runCLI(t, "", remoteArgs(s, "--out", out, in)...)
	assert.Equal(t, 1, r.code, "a failing cell fails the run")
	assert.Contains(t, r.stderr, "NameError")
	assert.Contains(t, r.stderr, "cell 3 raised NameError: name 'undefined_name' is not defined")
	got, err := notebook.ReadFile(out)
	require.NoError(t, err)
	cells := got.CodeCells()
	require.Len(t, cells, 4)
	var png string
	for _, o := range cells[0].Outputs {
		if v, ok := o.Data["image/png"].(string); ok {
			png = v
		}
	}
	assert.True(t, strings.HasPrefix(png, "iVBOR"), "figure stored as base64 image/png")
	require.NotNil(t, cells[1].ExecutionCount)
	assert.Equal(t, "10", cells[1].Outputs[0].Data["text/plain"])
	assert.Equal(t, "error", cells[2].Outputs[0].OutputType)
	assert.Empty(t, cells[3].Outputs, "cells after a failure do not run")
	validateNotebook(t, out)

	r = runCLI(t, "", remoteArgs(s, "--allow-errors", "--out", out, in)...)
	assert.Equal(t, 0, r.code, r.stderr)
	got, err = notebook.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "after the error\n", got.CodeCells()[3].Outputs[0].Text)

	// In place by default.
	r = runCLI(t, "", remoteArgs(s, "--allow-errors", in)...)
	require.Equal(t, 0, r.code, r.stderr)
	got, err = notebook.ReadFile(in)
	require.NoError(t, err)
	assert.NotEmpty(t, got.CodeCells()[0].Outputs)
}

func validateNotebook(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path).CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestExecFailures(t *testing.T) {
	s := jupytertest.Start(t)
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		r := runCLI(t, "", remoteArgs(s, "--timeout", "1s", "-c", "import time\ntime.sleep(30)")...)
		assert.Equal(t, 124, r.code)
		assert.Contains(t, r.stderr, "timed out")
		assert.Less(t, time.Since(start), 15*time.Second)
	})
	t.Run("bad token", func(t *testing.T) {
		r := runCLI(t, "", "exec", "--jupyter-url", s.URL, "--token", "wrong-secret-token", "--verbose", "-c", "1")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "token")
		assert.NotContains(t, r.stdout+r.stderr, "wrong-secret-token")
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(lastLine(r.stderr)), "\n")+1)
	})
	t.Run("token never printed with verbose", func(t *testing.T) {
		r := runCLI(t, "", remoteArgs(s, "--verbose", "-c", "print('ok')")...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.NotContains(t, r.stdout+r.stderr, s.Token)
	})
	t.Run("server down", func(t *testing.T) {
		port, err := jupytertest.FreePort()
		require.NoError(t, err)
		start := time.Now()
		r := runCLI(t, "", "exec", "--jupyter-url", "http://127.0.0.1:"+strconv.Itoa(port)+"/", "-c", "1")
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "unreachable")
		assert.Less(t, time.Since(start), 10*time.Second)
	})
	t.Run("unknown kernel", func(t *testing.T) {
		r := runCLI(t, "", remoteArgs(s, "--kernel", "cobol", "-c", "1")...)
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, "cobol")
		assert.Contains(t, r.stderr, "python3", "names the available specs")
	})
	t.Run("malformed notebook", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "bad.ipynb")
		require.NoError(t, os.WriteFile(p, []byte("{not json"), 0o644))
		r := runCLI(t, "", remoteArgs(s, p)...)
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "invalid notebook")
	})
	t.Run("usage", func(t *testing.T) {
		r := runCLI(t, "", "exec")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, r.stderr, "exactly one of")
	})
	assert.Eventually(t, func() bool { return len(s.KernelPids()) == 0 }, 10*time.Second, 50*time.Millisecond)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// buildBinary builds agentteam once per test binary.
func buildBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agentteam-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "agentteam")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	require.NoError(t, binErr, binPath)
	return binPath
}

func TestExecEmbeddedServerAndSIGINT(t *testing.T) {
	jupytertest.Require(t)
	bin := buildBinary(t)
	work := t.TempDir()
	cmd := exec.Command(bin, "exec", "--workdir", work, "-c", "open('started','w').close()\nimport time\nprint('running', flush=True)\ntime.sleep(120)")
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "AGENTTEAM_JUPYTER_URL=", "AGENTTEAM_JUPYTER_TOKEN=")
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(work, "started"))
		return err == nil
	}, 60*time.Second, 50*time.Millisecond, "the embedded server ran the cell: %s", errb.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("exec did not exit after SIGINT")
	}
	assert.Equal(t, 130, cmd.ProcessState.ExitCode(), errb.String())
	assert.Contains(t, errb.String(), "interrupted by SIGINT")
	// The embedded server and the sandboxed kernel both name the work
	// directory on their command lines.
	real, _ := filepath.EvalSymlinks(work)
	assert.Empty(t, jupytertest.ProcessesMatching(real), "no embedded server or kernel left")
}

// Code run by exec that prints a secret of agentteam's environment (here a
// *_TOKEN variable; the code builds the value so that its source does not
// hold it) reaches neither the console, --json, the error message nor the
// executed notebook.
func TestExecRedactsSecretsTheCodePrints(t *testing.T) {
	s := jupytertest.Start(t)
	const secret = "svc_RedTeamSecretValue0123456789"
	t.Setenv("SERVICE_TOKEN", secret)
	code := "import sys\ns = 'svc_' + 'RedTeamSecretValue' + '0123456789'\nprint('out', s)\nsys.stderr.write('err ' + s + '\\n')\ndisplay({'text/plain': 'shown ' + s}, raw=True)\nraise ValueError('bad ' + s)"
	check := func(t *testing.T, r cliResult) {
		t.Helper()
		assert.Equal(t, 1, r.code)
		assert.NotContains(t, r.stdout, secret)
		assert.NotContains(t, r.stderr, secret)
		assert.Contains(t, r.stdout+r.stderr, "[REDACTED]", "the code ran and printed")
	}
	t.Run("console", func(t *testing.T) {
		r := runCLI(t, "", remoteArgs(s, "-c", code)...)
		check(t, r)
		assert.Contains(t, r.stdout, "out [REDACTED]")
		assert.Contains(t, r.stderr, "ValueError")
	})
	t.Run("json", func(t *testing.T) {
		check(t, runCLI(t, "", remoteArgs(s, "--json", "-c", code)...))
	})
	t.Run("notebook", func(t *testing.T) {
		dir := t.TempDir()
		nb := notebook.New()
		nb.AddCode(code)
		in := filepath.Join(dir, "in.ipynb")
		require.NoError(t, notebook.WriteFile(in, nb))
		out := filepath.Join(dir, "out.ipynb")
		check(t, runCLI(t, "", remoteArgs(s, "--out", out, in)...))
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret)
		assert.Contains(t, string(b), "bad [REDACTED]")
	})
	t.Run("output-dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "saved")
		show := strings.Replace(code, "raise ValueError('bad ' + s)", "from IPython.display import HTML, SVG\n"+
			"display(HTML('<p>' + s + '</p>'))\n"+
			"display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"><text>' + s + '</text></svg>'))\n"+
			"raise ValueError('bad ' + s)", 1)
		check(t, runCLI(t, "", remoteArgs(s, "--output-dir", dir, "-c", show)...))
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var exts []string
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			assert.NotContains(t, string(b), secret, e.Name())
			assert.Contains(t, string(b), "[REDACTED]", e.Name())
			exts = append(exts, filepath.Ext(e.Name()))
		}
		assert.ElementsMatch(t, []string{".html", ".svg"}, exts)
	})
}

// A token given only inside the Jupyter URL (?token=..., as Jupyter prints
// it) is a secret like --token: what the code prints does not show it.
func TestExecRedactsATokenGivenInTheURL(t *testing.T) {
	s := jupytertest.Start(t)
	half := len(s.Token) / 2
	code := "t = '" + s.Token[:half] + "' + '" + s.Token[half:] + "'\nprint('token:', t)"
	r := runCLI(t, "", "exec", "--jupyter-url", s.URL+"?token="+s.Token, "-c", code)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "token: [REDACTED]")
	assert.NotContains(t, r.stdout+r.stderr, s.Token)
}

func TestRunRedactorKnowsATokenGivenInTheURL(t *testing.T) {
	s := &Settings{}
	s.Jupyter.URL = "https://jupyter.example.com/prefix/?token=url-only-token-123456"
	red := newRedactor(s, &endpoint{})
	assert.Equal(t, "t=[REDACTED]", red.String("t=url-only-token-123456"))
}

// --max-output and --max-mime set the caps kept per output; 0 turns them
// off; a bad size is a usage error.
func TestExecOutputCaps(t *testing.T) {
	s := jupytertest.Start(t)
	long := "print('a' * 5000 + 'END')"
	r := runCLI(t, "", remoteArgs(s, "--max-output", "1KiB", "-c", long)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Less(t, len(r.stdout), 2000, "head and tail within the cap")
	assert.Contains(t, r.stdout, "END", "the tail is kept")

	r = runCLI(t, "", remoteArgs(s, "--max-output", "0", "-c", long)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, strings.Repeat("a", 5000)+"END\n", r.stdout)

	img := "import base64\ndisplay({'image/png': base64.b64encode(b'\\x89PNG' + bytes(4096)).decode(), 'text/plain': '<img>'}, raw=True)"
	r = runCLI(t, "", remoteArgs(s, "--json", "--max-mime", "1KiB", "-c", img)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "iVBOR", "the image is dropped")
	assert.Contains(t, r.stdout, `"image/png\" output of 5468 bytes dropped (over the 1024-byte cap)`)

	r = runCLI(t, "", remoteArgs(s, "--json", "-c", img)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "iVBOR", "kept under the default cap")

	for _, bad := range [][]string{{"--memory", "lots"}, {"--processes", "-3"}} {
		r = runCLI(t, "", append(append([]string{"exec"}, bad...), "-c", "1")...)
		assert.Equal(t, 2, r.code, bad)
		assert.Contains(t, lastLine(r.stderr), bad[0]+":", bad)
	}

	r = runCLI(t, "", remoteArgs(s, "--max-mime", "lots", "-c", "1")...)
	assert.Equal(t, 2, r.code)
	assert.Equal(t, `agentteam: --max-mime: "lots" is not a size like 4GiB or 512MiB (see 'agentteam exec --help')`, lastLine(r.stderr))
}

// --memory and --processes set the sandbox's limits (none / -1 turn them
// off), as sandbox.memory and sandbox.processes do for solve.
func TestExecSandboxLimitFlags(t *testing.T) {
	jupytertest.RequireSandbox(t)
	dir := t.TempDir()
	t.Chdir(dir)
	grab := "x = bytearray(512 << 20); print('allocated')"
	r := runCLI(t, "", "exec", "--memory", "256MiB", "-c", grab)
	assert.Equal(t, 1, r.code, r.stdout+r.stderr)
	// With cgroups the kernel is killed; without (a normal user), the
	// allocation fails under RLIMIT_AS.
	assert.Regexp(t, `the kernel hit the sandbox memory limit \(256 MiB\)|MemoryError`, r.stderr)
	r = runCLI(t, "", "exec", "--memory", "none", "--processes", "-1", "-c", grab)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "allocated\n", r.stdout)
}
