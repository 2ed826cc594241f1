package serve

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	sessionCookie = "agentteam_session"
	maxTaskBytes  = 1 << 20
	maxFiles      = 100
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /v1/session", s.sessionInfo)
	mux.HandleFunc("POST /v1/session", s.login)
	mux.HandleFunc("DELETE /v1/session", s.logout)

	mux.Handle("GET /metrics", s.auth(s.metrics.handler()))
	mux.Handle("POST /v1/runs", s.auth(http.HandlerFunc(s.createRun)))
	mux.Handle("GET /v1/runs", s.auth(http.HandlerFunc(s.listRuns)))
	mux.Handle("GET /v1/runs/{id}", s.auth(http.HandlerFunc(s.getRun)))
	mux.Handle("DELETE /v1/runs/{id}", s.auth(http.HandlerFunc(s.cancelRun)))
	mux.Handle("GET /v1/runs/{id}/events", s.auth(http.HandlerFunc(s.runEvents)))
	mux.Handle("GET /v1/runs/{id}/files/{path...}", s.auth(http.HandlerFunc(s.runFile)))

	web := webHandler()
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /assets/", web)

	// Browsers send cookies with cross-site requests that a page elsewhere
	// makes: refuse cross-origin state changes (and, without a token,
	// answer only loopback Host names, against DNS rebinding).
	cop := http.NewCrossOriginProtection()
	return s.secureHeaders(s.checkHost(cop.Handler(mux)))
}

func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		// The page sets its own policy; everything else is data.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if !isLoopbackHost(host) {
				writeError(w, http.StatusMisdirectedRequest, "this server has no token and answers only to loopback host names")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// equalSecret compares without leaking the length or position of a
// difference.
func equalSecret(a, b string) bool {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		return ok && strings.EqualFold(scheme, "Bearer") && equalSecret(strings.TrimSpace(tok), s.cfg.Token)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return s.sessions.valid(c.Value)
	}
	return false
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agentteam"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer TOKEN")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"token_required": s.cfg.Token != "", "authenticated": s.authorized(r)})
}

// login turns the token into the web page's session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		writeJSON(w, http.StatusOK, map[string]bool{"authenticated": true})
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "send {\"token\": \"...\"}")
		return
	}
	if !equalSecret(body.Token, s.cfg.Token) {
		time.Sleep(200 * time.Millisecond)
		writeError(w, http.StatusUnauthorized, "wrong token")
		return
	}
	v, exp := s.sessions.issue()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Expires: exp, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, map[string]bool{"authenticated": true})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.sessions != nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listRuns(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"runs": s.list()})
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	rs := s.get(r.PathValue("id"))
	if rs == nil {
		writeError(w, http.StatusNotFound, "no such run")
		return
	}
	rec := rs.snapshot()
	rec.Outputs = outputsOf(rs.dir)
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rs := s.get(id)
	if rs == nil {
		writeError(w, http.StatusNotFound, "no such run")
		return
	}
	if !s.Cancel(id) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "the run is already over", "status": rs.snapshot().Status})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "status": "cancelling"})
}

// safeName accepts an uploaded file's name: a plain file name of printable
// characters, not hidden, not a path.
func safeName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("a file part has no file name")
	case len(name) > 200:
		return "", fmt.Errorf("file name too long (%d bytes)", len(name))
	case !utf8.ValidString(name):
		return "", errors.New("a file name is not valid UTF-8")
	case strings.ContainsAny(name, `/\:`):
		return "", fmt.Errorf("file name %q: give a plain name, not a path", name)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-"):
		return "", fmt.Errorf("file name %q must not start with %q", name, name[:1])
	case strings.TrimSpace(name) != name:
		return "", fmt.Errorf("file name %q must not start or end with spaces", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("file name %q has a control character", name)
		}
	}
	return name, nil
}

// createRun accepts a task: multipart/form-data with a "task" field and any
// number of "file" parts, or JSON {"task": "..."}.
func (s *Server) createRun(w http.ResponseWriter, r *http.Request) {
	if s.Draining() {
		writeError(w, http.StatusServiceUnavailable, errDraining.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	id := newID()
	dir := filepath.Join(s.cfg.DataDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		writeError(w, http.StatusInternalServerError, "could not create the run's directory")
		s.log.Error("mkdir", "err", err)
		return
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	task, inputs, status, err := s.readTask(r, dir)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status, err = http.StatusRequestEntityTooLarge, fmt.Errorf("the request is larger than %d bytes", mbe.Limit)
		}
		writeError(w, status, err.Error())
		return
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sortStrings(names)
	rs := &runState{dir: dir, changed: make(chan struct{}), rec: Run{
		ID: id, Status: StatusQueued, Task: task, Inputs: names, Created: time.Now().UTC(),
	}}
	if err := s.start(rs, inputs); err != nil {
		code := http.StatusServiceUnavailable
		if !errors.Is(err, errQueueFull) && !errors.Is(err, errDraining) {
			code = http.StatusInternalServerError
		}
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "30")
		}
		writeError(w, code, err.Error())
		return
	}
	ok = true
	w.Header().Set("Location", "/v1/runs/"+id)
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "status": StatusQueued})
}

