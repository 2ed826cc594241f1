package jupyter

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
)

func exec(t testing.TB, k *Kernel, code string) *executor.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := k.Execute(ctx, executor.Request{Code: code})
	require.NoError(t, err)
	require.NotNil(t, res)
	return res
}

func TestHelloWorld(t *testing.T) {
	k := newKernel(t)
	res := exec(t, k, `print("hello world")`)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.Equal(t, "hello world", res.Text())
	require.Len(t, res.Outputs, 1)
	assert.Equal(t, executor.OutputStream, res.Outputs[0].Type)
	assert.Equal(t, "stdout", res.Outputs[0].Name)
	assert.Positive(t, res.ExecutionCount)
	assert.Positive(t, res.Duration)
	assert.False(t, res.StateLost)

	// An expression's value is an execute_result; no output renders plainly.
	res = exec(t, k, "1 + 41")
	assert.Equal(t, "42", res.Text())
	require.Len(t, res.Outputs, 1)
	assert.Equal(t, executor.OutputExecuteResult, res.Outputs[0].Type)
	assert.Equal(t, res.ExecutionCount, res.Outputs[0].ExecutionCount)
	assert.Equal(t, executor.NoOutput, exec(t, k, "y = 1").Text())
}

func TestNameErrorTracebackIsExactAndANSIFree(t *testing.T) {
	k := newKernel(t)
	res := exec(t, k, "print(undefined_name)")
	assert.Equal(t, executor.StatusError, res.Status)
	require.NotNil(t, res.Error)
	assert.Equal(t, "NameError", res.Error.EName)
	assert.Equal(t, "name 'undefined_name' is not defined", res.Error.EValue)
	tb := strings.Join(res.Error.Traceback, "\n")
	assert.NotContains(t, tb, "\x1b")
	assert.NotContains(t, res.Text(), "\x1b")
	want := "---------------------------------------------------------------------------\n" +
		"NameError                                 Traceback (most recent call last)\n" +
		"Cell In [1], line 1\n" +
		"----> 1 print(undefined_name)\n" +
		"\n" +
		"NameError: name 'undefined_name' is not defined"
	assert.Equal(t, want, tb)
	// The traceback ends in "Name: value", so that is not repeated.
	assert.True(t, strings.HasSuffix(res.Text(), "\nNameError: name 'undefined_name' is not defined"), res.Text())
	assert.Equal(t, 1, strings.Count(res.Text(), "NameError: name"), res.Text())
}

func TestSeveralBlocksAndStateKept(t *testing.T) {
	k := newKernel(t)
	assert.Equal(t, "1", exec(t, k, "a = 1\nprint(a)").Text())
	assert.Equal(t, "2", exec(t, k, "b = a + 1\nprint(b)").Text())
	res := exec(t, k, "import math\nprint(a + b)\nmath.sqrt(16)")
	assert.Equal(t, "3\n4.0", res.Text())
	assert.Equal(t, 3, res.ExecutionCount)
}

func TestErrorInSecondOfSeveralBlocks(t *testing.T) {
	k := newKernel(t)
	blocks := []string{"x = 10\nprint(x)", "print(x / 0)", "print(x * 2)"}
	var results []*executor.Result
	for _, b := range blocks {
		results = append(results, exec(t, k, b))
	}
	assert.Equal(t, executor.StatusOK, results[0].Status)
	assert.Equal(t, executor.StatusError, results[1].Status)
	assert.Equal(t, "ZeroDivisionError", results[1].Error.EName)
	assert.Equal(t, "division by zero", results[1].Error.EValue)
	// An error does not poison the kernel: the next block runs.
	assert.Equal(t, executor.StatusOK, results[2].Status)
	assert.Equal(t, "20", results[2].Text())
}

func TestRestartLosesState(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "x = 5")
	id := k.ID()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, k.Restart(ctx))
	assert.Equal(t, id, k.ID(), "a restart keeps the kernel")
	res := exec(t, k, "print(x)")
	assert.Equal(t, executor.StatusError, res.Status)
	assert.Equal(t, "NameError", res.Error.EName)
	assert.Equal(t, "ok", exec(t, k, "print('ok')").Text())
}

