package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gated is a pipeline for the HTTP edge cases: it emits `before` events,
// waits for its gate (or ctx), emits `after` events and finishes. The real
// pipeline is tested end to end in cmd/agentteam.
type gated struct {
	before, after int
	mu            sync.Mutex
	gates         map[string]chan struct{}
	started       chan string
	writeFiles    map[string]string
}

func newGated(before, after int) *gated {
	return &gated{before: before, after: after, gates: map[string]chan struct{}{}, started: make(chan string, 100)}
}

func (g *gated) gate(id string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates[id] == nil {
		g.gates[id] = make(chan struct{})
	}
	return g.gates[id]
}

func (g *gated) open(id string) { close(g.gate(id)) }

func (g *gated) Run(ctx context.Context, job Job, emit func(Event)) Outcome {
	g.started <- job.ID
	for name, content := range g.writeFiles {
		p := filepath.Join(job.Dir, filepath.FromSlash(name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		_ = os.WriteFile(p, []byte(content), 0o644)
	}
	for i := 0; i < g.before; i++ {
		emit(Event{Data: map[string]any{"event": "status", "text": fmt.Sprintf("before %d", i)}, Executions: 1, Usage: Usage{PromptTokens: 10, CompletionTokens: 5}})
	}
	select {
	case <-g.gate(job.ID):
	case <-ctx.Done():
		return Outcome{Cause: CauseCancelled, Reason: "cancelled"}
	}
	for i := 0; i < g.after; i++ {
		emit(Event{Data: map[string]any{"event": "status", "text": fmt.Sprintf("after %d", i)}})
	}
	return Outcome{Cause: CauseFinished, Reason: "done", FinalAnswer: "42"}
}

func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, hs
}

func do(t *testing.T, method, url, token string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func postJSON(t *testing.T, base, token, task string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"task": task})
	resp := do(t, "POST", base+"/v1/runs", token, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var out struct{ ID, Status string }
	decode(t, resp, &out)
	require.Equal(t, "queued", out.Status)
	return out.ID
}

func waitStatus(t *testing.T, base, token, id string, want ...Status) Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r Run
		decode(t, do(t, "GET", base+"/v1/runs/"+id, token, nil, nil), &r)
		for _, w := range want {
			if r.Status == w {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s, want %v", id, r.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuthRefusesMissingAndWrongTokens(t *testing.T) {
	g := newGated(0, 0)
	const tok = "s3cret-token-0123456789"
	_, hs := newTestServer(t, Config{Pipeline: g, Token: tok})

	id := postJSON(t, hs.URL, tok, "a task")
	g.open(id)
	for _, path := range []string{"/v1/runs", "/v1/runs/" + id, "/v1/runs/" + id + "/events", "/v1/runs/" + id + "/files/report.md", "/metrics"} {
		for _, bad := range []string{"", "wrong", tok + "x", strings.ToUpper(tok)} {
			resp := do(t, "GET", hs.URL+path, bad, nil, nil)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "GET %s with token %q", path, bad)
			assert.Equal(t, `Bearer realm="agentteam"`, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, h := range []string{"Basic " + tok, "Token " + tok, tok} {
		resp := do(t, "GET", hs.URL+"/v1/runs", "", nil, map[string]string{"Authorization": h})
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "Authorization: %s", h)
	}
	resp := do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`{"task":"x"}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = do(t, "DELETE", hs.URL+"/v1/runs/"+id, "nope", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The right token works, and so does the health check without one.
	resp = do(t, "GET", hs.URL+"/v1/runs", tok, nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp = do(t, "GET", hs.URL+"/healthz", "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// The page's sign-in: a wrong token gets no cookie; the right one gets a
	// cookie that is not the token and works in its place.
	resp = do(t, "POST", hs.URL+"/v1/session", "", strings.NewReader(`{"token":"wrong"}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, resp.Cookies())
	resp = do(t, "POST", hs.URL+"/v1/session", "", strings.NewReader(`{"token":"`+tok+`"}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, resp.Cookies(), 1)
	c := resp.Cookies()[0]
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.NotContains(t, c.Value, tok)
	resp = do(t, "GET", hs.URL+"/v1/runs", "", nil, map[string]string{"Cookie": c.Name + "=" + c.Value})
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp = do(t, "GET", hs.URL+"/v1/runs", "", nil, map[string]string{"Cookie": c.Name + "=" + c.Value + "0"})
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// A page on another site cannot use the cookie to start or cancel runs.
	for _, m := range []string{"POST", "DELETE"} {
		u := hs.URL + "/v1/runs"
		if m == "DELETE" {
			u += "/" + id
		}
		resp = do(t, m, u, "", strings.NewReader(`{"task":"x"}`), map[string]string{
			"Content-Type": "application/json", "Cookie": c.Name + "=" + c.Value,
			"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example",
		})
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, m)
	}
}

func TestWithoutTokenOnlyLoopbackHostsAreAnswered(t *testing.T) {
	_, hs := newTestServer(t, Config{Pipeline: newGated(0, 0)})
	resp := do(t, "GET", hs.URL+"/v1/runs", "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for _, host := range []string{"evil.example", "evil.example:80", "10.0.0.1:8080", "localhost.evil.example"} {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/runs", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, host)
	}
	// And a page elsewhere cannot post a task to the loopback server.
	resp = do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`{"task":"rm -rf"}`), map[string]string{
		"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestCheckListen(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", "localhost:1", "[::1]:8080", "127.0.0.2:80"} {
		assert.NoError(t, CheckListen(a, false), a)
	}
	for _, a := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.168.1.4:8080", "example.com:80"} {
		err := CheckListen(a, false)
		assert.ErrorIs(t, err, ErrTokenRequired, a)
		assert.NoError(t, CheckListen(a, true), a)
	}
	assert.Error(t, CheckListen("nonsense", false))
}

// rawGet sends a request line exactly as given, so that no client cleans
// or re-encodes the path.
func rawGet(t *testing.T, base, target, token string) (int, string, http.Header) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", target, addr, token)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestFilesRefuseTraversalAndSymlinksAndServeSafely(t *testing.T) {
	g := newGated(0, 0)
	g.writeFiles = map[string]string{
		"report.md":         "# report",
		"notebook.ipynb":    `{"cells":[]}`,
		"files/plot.png":    "\x89PNG\r\n\x1a\n",
		"files/page.html":   "<script>alert(1)</script>",
		"files/image.svg":   `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"files/sub/a.txt":   "hello",
		"files/.hidden":     "no",
		"workspace/x.txt":   "kernel working directory",
		"secret-at-top.txt": "not an output",
	}
	const tok = "tok-1234567890"
	s, hs := newTestServer(t, Config{Pipeline: g, Token: tok})
	secret := filepath.Join(t.TempDir(), "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("TOP SECRET"), 0o600))

	id := postJSON(t, hs.URL, tok, "files")
	<-g.started
	g.open(id)
	waitStatus(t, hs.URL, tok, id, StatusFinished)
	dir := filepath.Join(s.cfg.DataDir, id)
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "files", "link.txt")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "files", "etc")))
	require.NoError(t, os.Symlink(filepath.Dir(secret), filepath.Join(dir, "files", "up")))

	base := "/v1/runs/" + id + "/files/"
	for _, p := range []string{
		"../run.json", "..%2frun.json", "%2e%2e/run.json", "%2e%2e%2frun.json", "files/..%2f..%2f" + id + "%2frun.json",
		"files/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "..%5crun.json", "files%5c..%5crun.json", "%252e%252e%252frun.json",
		"files/../../../../etc/passwd", "run.json", "events.jsonl", "workspace/x.txt", "secret-at-top.txt",
		"files/.hidden", "files/link.txt", "files/etc/passwd", "files/up/secret.txt", "files/sub", "files/",
		"/etc/passwd", "%2fetc%2fpasswd", "files/%00x", "inputs/../run.json",
	} {
		code, body, _ := rawGet(t, hs.URL, base+p, tok)
		code, body, hdr := rawGet(t, hs.URL, base+p, tok)
		if code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect {
			// The router cleans dot segments with a redirect: follow it by
			// hand; it must not lead to a file either.
			code, body, _ = rawGet(t, hs.URL, hdr.Get("Location"), tok)
		}
		assert.Contains(t, []int{http.StatusNotFound, http.StatusBadRequest, http.StatusMethodNotAllowed}, code, "path %s", p)
		assert.NotContains(t, body, "TOP SECRET", p)
		assert.NotContains(t, body, "root:", p)
		assert.NotContains(t, body, `"task"`, p)
	}

	code, body, h := rawGet(t, hs.URL, base+"report.md", tok)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "# report", body)
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Contains(t, h.Get("Content-Security-Policy"), "sandbox")

	code, body, h = rawGet(t, hs.URL, base+"files/sub/a.txt", tok)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hello", body)

	code, _, h = rawGet(t, hs.URL, base+"files/plot.png", tok)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "image/png", h.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(h.Get("Content-Disposition"), "inline"))

	// What kernel code wrote as HTML or SVG is a download, never a page of
	// this origin.
	for _, p := range []string{"files/page.html", "files/image.svg"} {
		code, _, h = rawGet(t, hs.URL, base+p, tok)
		assert.Equal(t, http.StatusOK, code, p)
		assert.True(t, strings.HasPrefix(h.Get("Content-Disposition"), "attachment"), p)
		assert.NotContains(t, h.Get("Content-Type"), "text/html", p)
		assert.Contains(t, h.Get("Content-Security-Policy"), "sandbox", p)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), p)
	}

	var r Run
	decode(t, do(t, "GET", hs.URL+"/v1/runs/"+id, tok, nil, nil), &r)
	assert.Contains(t, r.Outputs, "report.md")
	assert.Contains(t, r.Outputs, "files/sub/a.txt")
	assert.NotContains(t, r.Outputs, "files/.hidden")
	assert.NotContains(t, r.Outputs, "files/link.txt")

	// Unknown and malformed run ids.
	code, _, _ = rawGet(t, hs.URL, "/v1/runs/..%2f..%2fetc/files/passwd", tok)
	assert.NotEqual(t, http.StatusOK, code)
}