func (s *Server) readTask(r *http.Request, dir string) (string, map[string]string, int, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	inputs := map[string]string{}
	switch ct {
	case "application/json":
		var body struct {
			Task string `json:"task"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, maxTaskBytes+1024))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return "", nil, http.StatusBadRequest, fmt.Errorf("the JSON body must be {\"task\": \"...\"}: %v", err)
		}
		if strings.TrimSpace(body.Task) == "" {
			return "", nil, http.StatusBadRequest, errors.New("the task is empty")
		}
		return body.Task, inputs, 0, nil
	case "multipart/form-data":
		if params["boundary"] == "" {
			return "", nil, http.StatusBadRequest, errors.New("multipart body without a boundary")
		}
	default:
		return "", nil, http.StatusUnsupportedMediaType, errors.New("send multipart/form-data (task, file...) or application/json ({\"task\": ...})")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, http.StatusBadRequest, err
	}
	var task string
	inDir := filepath.Join(dir, "inputs")
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", nil, http.StatusBadRequest, fmt.Errorf("reading the form: %w", err)
		}
		switch p.FormName() {
		case "task":
			b, err := io.ReadAll(io.LimitReader(p, maxTaskBytes+1))
			if err != nil {
				return "", nil, http.StatusBadRequest, fmt.Errorf("reading the task: %w", err)
			}
			if len(b) > maxTaskBytes {
				return "", nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the task is longer than %d bytes", maxTaskBytes)
			}
			task = string(b)
		case "file", "files":
			// Part.FileName keeps only the base name; look at the name as
			// sent, to refuse a path instead of quietly renaming it.
			_, dp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			name, err := safeName(dp["filename"])
			if err != nil {
				return "", nil, http.StatusBadRequest, err
			}
			if _, dup := inputs[name]; dup {
				return "", nil, http.StatusBadRequest, fmt.Errorf("two files are named %q", name)
			}
			if len(inputs) >= maxFiles {
				return "", nil, http.StatusBadRequest, fmt.Errorf("more than %d files", maxFiles)
			}
			if err := os.MkdirAll(inDir, 0o700); err != nil {
				return "", nil, http.StatusInternalServerError, err
			}
			dst := filepath.Join(inDir, name)
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return "", nil, http.StatusInternalServerError, fmt.Errorf("could not store %q", name)
			}
			_, err = io.Copy(f, p)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", nil, http.StatusBadRequest, fmt.Errorf("reading file %q: %w", name, err)
			}
			inputs[name] = dst
		default:
			_, _ = io.Copy(io.Discard, p)
		}
	}
	if strings.TrimSpace(task) == "" {
		return "", nil, http.StatusBadRequest, errors.New("the task is empty: send a \"task\" field")
	}
	return task, inputs, 0, nil
}

// runEvents streams a run's events as Server-Sent Events: every event from
// the first (or from the one after Last-Event-ID), then the live ones, then
// an "end" event with the run's record when the run is over.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	rs := s.get(r.PathValue("id"))
	if rs == nil {
		writeError(w, http.StatusNotFound, "no such run")
		return
	}
	next := 0
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" {
		n, err := strconv.Atoi(last)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "Last-Event-ID must be an event number")
			return
		}
		next = n
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	send := func(i int, data []byte) {
		fmt.Fprintf(bw, "id: %d\ndata: %s\n\n", i+1, data)
	}
	end := func() {
		rec, _ := json.Marshal(rs.snapshot())
		fmt.Fprintf(bw, "event: end\ndata: %s\n\n", rec)
		_ = bw.Flush()
		_ = rc.Flush()
	}
	_, _ = io.WriteString(bw, "retry: 2000\n\n")

	// fromDisk sends the rest of a finished run's events from its file.
	fromDisk := func() {
		f, err := os.Open(filepath.Join(rs.dir, "events.jsonl"))
		if err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
			for i := 0; sc.Scan(); i++ {
				if i >= next && len(sc.Bytes()) > 0 {
					send(i, sc.Bytes())
				}
			}
			f.Close()
		}
		end()
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		rs.mu.Lock()
		if rs.fromDisk {
			rs.mu.Unlock()
			fromDisk()
			return
		}
		var batch [][]byte
		if next < len(rs.events) {
			batch = rs.events[next:]
		}
		done := rs.rec.Status.Done()
		changed := rs.changed
		rs.mu.Unlock()
		for _, ev := range batch {
			send(next, ev)
			next++
		}
		if done {
			end()
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			_, _ = io.WriteString(bw, ": keepalive\n\n")
		}
	}
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