func TestTimeoutInterruptsAndKeepsState(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "import time\nkept = 42")
	start := time.Now()
	res, err := k.Execute(context.Background(), executor.Request{Code: "print('before', flush=True)\ntime.sleep(100)", Timeout: time.Second})
	elapsed := time.Since(start)
	require.ErrorIs(t, err, executor.ErrTimeout)
	require.NotNil(t, res)
	assert.Less(t, elapsed, 10*time.Second)
	assert.Equal(t, executor.StatusTimeout, res.Status)
	assert.True(t, res.Interrupted)
	assert.False(t, res.Restarted)
	assert.False(t, res.StateLost)
	assert.Contains(t, res.Message, "timed out after 1s")
	assert.Contains(t, res.Text(), "before")
	assert.Contains(t, res.Text(), "state kept")
	assert.Equal(t, "42", exec(t, k, "print(kept)").Text())
}

func TestTimeoutRestartsKernelThatIgnoresInterrupt(t *testing.T) {
	k := newKernel(t, func(c *KernelConfig) { c.InterruptGrace = time.Second })
	exec(t, k, "import signal, time\nlost = 1")
	start := time.Now()
	res, err := k.Execute(context.Background(), executor.Request{
		// ipykernel installs its SIGINT handler for each cell: ignore it here.
		Code: "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(100)", Timeout: time.Second})
	require.ErrorIs(t, err, executor.ErrTimeout)
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.Equal(t, executor.StatusTimeout, res.Status)
	assert.True(t, res.Restarted)
	assert.True(t, res.StateLost)
	assert.Contains(t, res.Message, "restarted")
	after := exec(t, k, "print(lost)")
	require.NotNil(t, after.Error, after.Text())
	assert.Equal(t, "NameError", after.Error.EName)
}

func TestCancellationInterrupts(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "import time\nkept = 'yes'")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	res, err := k.Execute(ctx, executor.Request{Code: "time.sleep(100)"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, executor.StatusCancelled, res.Status)
	assert.True(t, res.Interrupted)
	assert.False(t, res.StateLost)
	assert.Equal(t, "yes", exec(t, k, "print(kept)").Text())
}

func TestImageOutputSavedToFile(t *testing.T) {
	dir := t.TempDir()
	k := newKernel(t, func(c *KernelConfig) { c.OutputDir = dir })
	res := exec(t, k, `
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt, io
from IPython.display import Image, display
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [1, 4, 9])
buf = io.BytesIO()
fig.savefig(buf, format="png")
display(Image(buf.getvalue()))
print("plotted")
`)
	require.Equal(t, executor.StatusOK, res.Status, res.Text())
	require.Len(t, res.Files, 1)
	assert.Equal(t, dir, filepath.Dir(res.Files[0]))
	assert.Equal(t, ".png", filepath.Ext(res.Files[0]))
	data, err := os.ReadFile(res.Files[0])
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")), "a PNG file")
	assert.Contains(t, res.Text(), res.Files[0])
	assert.Contains(t, res.Text(), "plotted")

	// The inline backend's figures are saved the same way, with new names.
	res = exec(t, k, "%matplotlib inline\nplt.plot([1, 2]); plt.show()")
	require.Len(t, res.Files, 1, res.Text())
	assert.NotContains(t, res.Text(), "<Figure")
	assert.NotEqual(t, filepath.Base(res.Files[0]), "")
}

func TestHTMLOutputSavedToFile(t *testing.T) {
	dir := t.TempDir()
	k := newKernel(t, func(c *KernelConfig) { c.OutputDir = dir })
	res := exec(t, k, "from IPython.display import HTML, display\ndisplay(HTML('<h1>Hello</h1>'))")
	require.Len(t, res.Files, 1, res.Text())
	assert.Equal(t, ".html", filepath.Ext(res.Files[0]))
	data, err := os.ReadFile(res.Files[0])
	require.NoError(t, err)
	assert.Equal(t, "<h1>Hello</h1>", string(data))
	assert.Contains(t, res.Text(), "html saved to "+res.Files[0])

	// A DataFrame's value has text/html too; its text form stays readable.
	res = exec(t, k, "import pandas as pd\npd.DataFrame({'a': [1, 2]})")
	require.Len(t, res.Files, 1)
	assert.Contains(t, res.Text(), "   a\n0  1\n1  2")
	assert.NotEqual(t, res.Files[0], "")
}

