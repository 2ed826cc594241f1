package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

const serveTestToken = "serve-test-token-0123456789abcdef"

// serveReplay is the messy example's recorded session for a task whose
// sales.csv was uploaded (so it sits in the kernel's working directory),
// with extra code at the end of its first step.
func serveReplay(t *testing.T, extra string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/messy/replay.md")
	require.NoError(t, err)
	s := strings.ReplaceAll(string(b), "examples/messy/sales.csv", "sales.csv")
	require.Contains(t, s, "print(raw.shape)\n")
	s = strings.Replace(s, "print(raw.shape)\n", "print(raw.shape)\n"+extra, 1)
	p := filepath.Join(t.TempDir(), "replay.md")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	return p
}

// servedApp is `agentteam serve` running in this process.
type servedApp struct {
	url     string
	dataDir string
	stderr  *syncBuffer
	stop    func() int
}

var serveMu sync.Mutex // one in-process server starts at a time (the ready hook)

// startServe runs `agentteam serve` in-process on a free loopback port
// with the test token, and stops it (as SIGTERM would) when the test ends.
func startServe(t *testing.T, dataDir string, args ...string) *servedApp {
	t.Helper()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(serveTestToken+"\n"), 0o600))
	cfg := filepath.Join(dir, "agentteam.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("{}\n"), 0o600))

	serveMu.Lock()
	addrc := make(chan string, 1)
	serveReadyHook = func(a string) { addrc <- a }
	defer func() { serveReadyHook = nil; serveMu.Unlock() }()

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	root := newRootCmd(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--token-file", tokFile, "--config", cfg}, args...))
	done := make(chan int, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		code := 0
		if err != nil {
			stderr.Write([]byte("error: " + err.Error() + "\n"))
			code = exitCode(err)
		}
		done <- code
	}()
	app := &servedApp{dataDir: dataDir, stderr: &stderr}
	select {
	case a := <-addrc:
		app.url = "http://" + a
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start: %s", stderr.String())
	}
	var once sync.Once
	code := 0
	app.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(2 * time.Minute):
				t.Errorf("serve did not stop: %s", stderr.String())
			}
		})
		return code
	}
	t.Cleanup(func() { app.stop() })
	return app
}

func (a *servedApp) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+serveTestToken)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func (a *servedApp) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp := a.do(t, "GET", path, nil, nil)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, path)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// postRun posts a task with files (name → content) as multipart.
func (a *servedApp) postRun(t *testing.T, task string, files map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("task", task))
	for name, data := range files {
		w, err := mw.CreateFormFile("file", name)
		require.NoError(t, err)
		_, _ = w.Write(data)
	}
	require.NoError(t, mw.Close())
	resp := a.do(t, "POST", "/v1/runs", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
	var out struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &out))
	return out.ID
}

type runRecord struct {
	ID          string
	Status      string
	StopCause   string `json:"stop_cause"`
	StopReason  string `json:"stop_reason"`
	FinalAnswer string `json:"final_answer"`
	Error       string
	Executions  int
	Outputs     []string
}