func TestUploadNamesAreChecked(t *testing.T) {
	g := newGated(0, 0)
	s, hs := newTestServer(t, Config{Pipeline: g})
	post := func(names ...string) (*http.Response, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("task", "look at the data")
		for _, n := range names {
			// CreateFormFile escapes quotes only; write the header by hand
			// to send the name exactly.
			h := make(map[string][]string)
			h["Content-Disposition"] = []string{`form-data; name="file"; filename="` + n + `"`}
			w, _ := mw.CreatePart(h)
			_, _ = w.Write([]byte("a,b\n1,2\n"))
		}
		mw.Close()
		resp := do(t, "POST", hs.URL+"/v1/runs", "", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, bad := range [][]string{{"../x.csv"}, {".bashrc"}, {"a\\b.csv"}, {"dir/x.csv"}, {""}, {"x.csv", "x.csv"}, {"-rf"}, {"a\x01.csv"}} {
		resp, body := post(bad...)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "names %q: %s", bad, body)
	}
	entries, _ := os.ReadDir(s.cfg.DataDir)
	assert.Empty(t, entries, "a refused request leaves no directory")

	resp, body := post("sales data.csv", "b.csv")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	var out struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	<-g.started
	g.open(out.ID)
	r := waitStatus(t, hs.URL, "", out.ID, StatusFinished)
	assert.Equal(t, []string{"b.csv", "sales data.csv"}, r.Inputs)
	b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, out.ID, "inputs", "sales data.csv"))
	require.NoError(t, err)
	assert.Equal(t, "a,b\n1,2\n", string(b))

	// Other bodies.
	resp = do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`{"task":""}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp = do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`task`), map[string]string{"Content-Type": "text/plain"})
	resp.Body.Close()
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
}

func TestUploadLimit(t *testing.T) {
	_, hs := newTestServer(t, Config{Pipeline: newGated(0, 0), MaxUploadBytes: 1000})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("task", "t")
	w, _ := mw.CreateFormFile("file", "big.csv")
	_, _ = w.Write(bytes.Repeat([]byte("x"), 5000))
	mw.Close()
	resp := do(t, "POST", hs.URL+"/v1/runs", "", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

func readSSE(t *testing.T, r *bufio.Reader) (sseEvent, error) {
	t.Helper()
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.Data != "" || ev.Event != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		}
	}
}

func TestEventsReplayFollowAndResume(t *testing.T) {
	g := newGated(3, 2)
	_, hs := newTestServer(t, Config{Pipeline: g})
	id := postJSON(t, hs.URL, "", "stream")
	<-g.started

	open := func(last string) (*http.Response, *bufio.Reader) {
		hdr := map[string]string{}
		if last != "" {
			hdr["Last-Event-ID"] = last
		}
		resp := do(t, "GET", hs.URL+"/v1/runs/"+id+"/events", "", nil, hdr)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		return resp, bufio.NewReader(resp.Body)
	}
	// Live: the first three events arrive while the run is still going.
	resp, r := open("")
	for i := 0; i < 3; i++ {
		ev, err := readSSE(t, r)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i+1), ev.ID)
		assert.JSONEq(t, fmt.Sprintf(`{"event":"status","text":"before %d"}`, i), ev.Data)
	}
	assert.Equal(t, StatusRunning, waitStatus(t, hs.URL, "", id, StatusRunning).Status)
	resp.Body.Close()

	// Resume after event 2: event 3, then the rest as it happens, then end.
	resp, r = open("2")
	defer resp.Body.Close()
	ev, err := readSSE(t, r)
	require.NoError(t, err)
	assert.Equal(t, "3", ev.ID)
	g.open(id)
	for i := 0; i < 2; i++ {
		ev, err := readSSE(t, r)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(4+i), ev.ID)
	}
	ev, err = readSSE(t, r)
	require.NoError(t, err)
	assert.Equal(t, "end", ev.Event)
	var rec Run
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &rec))
	assert.Equal(t, StatusFinished, rec.Status)
	assert.Equal(t, "42", rec.FinalAnswer)
	_, err = readSSE(t, r)
	assert.ErrorIs(t, err, io.EOF, "the stream ends with the run")

	// After the run: the whole stream again, from the start.
	resp2, r2 := open("")
	defer resp2.Body.Close()
	var ids []string
	for {
		ev, err := readSSE(t, r2)
		require.NoError(t, err)
		if ev.Event == "end" {
			break
		}
		ids = append(ids, ev.ID)
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5"}, ids)

	resp3 := do(t, "GET", hs.URL+"/v1/runs/"+id+"/events", "", nil, map[string]string{"Last-Event-ID": "x"})
	resp3.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp3.StatusCode)
}

func TestQueueBoundCancelAndMetrics(t *testing.T) {
	g := newGated(1, 0)
	_, hs := newTestServer(t, Config{Pipeline: g, MaxConcurrent: 1, MaxQueue: 1})
	a := postJSON(t, hs.URL, "", "first")
	require.Equal(t, a, <-g.started)
	b := postJSON(t, hs.URL, "", "second")
	waitStatus(t, hs.URL, "", b, StatusQueued)
	resp := do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`{"task":"third"}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the queue is full")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	resp = do(t, "GET", hs.URL+"/metrics", "", nil, nil)
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(m), "agentteam_queue_length 1")
	assert.Contains(t, string(m), `agentteam_runs{status="running"} 1`)
	assert.Contains(t, string(m), "agentteam_code_executions_total 1")
	assert.Contains(t, string(m), `agentteam_model_tokens_total{type="prompt"} 10`)

	// Cancel the queued run: it never starts.
	resp = do(t, "DELETE", hs.URL+"/v1/runs/"+b, "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	rb := waitStatus(t, hs.URL, "", b, StatusCancelled)
	assert.Nil(t, rb.Started)
	// Cancel the running one.
	resp = do(t, "DELETE", hs.URL+"/v1/runs/"+a, "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	ra := waitStatus(t, hs.URL, "", a, StatusCancelled)
	assert.Equal(t, CauseCancelled, ra.StopCause)
	resp = do(t, "DELETE", hs.URL+"/v1/runs/"+a, "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	resp = do(t, "DELETE", hs.URL+"/v1/runs/20000101t000000-00000000", "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The slot is free again.
	c := postJSON(t, hs.URL, "", "fourth")
	require.Equal(t, c, <-g.started)
	g.open(c)
	waitStatus(t, hs.URL, "", c, StatusFinished)
}

func TestRestartListsRunsAndMarksInterruptedOnes(t *testing.T) {
	dir := t.TempDir()
	g := newGated(2, 0)
	s1, err := New(Config{Pipeline: g, DataDir: dir})
	require.NoError(t, err)
	hs1 := httptest.NewServer(s1.Handler())
	done := postJSON(t, hs1.URL, "", "finished one")
	<-g.started
	g.open(done)
	waitStatus(t, hs1.URL, "", done, StatusFinished)
	live := postJSON(t, hs1.URL, "", "left running")
	<-g.started
	waitStatus(t, hs1.URL, "", live, StatusRunning)
	hs1.Close()
	// The process "dies" here: no Shutdown, the run stays "running" on disk.

	s2, hs2 := newTestServer(t, Config{Pipeline: newGated(0, 0), DataDir: dir})
	_ = s2
	var list struct{ Runs []Run }
	decode(t, do(t, "GET", hs2.URL+"/v1/runs", "", nil, nil), &list)
	require.Len(t, list.Runs, 2)
	assert.Equal(t, live, list.Runs[0].ID, "newest first")
	assert.Equal(t, StatusFailed, list.Runs[0].Status)
	assert.Equal(t, CauseServerStopped, list.Runs[0].StopCause)
	assert.Contains(t, list.Runs[0].Error, "server stopped while the run was running")
	assert.Equal(t, StatusFinished, list.Runs[1].Status)
	assert.Equal(t, "42", list.Runs[1].FinalAnswer)

	// Its events are still there, from disk.
	resp := do(t, "GET", hs2.URL+"/v1/runs/"+done+"/events", "", nil, nil)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var n int
	for {
		ev, err := readSSE(t, r)
		require.NoError(t, err)
		if ev.Event == "end" {
			break
		}
		n++
	}
	assert.Equal(t, 2, n)

	// Let the first server's goroutine end.
	g.open(live)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s1.Shutdown(ctx))
}

func TestShutdownDrainsThenCancels(t *testing.T) {
	g := newGated(0, 0)
	s, hs := newTestServer(t, Config{Pipeline: g, MaxConcurrent: 1})
	a := postJSON(t, hs.URL, "", "running")
	<-g.started
	b := postJSON(t, hs.URL, "", "queued")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Shutdown(ctx) }()
	waitStatus(t, hs.URL, "", b, StatusCancelled)
	resp := do(t, "POST", hs.URL+"/v1/runs", "", strings.NewReader(`{"task":"late"}`), map[string]string{"Content-Type": "application/json"})
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp = do(t, "GET", hs.URL+"/healthz", "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NoError(t, <-errc)
	r := waitStatus(t, hs.URL, "", a, StatusCancelled)
	assert.Contains(t, r.StopReason, "cancelled")
}

func TestPageHasStrictPolicyAndNoRemoteAssets(t *testing.T) {
	_, hs := newTestServer(t, Config{Pipeline: newGated(0, 0)})
	resp := do(t, "GET", hs.URL+"/", "", nil, nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self'")
	assert.Contains(t, csp, "default-src 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "unsafe-eval")
	for _, f := range []string{"index.html", "assets/app.js", "assets/app.css"} {
		data, err := webFS.ReadFile("web/" + f)
		require.NoError(t, err)
		assert.NotRegexp(t, `(?i)(src|href)=["']?(https?:)?//`, string(data), f)
		assert.NotContains(t, string(data), "innerHTML", f)
		assert.NotContains(t, string(data), "outerHTML", f)
		assert.NotContains(t, string(data), "insertAdjacentHTML", f)
		assert.NotContains(t, string(data), "document.write", f)
	}
	assert.Contains(t, string(b), `<script src="/assets/app.js"`)
	resp = do(t, "GET", hs.URL+"/assets/app.js", "", nil, nil)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "javascript")
}

// A sign-in on the page expires, and signing out ends it: the same cookie,
// replayed, is refused. A cookie signed for another token, or altered, is
// refused too.
func TestWebSessionsExpireAndSignOutEndsThem(t *testing.T) {
	const tok = "session-token-0123456789"
	srv, hs := newTestServer(t, Config{Pipeline: newGated(0, 0), Token: tok, SessionTTL: time.Hour})
	signIn := func() *http.Cookie {
		t.Helper()
		resp := do(t, "POST", hs.URL+"/v1/session", "", strings.NewReader(`{"token":"`+tok+`"}`), map[string]string{"Content-Type": "application/json"})
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, resp.Cookies(), 1)
		return resp.Cookies()[0]
	}
	status := func(v string) int {
		t.Helper()
		resp := do(t, "GET", hs.URL+"/v1/runs", "", nil, map[string]string{"Cookie": sessionCookie + "=" + v})
		resp.Body.Close()
		return resp.StatusCode
	}
	a, b := signIn(), signIn()
	assert.NotEqual(t, a.Value, b.Value, "each sign-in is a session of its own")
	assert.WithinDuration(t, time.Now().Add(time.Hour), a.Expires, time.Minute)
	assert.Equal(t, http.StatusOK, status(a.Value))

	// Signing out ends that session only.
	resp := do(t, "DELETE", hs.URL+"/v1/session", "", nil, map[string]string{"Cookie": sessionCookie + "=" + a.Value})
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, http.StatusUnauthorized, status(a.Value), "a signed-out cookie, replayed")
	assert.Equal(t, http.StatusOK, status(b.Value))

	// Past its expiry a session is refused.
	srv.sessions.now = func() time.Time { return time.Now().Add(time.Hour + time.Second) }
	assert.Equal(t, http.StatusUnauthorized, status(b.Value), "expired")
	srv.sessions.now = time.Now

	// Altered, or signed with another token's key: refused.
	other := newSessions("another-token-0123456789", time.Hour)
	forged, _ := other.issue()
	assert.Equal(t, http.StatusUnauthorized, status(forged))
	parts := strings.Split(b.Value, ".")
	later := strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10)
	assert.Equal(t, http.StatusUnauthorized, status(parts[0]+"."+later+"."+parts[2]), "expiry pushed back")
	assert.Equal(t, http.StatusUnauthorized, status(b.Value+"0"))
	assert.Equal(t, http.StatusUnauthorized, status(""))
}