func TestShellSharesWorkingDirectoryAndFails(t *testing.T) {
	k := newKernel(t)
	ctx := context.Background()
	exec(t, k, "import os\nos.makedirs('shelltest', exist_ok=True)\nos.chdir('shelltest')")
	res, err := k.Execute(ctx, executor.Request{Code: "pwd\necho hi > from_shell.txt", Language: "bash"})
	require.NoError(t, err)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.True(t, strings.HasSuffix(strings.TrimSpace(res.Text()), "/shelltest"), res.Text())
	assert.Equal(t, "hi", exec(t, k, "print(open('from_shell.txt').read().strip())").Text())

	res, err = k.Execute(ctx, executor.Request{Code: "%%bash\necho $((1 + 2))", Language: "shell"})
	require.NoError(t, err)
	assert.Equal(t, "3", res.Text(), "an explicit cell magic is not doubled")

	res, err = k.Execute(ctx, executor.Request{Code: "ls /no/such/dir", Language: "sh"})
	require.NoError(t, err)
	assert.Equal(t, executor.StatusError, res.Status)
	require.NotNil(t, res.Error)
	assert.Equal(t, "ShellError", res.Error.EName)
	assert.Equal(t, "command exited with status 2", res.Error.EValue)
	assert.Contains(t, res.Text(), "No such file or directory")
	assert.NotContains(t, res.Text(), "CalledProcessError")
}

func TestUnsupportedLanguageSendsNothing(t *testing.T) {
	k := newKernel(t)
	before := exec(t, k, "1").ExecutionCount
	res, err := k.Execute(context.Background(), executor.Request{Code: "puts 1", Language: "ruby"})
	require.ErrorIs(t, err, executor.ErrUnsupportedLanguage)
	assert.Equal(t, executor.StatusUnsupported, res.Status)
	assert.Contains(t, res.Message, `"ruby"`)
	assert.Equal(t, before+1, exec(t, k, "1").ExecutionCount, "nothing ran in between")
}

func TestInputFailsFast(t *testing.T) {
	k := newKernel(t)
	start := time.Now()
	res := exec(t, k, "name = input('name? ')")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, executor.StatusError, res.Status)
	assert.Equal(t, "StdinNotImplementedError", res.Error.EName)
}

func TestKernelKilledMidCell(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "import time\nbefore_kill = 1")
	pids := kernelPids(k.ID())
	require.NotEmpty(t, pids)
	time.AfterFunc(time.Second, func() {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	start := time.Now()
	res, err := k.Execute(context.Background(), executor.Request{Code: "print('running', flush=True)\ntime.sleep(60)", Timeout: 50 * time.Second})
	require.ErrorIs(t, err, executor.ErrKernelDied)
	assert.Less(t, time.Since(start), 20*time.Second)
	require.NotNil(t, res)
	assert.Equal(t, executor.StatusKernelDied, res.Status)
	assert.True(t, res.StateLost)
	assert.Contains(t, res.Text(), "running")
	assert.Contains(t, res.Text(), "lost")

	res = exec(t, k, "print('alive')")
	require.Len(t, res.Outputs, 1, "no output lost on the restarted kernel")
	assert.Equal(t, "alive\n", res.Outputs[0].Text)
	assert.True(t, res.StateLost, "the first result after the death says state was lost")
	assert.Equal(t, "NameError", exec(t, k, "before_kill").Error.EName)
}

func TestHugeOutputIsTruncatedWithBoundedMemory(t *testing.T) {
	k := newKernel(t, func(c *KernelConfig) { c.MaxOutputBytes = 10000 })
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	// ~100 MB in 1 KB lines.
	res := exec(t, k, "import sys\nline = 'x' * 1023 + '\\n'\nfor i in range(100_000):\n    sys.stdout.write(line)\nprint('done')")
	close(stop)
	wg.Wait()
	assert.Less(t, time.Since(start), 60*time.Second)
	assert.Equal(t, executor.StatusOK, res.Status)
	assert.True(t, res.Truncated)
	txt := res.Text()
	assert.Less(t, len(txt), 30000)
	assert.Contains(t, txt, "truncated")
	assert.Less(t, peak.Load(), uint64(200<<20), "heap in use stays bounded")
	assert.Equal(t, "ok", exec(t, k, "print('ok')").Text())
}

func TestCloseDeletesKernel(t *testing.T) {
	c := realClient(t)
	ctx := context.Background()
	k, err := NewKernel(ctx, KernelConfig{Client: c})
	require.NoError(t, err)
	id := k.ID()
	require.Eventually(t, func() bool { return len(kernelPids(id)) > 0 }, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, k.Close(ctx))
	require.NoError(t, k.Close(ctx), "Close twice is fine")
	_, err = c.GetKernel(ctx, id)
	assert.ErrorIs(t, err, ErrKernelNotFound)
	assert.Eventually(t, func() bool { return len(kernelPids(id)) == 0 }, 10*time.Second, 50*time.Millisecond)
	_, err = k.Execute(ctx, executor.Request{Code: "1"})
	assert.ErrorIs(t, err, executor.ErrClosed)
}

func TestAttachToExistingKernel(t *testing.T) {
	c := realClient(t)
	ctx := context.Background()
	info, err := c.StartKernel(ctx, "python3")
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.DeleteKernel(ctx, info.ID)) }()
	k, err := NewKernel(ctx, KernelConfig{Client: c, KernelID: info.ID})
	require.NoError(t, err)
	assert.Equal(t, info.ID, k.ID())
	assert.Equal(t, "3", exec(t, k, "print(1 + 2)").Text())
	require.NoError(t, k.Close(ctx))
	got, err := c.GetKernel(ctx, info.ID)
	require.NoError(t, err, "an attached kernel is not shut down by Close")
	assert.Equal(t, info.ID, got.ID)

	// Attaching again sees the state left behind.
	k2, err := NewKernel(ctx, KernelConfig{Client: c, KernelID: info.ID})
	require.NoError(t, err)
	defer k2.Close(ctx)
	exec(t, k2, "z = 7")
	assert.Equal(t, "7", exec(t, k2, "print(z)").Text())
}