func (a *servedApp) waitDone(t *testing.T, id string, limit time.Duration) runRecord {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var r runRecord
		a.getJSON(t, "/v1/runs/"+id, &r)
		if r.Status != "queued" && r.Status != "running" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after %s; server log: %s", id, r.Status, limit, a.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *servedApp) metrics(t *testing.T) string {
	t.Helper()
	resp := a.do(t, "GET", "/metrics", nil, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindStringSubmatch(metrics)
	require.NotNil(t, m, "metric %s in:\n%s", name, metrics)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

func salesCSV(t *testing.T) []byte {
	b, err := os.ReadFile("../../examples/messy/sales.csv")
	require.NoError(t, err)
	return b
}

// checkMessyOutputs checks a finished run of the messy session.
func checkMessyOutputs(t *testing.T, dir string) {
	t.Helper()
	nb := filepath.Join(dir, "notebook.ipynb")
	validateNotebook(t, nb)
	b, err := os.ReadFile(nb)
	require.NoError(t, err)
	assert.Contains(t, string(b), "saved cleaned.csv")
	assert.Contains(t, string(b), "could not convert string to float", "the failed attempt is in the notebook")
	assert.Contains(t, string(b), "image/png", "the figure is in the notebook")
	cleaned, err := os.ReadFile(filepath.Join(dir, "files", "cleaned.csv"))
	require.NoError(t, err)
	assert.Equal(t, 15, strings.Count(string(cleaned), "\n"), "header and 14 unique orders")
	png, err := os.ReadFile(filepath.Join(dir, "files", "revenue_by_region.png"))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "14 orders")
}

// Several runs posted at once, each with the uploaded CSV, on one remote
// server with two slots: all finish, each with its own correct outputs.
func TestServeRunsAtOnceWithUploadedCSV(t *testing.T) {
	js := jupytertest.Start(t)
	app := startServe(t, t.TempDir(), "--model", "replay:"+serveReplay(t, ""), "--jupyter-url", js.URL, "--token", js.Token, "--max-concurrent", "2")
	csv := salesCSV(t)

	const n = 3
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = app.postRun(t, "Clean sales.csv and plot revenue by region", map[string][]byte{"sales.csv": csv})
		}()
	}
	wg.Wait()
	for _, id := range ids {
		r := app.waitDone(t, id, 4*time.Minute)
		require.Equal(t, "finished", r.Status, "run %s: %+v\n%s", id, r, app.stderr.String())
		assert.Equal(t, "finished", r.StopCause)
		assert.Contains(t, r.FinalAnswer, "14 orders")
		assert.GreaterOrEqual(t, r.Executions, 4)
		assert.Contains(t, r.Outputs, "files/cleaned.csv")
		assert.Contains(t, r.Outputs, "inputs/sales.csv")
		checkMessyOutputs(t, filepath.Join(app.dataDir, id))
	}
	m := app.metrics(t)
	assert.Equal(t, float64(n), metricValue(t, m, `agentteam_runs{status="finished"}`))
	assert.Equal(t, float64(n), metricValue(t, m, "agentteam_kernel_starts_total"))
	assert.GreaterOrEqual(t, metricValue(t, m, "agentteam_code_executions_total"), float64(4*n))
	assert.Equal(t, 0.0, metricValue(t, m, "agentteam_queue_length"))

	// Each run's kernel is gone, and so is its directory on the server.
	require.Eventually(t, func() bool { return len(js.KernelPids()) == 0 }, 30*time.Second, 100*time.Millisecond)
	left, _ := os.ReadDir(filepath.Join(js.RootDir, "agentteam-runs"))
	assert.Empty(t, left)

	// Through the real server too: no token, no data; no way out of a run.
	req, _ := http.NewRequest("GET", app.url+"/v1/runs", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, p := range []string{"..%2frun.json", "files%2f..%2f..%2frun.json", "%2e%2e%2f%2e%2e%2f" + ids[1] + "%2freport.md", "inputs/..%2f..%2f..%2f..%2fetc%2fpasswd"} {
		resp := app.do(t, "GET", "/v1/runs/"+ids[0]+"/files/"+p, nil, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		assert.NotContains(t, string(b), "root:")
		assert.NotContains(t, string(b), "14 orders")
	}
}

// sseReader reads Server-Sent Events.
type sseReader struct{ r *bufio.Reader }

func (s *sseReader) next() (event, data string, err error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && (data != "" || event != ""):
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

// The event stream carries the executor's output as it happens: a line
// printed before a pause reaches the client while the run is still going,
// before the execution's result.
func TestServeStreamsExecutorOutputLive(t *testing.T) {
	js := jupytertest.Start(t)
	replay := serveReplay(t, "import time\nprint('tick before the pause', flush=True)\ntime.sleep(4)\nprint('tock after the pause')\n")
	app := startServe(t, t.TempDir(), "--model", "replay:"+replay, "--jupyter-url", js.URL, "--token", js.Token)
	id := app.postRun(t, "Clean sales.csv", map[string][]byte{"sales.csv": salesCSV(t)})

	resp := app.do(t, "GET", "/v1/runs/"+id+"/events", nil, nil)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sse := &sseReader{bufio.NewReader(resp.Body)}
	sawTick, sawTock, executions := false, false, 0
	for {
		ev, data, err := sse.next()
		require.NoError(t, err, "the stream ended without an end event")
		if ev == "end" {
			var r runRecord
			require.NoError(t, json.Unmarshal([]byte(data), &r))
			assert.Equal(t, "finished", r.Status)
			break
		}
		var e struct {
			Event   string
			Message *struct {
				Kind   string
				Output *struct{ Text string }
			}
		}
		require.NoError(t, json.Unmarshal([]byte(data), &e), data)
		if e.Message == nil {
			continue
		}
		switch {
		case e.Message.Kind == "code_execution":
			executions++
		case e.Message.Kind == "output" && e.Message.Output != nil && strings.Contains(e.Message.Output.Text, "tick before the pause"):
			sawTick = true
			assert.Equal(t, 0, executions, "the output came before the step's result")
			var r runRecord
			app.getJSON(t, "/v1/runs/"+id, &r)
			assert.Equal(t, "running", r.Status, "the output came while the run was going on")
			assert.False(t, sawTock)
		case e.Message.Kind == "output" && e.Message.Output != nil && strings.Contains(e.Message.Output.Text, "tock after the pause"):
			sawTock = true
		}
	}
	assert.True(t, sawTick, "the output before the pause was streamed")
	assert.True(t, sawTock)
	assert.Positive(t, executions)
}

// A restarted server lists the runs that finished before, with their
// outputs and event streams.
func TestServeRestartListsFinishedRuns(t *testing.T) {
	js := jupytertest.Start(t)
	data := t.TempDir()
	args := []string{"--model", "replay:" + serveReplay(t, ""), "--jupyter-url", js.URL, "--token", js.Token}
	app := startServe(t, data, args...)
	id := app.postRun(t, "Clean sales.csv", map[string][]byte{"sales.csv": salesCSV(t)})
	require.Equal(t, "finished", app.waitDone(t, id, 3*time.Minute).Status)
	require.Equal(t, 0, app.stop())

	app2 := startServe(t, data, args...)
	var list struct{ Runs []runRecord }
	app2.getJSON(t, "/v1/runs", &list)
	require.Len(t, list.Runs, 1)
	assert.Equal(t, id, list.Runs[0].ID)
	assert.Equal(t, "finished", list.Runs[0].Status)
	assert.Contains(t, list.Runs[0].FinalAnswer, "14 orders")
	resp := app2.do(t, "GET", "/v1/runs/"+id+"/files/report.md", nil, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), "14 orders")

	resp = app2.do(t, "GET", "/v1/runs/"+id+"/events", nil, nil)
	defer resp.Body.Close()
	sse := &sseReader{bufio.NewReader(resp.Body)}
	n := 0
	for {
		ev, _, err := sse.next()
		require.NoError(t, err)
		if ev == "end" {
			break
		}
		n++
	}
	assert.Greater(t, n, 10, "the whole stream, from disk")
}

// SIGTERM to the real binary with a run going on and a warm kernel
// waiting: it stops taking runs, cancels the run after the grace period
// (its outputs are written), shuts every kernel and embedded server down
// and exits 0.
func TestServeSIGTERMLeavesNoKernel(t *testing.T) {
	jupytertest.Require(t)
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(req.Messages[0].Content, "You are the planner") {
			return fakeopenai.Reply{Text: "1. Wait."}
		}
		return fakeopenai.Reply{Text: "```python\nimport time\nprint('started', flush=True)\ntime.sleep(300)\n```"}
	})
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	port, err := jupytertest.FreePort()
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", data, "--pool", "1", "--grace", "1s", "--model", "m")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.Getenv("TMPDIR"),
		"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey, serveTokenEnv + "=" + serveTestToken}
	var se syncBuffer
	cmd.Stderr = &se
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	app := &servedApp{url: "http://" + addr, dataDir: data, stderr: &se}
	require.Eventually(t, func() bool {
		resp, err := http.Get(app.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, se.String())

	id := app.postRun(t, "Wait a long time", nil)
	resp := app.do(t, "GET", "/v1/runs/"+id+"/events", nil, nil)
	sse := &sseReader{bufio.NewReader(resp.Body)}
	for started := false; !started; {
		_, data, err := sse.next()
		require.NoError(t, err, se.String())
		started = strings.Contains(data, `"output"`) && strings.Contains(data, "started")
	}
	resp.Body.Close()
	var r0 runRecord
	app.getJSON(t, "/v1/runs/"+id, &r0)
	require.Equal(t, "running", r0.Status, "%+v\n%s", r0, se.String())
	// The run's kernel and the pool's warm one (started in its place or
	// still starting): embedded servers under the data directory.
	require.NotEmpty(t, jupytertest.ProcessesMatching(data), "kernels under %s; server log: %s", data, se.String())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM: %s", se.String())
	}
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), se.String())
	assert.Contains(t, se.String(), "stopped")
	assert.Empty(t, jupytertest.ProcessesMatching(data), "no kernel or server left")

	b, err := os.ReadFile(filepath.Join(data, id, "run.json"))
	require.NoError(t, err)
	var r runRecord
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, "cancelled", r.Status)
	assert.Contains(t, r.StopReason, "shut down")
	for _, f := range []string{"notebook.ipynb", "report.md", "transcript.jsonl"} {
		assert.FileExists(t, filepath.Join(data, id, f))
	}
	nb, _ := os.ReadFile(filepath.Join(data, id, "notebook.ipynb"))
	assert.Contains(t, string(nb), "started", "the interrupted cell's output is kept")
	leftovers, _ := os.ReadDir(filepath.Join(data, ".kernels"))
	assert.Empty(t, leftovers, "the pool's working directories are removed")
}