func TestStreamYieldsOutputsAsTheyArrive(t *testing.T) {
	k := newKernel(t)
	var got []string
	var times []time.Time
	var final *executor.Result
	for ev, err := range k.Run(context.Background(), executor.Request{Code: "import time\nprint('a', flush=True)\ntime.sleep(0.3)\nprint('b', flush=True)\n1/0"}) {
		if err != nil {
			t.Fatalf("stream error: %v", err)
		}
		if ev.Result != nil {
			final = ev.Result
			continue
		}
		o := ev.Output
		if o.Type == executor.OutputStream {
			got = append(got, strings.TrimSpace(o.Text))
			times = append(times, time.Now())
		} else {
			got = append(got, string(o.Type)+":"+o.EName)
		}
	}
	assert.Equal(t, []string{"a", "b", "error:ZeroDivisionError"}, got)
	require.Len(t, times, 2)
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 200*time.Millisecond, "outputs come as they are produced")
	require.NotNil(t, final, "the last event carries the result")
	assert.Equal(t, executor.StatusError, final.Status)

	// Breaking out of the loop interrupts the cell; the kernel stays usable.
	begin := time.Now()
	for ev := range k.Run(context.Background(), executor.Request{Code: "print('x', flush=True)\ntime.sleep(100)"}) {
		require.NotNil(t, ev.Output)
		assert.Equal(t, "x\n", ev.Output.Text)
		break
	}
	assert.Less(t, time.Since(begin), 10*time.Second, "breaking out interrupts the cell")
	assert.Equal(t, "ok", exec(t, k, "print('ok')").Text())
}

func TestDisplayUpdateAndClearOutput(t *testing.T) {
	k := newKernel(t)
	res := exec(t, k, "from IPython.display import display, clear_output\nh = display('first', display_id=True)\nprint('between')\nh.update('second')")
	require.Len(t, res.Outputs, 2, res.Text())
	assert.Equal(t, "'second'", res.Outputs[0].Data["text/plain"])
	assert.Equal(t, "'second'\nbetween", res.Text())

	res = exec(t, k, "print('old')\nclear_output()\nprint('new')")
	assert.Equal(t, "new", res.Text())
	res = exec(t, k, "print('old')\nclear_output(wait=True)\nprint('new')")
	assert.Equal(t, "new", res.Text())
}

func TestOnOutputCalledInOrder(t *testing.T) {
	k := newKernel(t)
	var seen []string
	res, err := executor.Collect(k.Run(context.Background(), executor.Request{
		Code: "import sys\nprint('out')\nprint('err', file=sys.stderr)\n'val'",
	}), func(o executor.Output) { seen = append(seen, string(o.Type)+":"+o.Name) })
	require.NoError(t, err)
	assert.Equal(t, []string{"stream:stdout", "stream:stderr", "execute_result:"}, seen)
	assert.Equal(t, "out\nerr\n'val'", res.Text())
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	s := server(t)
	var logs bytes.Buffer
	logger := debugLogger(&logs)
	ctx := context.Background()
	var errs []error
	wrong, err := NewClient(ClientConfig{URL: s.URL + "?token=secret-wrong-token-123", Logger: logger})
	require.NoError(t, err)
	_, err = NewKernel(ctx, KernelConfig{Client: wrong})
	require.ErrorIs(t, err, ErrUnauthorized)
	errs = append(errs, err)

	c := realClient(t, func(cfg *ClientConfig) { cfg.Logger = logger })
	_, err = NewKernel(ctx, KernelConfig{Client: c, KernelName: "nope"})
	errs = append(errs, err)
	k, err := NewKernel(ctx, KernelConfig{Client: c, Logger: logger})
	require.NoError(t, err)
	_, err = k.Execute(ctx, executor.Request{Code: "import time; time.sleep(5)", Timeout: 200 * time.Millisecond})
	errs = append(errs, err)
	require.NoError(t, k.Close(ctx))
	_, err = c.GetKernel(ctx, k.ID())
	errs = append(errs, err)
	_, err = NewClient(ClientConfig{URL: "http://host:port/?token=" + s.Token})
	errs = append(errs, err)
	for _, e := range errs {
		require.Error(t, e)
		assert.NotContains(t, e.Error(), s.Token)
		assert.NotContains(t, e.Error(), "secret-wrong-token-123")
	}
	assert.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), s.Token)
	assert.NotContains(t, logs.String(), "secret-wrong-token-123")
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	s := server(t)
	c, err := NewClient(ClientConfig{URL: s.URL, Token: "wrong"})
	require.NoError(t, err)
	start := time.Now()
	_, err = NewKernel(context.Background(), KernelConfig{Client: c})
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Contains(t, err.Error(), "check the token")
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestServerDownIsUnreachable(t *testing.T) {
	c, err := NewClient(ClientConfig{URL: "http://127.0.0.1:1/jupyter/", Token: "sekrit-token"})
	require.NoError(t, err)
	start := time.Now()
	_, err = NewKernel(context.Background(), KernelConfig{Client: c})
	require.ErrorIs(t, err, ErrServerUnreachable)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, err.Error(), "http://127.0.0.1:1/jupyter/")
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), "sekrit-token")
	assert.NotContains(t, err.Error(), "\n")
}

func TestWrongKernelNameListsSpecs(t *testing.T) {
	c := realClient(t)
	_, err := NewKernel(context.Background(), KernelConfig{Client: c, KernelName: "cobol"})
	require.ErrorIs(t, err, ErrNoSuchKernelSpec)
	assert.Contains(t, err.Error(), `"cobol"`)
	assert.Contains(t, err.Error(), "python3")
}

func TestKernelSpecsAndListKernels(t *testing.T) {
	c := realClient(t)
	ctx := context.Background()
	specs, err := c.KernelSpecs(ctx)
	require.NoError(t, err)
	assert.Equal(t, "python3", specs.Default)
	assert.Equal(t, "python", specs.Specs["python3"].Language)
	k := newKernel(t)
	ks, err := c.ListKernels(ctx)
	require.NoError(t, err)
	var ids []string
	for _, x := range ks {
		ids = append(ids, x.ID)
	}
	assert.Contains(t, ids, k.ID())
	require.NoError(t, c.InterruptKernel(ctx, k.ID()))
	_, err = c.GetKernel(ctx, "00000000-0000-0000-0000-000000000000")
	assert.ErrorIs(t, err, ErrKernelNotFound)
}