func TestServeRefusesToListenBeyondLoopbackWithoutToken(t *testing.T) {
	t.Setenv(serveTokenEnv, "")
	var out, errb bytes.Buffer
	code := Main([]string{"serve", "--addr", "0.0.0.0:0", "--model", "replay:../../examples/messy/replay.md", "--data-dir", t.TempDir()}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, 2, code)
	assert.Contains(t, errb.String(), serveTokenEnv)
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(errb.String()), "\n")+1, "one line: %s", errb.String())

	t.Setenv(serveTokenEnv, "short")
	errb.Reset()
	code = Main([]string{"serve", "--model", "replay:../../examples/messy/replay.md", "--data-dir", t.TempDir()}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, 2, code)
	assert.Contains(t, errb.String(), "too short")
}

// The compose file's serve command parses with the real flags.
func TestServeComposeCommandParses(t *testing.T) {
	b, err := os.ReadFile("../../deploy/compose.serve.yaml")
	require.NoError(t, err)
	var c struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	args := c.Services["serve"].Command
	require.NotEmpty(t, args)
	require.Equal(t, "serve", args[0])
	cmd := newServeCmd()
	require.NoError(t, cmd.ParseFlags(args[1:]))
	for _, name := range []string{"addr", "data-dir", "jupyter-url", "max-concurrent", "queue", "pool", "grace"} {
		assert.True(t, cmd.Flags().Changed(name), name)
	}
	g, err := cmd.Flags().GetDuration("grace")
	require.NoError(t, err)
	assert.Positive(t, g)
}