func TestContentsRoundTrip(t *testing.T) {
	c := realClient(t)
	ctx := context.Background()
	data := []byte("a,b\n1,2\n\x00\xff binary")
	require.NoError(t, c.UploadFile(ctx, "inputs/deep/data.csv", data))
	got, err := c.DownloadFile(ctx, "inputs/deep/data.csv")
	require.NoError(t, err)
	assert.Equal(t, data, got)
	entries, err := c.ListDir(ctx, "inputs/deep")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "data.csv", entries[0].Name)
	assert.Equal(t, "file", entries[0].Type)
	_, err = c.DownloadFile(ctx, "inputs/missing.csv")
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNoContentsAPI), "a missing file is not a missing API")

	// The kernel sees the uploaded file in its working directory.
	k := newKernel(t)
	assert.Equal(t, "17", exec(t, k, "print(len(open('inputs/deep/data.csv','rb').read()))").Text())
}

func TestMalformedURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8888", "ftp://host/", "http://", "http://host:port/", "://x", "http://[::1", "file:///tmp"} {
		_, err := NewClient(ClientConfig{URL: u})
		assert.Error(t, err, u)
	}
	c, err := NewClient(ClientConfig{URL: "https://host.example/jupyter?token=abc"})
	require.NoError(t, err)
	assert.Equal(t, "https://host.example/jupyter/", c.URL())
	assert.Equal(t, "wss://host.example/jupyter/api/x", c.endpoint(c.wsBase, "api/x"))
}

func TestSocketDroppedMidCellReconnectsWithoutLoss(t *testing.T) {
	k := newKernel(t)
	exec(t, k, "import time")
	time.AfterFunc(400*time.Millisecond, func() {
		ws, _ := k.conn.current()
		_ = ws.UnderlyingConn().Close()
	})
	res := exec(t, k, "for i in range(10):\n    print(i, flush=True)\n    time.sleep(0.1)")
	assert.Equal(t, executor.StatusOK, res.Status)
	// Output sent while the socket was away is replayed; nothing is
	// repeated and the order holds. One message the server wrote into the
	// dying TCP connection, before it noticed the close and began to
	// buffer, cannot be recovered by any client: allow that one.
	lines := strings.Split(res.Text(), "\n")
	assert.GreaterOrEqual(t, len(lines), 9, "at most the message in flight at the drop is lost: %q", res.Text())
	prev := -1
	for _, l := range lines {
		n, err := strconv.Atoi(l)
		require.NoError(t, err, res.Text())
		assert.Greater(t, n, prev, "no output repeated or reordered: %q", res.Text())
		prev = n
	}
	assert.Equal(t, 9, prev, "the cell ran to the end")
	if len(lines) < 10 {
		t.Logf("the message in flight at the drop was lost: %q", res.Text())
	}
	assert.Equal(t, "ok", exec(t, k, "print('ok')").Text())
}

func TestUnknownHostIsUnreachable(t *testing.T) {
	c, err := NewClient(ClientConfig{URL: "https://no-such-host.invalid/jupyter/?token=abc123secret"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.KernelSpecs(ctx)
	require.ErrorIs(t, err, ErrServerUnreachable)
	assert.Contains(t, err.Error(), "https://no-such-host.invalid/jupyter/")
	assert.NotContains(t, err.Error(), "abc123secret")
}

// Shutdown ends the kernel over its websocket: the process exits by itself,
// having flushed a file its code left open, and the kernel is closed.
func TestShutdownOverTheWebsocket(t *testing.T) {
	k := newKernel(t)
	id := k.ID()
	path := filepath.Join(t.TempDir(), "left-open.txt")
	exec(t, k, "f = open("+strconv.Quote(path)+", 'w')\nf.write('data')")
	require.NotEmpty(t, kernelPids(id))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The server would restart a kernel that died on it: remove it from
	// the server once the test has seen it exit.
	defer func() { _ = k.c.DeleteKernel(context.Background(), id) }()
	require.NoError(t, k.Shutdown(ctx))
	require.Eventually(t, func() bool { return len(kernelPids(id)) == 0 }, 5*time.Second, 5*time.Millisecond)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "data", string(b))
	_, err = k.Execute(ctx, executor.Request{Code: "1"})
	assert.ErrorIs(t, err, executor.ErrClosed)
	assert.NoError(t, k.Close(ctx))
}