// Runs of one service are not each other's business: the code of one run,
// in an embedded sandboxed kernel, cannot read what another run uploaded
// (or wrote) under the data directory.
func TestServeRunCannotReadAnotherRunsFiles(t *testing.T) {
	jupytertest.Require(t)
	// Not under /tmp, /var/tmp or a home directory, which the sandbox hides
	// anyway: where a service keeps its data.
	base := "/srv"
	if st, err := os.Stat(base); err != nil || !st.IsDir() || os.Geteuid() != 0 {
		base = "/var/tmp"
	}
	dataDir, err := os.MkdirTemp(base, "agentteam-serve-data-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	peek := "import glob\nimport os\ntry: print('LS', os.listdir(" + fmt.Sprintf("%q", dataDir) + "))\nexcept Exception as e: print('LS', repr(e))\nfor p in glob.glob(" + fmt.Sprintf("%q", dataDir+"/*/inputs/*") + "):\n    print('PEEK', p, open(p).read())\n"
	app := startServe(t, dataDir, "--model", "replay:"+serveReplay(t, peek), "--max-concurrent", "1")
	other := app.postRun(t, "Keep this", map[string][]byte{"sales.csv": salesCSV(t), "private.txt": []byte("TENANT-A-PRIVATE-DATA\n")})
	id := app.postRun(t, "Clean sales.csv", map[string][]byte{"sales.csv": salesCSV(t)})
	app.waitDone(t, other, 3*time.Minute)
	r := app.waitDone(t, id, 3*time.Minute)
	require.Equal(t, "finished", r.Status, "%+v\n%s", r, app.stderr.String())
	nb, err := os.ReadFile(filepath.Join(dataDir, id, "notebook.ipynb"))
	require.NoError(t, err)
	assert.Contains(t, string(nb), "LS [", "the code looked")
	assert.NotContains(t, string(nb), "TENANT-A-PRIVATE-DATA", "a run read another run's upload")
	assert.NotContains(t, string(nb), other, "a run saw another run's directory")
}
