// Package fakejupyter is an in-process Jupyter server for tests of protocol
// edge cases a real server cannot be made to produce on demand: interleaved
// messages, replies in either order with idle, kernels dying mid-execution,
// sockets dropped mid-execution with replay on reconnect, Kernel
// Gateway-like servers without a contents API, path prefixes and cookies.
//
// It speaks the REST API (kernel specs, kernels, optionally contents) and the
// kernel websocket protocol with plain JSON frames. What a kernel answers is
// scripted by Config.Handler; DefaultHandler answers kernel_info_request and
// runs execute_request by echoing the code on stdout.
package fakejupyter

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Server.
type Config struct {
	// Token, when set, is required as "Authorization: token ...".
	Token string
	// Prefix is the base path, e.g. "/jupyter/"; "" means "/".
	Prefix string
	// NoContents makes /api/contents answer 404 (like Kernel Gateway).
	NoContents bool
	// ForbidList makes GET /api/kernels answer 403 (like Kernel Gateway
	// with kernel listing turned off).
	ForbidList bool
	// Cookie, when set, is set on every REST answer and required on
	// websocket upgrades (like a load balancer's affinity cookie).
	Cookie *http.Cookie
	// RequireHeader, when set ("Name: value"), is required on every request,
	// websockets included.
	RequireHeader string
	// TLS serves https (and wss); use Server.Client for a client trusting
	// its certificate.
	TLS bool
	// Specs are the kernel spec names; nil means ["python3"].
	Specs []string
	// Handler handles every message a client sends on a kernel websocket,
	// each in its own goroutine. nil means DefaultHandler.
	Handler func(s *Session, m *Message)
}

// Message is a kernel message.
type Message struct {
	Header       Header         `json:"header"`
	ParentHeader Header         `json:"parent_header"`
	Metadata     map[string]any `json:"metadata"`
	Content      map[string]any `json:"content"`
	Channel      string         `json:"channel"`
	Buffers      []any          `json:"buffers"`
}

// Header is a message header.
type Header struct {
	MsgID    string `json:"msg_id,omitempty"`
	MsgType  string `json:"msg_type,omitempty"`
	Session  string `json:"session,omitempty"`
	Username string `json:"username,omitempty"`
	Date     string `json:"date,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Code returns the code of an execute_request.
func (m *Message) Code() string { s, _ := m.Content["code"].(string); return s }

// Server is a running fake server.
type Server struct {
	// URL is the base URL, prefix included, ending in "/".
	URL string
	cfg Config
	ts  *httptest.Server
	up  websocket.Upgrader

	mu       sync.Mutex
	kernels  map[string]*Kernel
	deleted  []string
	requests []string          // "METHOD path" of every request
	files    map[string][]byte // the contents API's files ("dir/" for directories)
	rejectWS int               // when set, websocket upgrades get this status
}

// Kernel is a fake kernel.
type Kernel struct {
	ID   string
	Name string
	srv  *Server

	mu         sync.Mutex
	sessions   map[string]*Session
	interrupts int
	restarts   int
	count      int
}

// Session is one client session (session_id) on a kernel: its websocket,
// when connected, and the messages buffered while it is not.
type Session struct {
	ID     string
	Kernel *Kernel

	mu        sync.Mutex
	ws        *websocket.Conn
	buffer    []*Message
	connected chan struct{} // closed while connected
	connects  int
}

// New starts a server; Close it when done.
func New(cfg Config) *Server {
	if cfg.Prefix == "" {
		cfg.Prefix = "/"
	}
	if !strings.HasPrefix(cfg.Prefix, "/") {
		cfg.Prefix = "/" + cfg.Prefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.Specs == nil {
		cfg.Specs = []string{"python3"}
	}
	if cfg.Handler == nil {
		cfg.Handler = DefaultHandler
	}
	s := &Server{cfg: cfg, kernels: map[string]*Kernel{}}
	s.up = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	if cfg.TLS {
		s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.ts.URL + cfg.Prefix
	return s
}

// Client returns an HTTP client for the server (trusting its certificate
// when it serves TLS).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	ks := make([]*Kernel, 0, len(s.kernels))
	for _, k := range s.kernels {
		ks = append(ks, k)
	}
	s.mu.Unlock()
	for _, k := range ks {
		for _, ss := range k.Sessions() {
			ss.Drop()
		}
	}
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Kernels lists the live kernels.
func (s *Server) Kernels() []*Kernel {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ks []*Kernel
	for _, k := range s.kernels {
		ks = append(ks, k)
	}
	return ks
}

// Kernel returns a live kernel by id, or nil.
func (s *Server) Kernel(id string) *Kernel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kernels[id]
}

// Deleted lists the ids of kernels deleted through the API.
func (s *Server) Deleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.deleted...)
}

// Requests lists "METHOD path" of every request so far (paths without the
// prefix).
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// RemoveKernel makes a kernel vanish (as if culled), dropping its sockets.
func (s *Server) RemoveKernel(id string) {
	s.mu.Lock()
	k := s.kernels[id]
	delete(s.kernels, id)
	s.mu.Unlock()
	if k != nil {
		for _, ss := range k.Sessions() {
			ss.Drop()
		}
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.cfg.Prefix) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
		return
	}
	p := "/" + strings.TrimPrefix(r.URL.Path, s.cfg.Prefix)
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+p)
	s.mu.Unlock()
	if s.cfg.Token != "" && r.Header.Get("Authorization") != "token "+s.cfg.Token {
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Forbidden"})
		return
	}
	if h := s.cfg.RequireHeader; h != "" {
		name, value, _ := strings.Cut(h, ":")
		if r.Header.Get(strings.TrimSpace(name)) != strings.TrimSpace(value) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "missing proxy header"})
			return
		}
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) >= 4 && parts[0] == "api" && parts[1] == "kernels" && parts[3] == "channels" {
		s.serveChannels(w, r, parts[2])
		return
	}
	if s.cfg.Cookie != nil {
		http.SetCookie(w, s.cfg.Cookie)
	}
	switch {
	case p == "/api/kernelspecs" && r.Method == http.MethodGet:
		specs := map[string]any{}
		for _, n := range s.cfg.Specs {
			specs[n] = map[string]any{"name": n, "spec": map[string]any{"display_name": n, "language": "python"}}
		}
		writeJSON(w, http.StatusOK, map[string]any{"default": s.cfg.Specs[0], "kernelspecs": specs})
	case p == "/api/kernels" && r.Method == http.MethodGet:
		if s.cfg.ForbidList {
			writeJSON(w, http.StatusForbidden, map[string]any{"message": "Forbidden"})
			return
		}
		var out []map[string]any
		for _, k := range s.Kernels() {
			out = append(out, k.model())
		}
		writeJSON(w, http.StatusOK, out)
	case p == "/api/kernels" && r.Method == http.MethodPost:
		var body struct {
			Name string `json:"name"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Name == "" {
			body.Name = s.cfg.Specs[0]
		}
		found := false
		for _, n := range s.cfg.Specs {
			found = found || n == body.Name
		}
		if !found {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "No such kernel named " + body.Name})
			return
		}
		k := &Kernel{ID: newID(), Name: body.Name, srv: s, sessions: map[string]*Session{}}
		s.mu.Lock()
		s.kernels[k.ID] = k
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, k.model())
	case len(parts) >= 3 && parts[0] == "api" && parts[1] == "kernels":
		k := s.Kernel(parts[2])
		if k == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "Kernel does not exist: " + parts[2]})
			return
		}
		switch {
		case len(parts) == 3 && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, k.model())
		case len(parts) == 3 && r.Method == http.MethodDelete:
			s.RemoveKernel(k.ID)
			s.mu.Lock()
			s.deleted = append(s.deleted, k.ID)
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case len(parts) == 4 && parts[3] == "interrupt" && r.Method == http.MethodPost:
			k.mu.Lock()
			k.interrupts++
			k.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case len(parts) == 4 && parts[3] == "restart" && r.Method == http.MethodPost:
			k.mu.Lock()
			k.restarts++
			k.count = 0
			k.mu.Unlock()
			writeJSON(w, http.StatusOK, k.model())
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
		}
	case strings.HasPrefix(p, "/api/contents"):
		if s.cfg.NoContents {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
			return
		}
		s.serveContents(w, r, strings.Trim(strings.TrimPrefix(p, "/api/contents"), "/"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
	}
}

func (s *Server) serveContents(w http.ResponseWriter, r *http.Request, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string][]byte{}
	}
	fs := s.files
	switch r.Method {
	case http.MethodPut:
		var body struct {
			Type    string `json:"type"`
			Content string `json:"content"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Type == "directory" {
			fs[p+"/"] = nil
			writeJSON(w, http.StatusCreated, map[string]any{"name": p, "path": p, "type": "directory"})
			return
		}
		b, _ := base64.StdEncoding.DecodeString(body.Content)
		fs[p] = b
		writeJSON(w, http.StatusCreated, map[string]any{"name": p, "path": p, "type": "file"})
	case http.MethodGet:
		if p == "" {
			writeJSON(w, http.StatusOK, map[string]any{"name": "", "path": "", "type": "directory", "content": []any{}})
			return
		}
		if _, ok := fs[p+"/"]; ok {
			writeJSON(w, http.StatusOK, map[string]any{"name": p, "path": p, "type": "directory", "content": []any{}})
			return
		}
		b, ok := fs[p]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "No such file or directory: " + p})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": p, "path": p, "type": "file", "format": "base64", "content": base64.StdEncoding.EncodeToString(b)})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "not allowed"})
	}
}

func (k *Kernel) model() map[string]any {
	return map[string]any{"id": k.ID, "name": k.Name, "execution_state": "idle", "connections": len(k.Sessions())}
}

// Interrupts is how often the kernel was interrupted through the API.
func (k *Kernel) Interrupts() int { k.mu.Lock(); defer k.mu.Unlock(); return k.interrupts }

// Restarts is how often the kernel was restarted through the API.
func (k *Kernel) Restarts() int { k.mu.Lock(); defer k.mu.Unlock(); return k.restarts }

// NextCount increments and returns the kernel's execution counter.
func (k *Kernel) NextCount() int { k.mu.Lock(); defer k.mu.Unlock(); k.count++; return k.count }

// Sessions lists the kernel's sessions.
func (k *Kernel) Sessions() []*Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	var ss []*Session
	for _, s := range k.sessions {
		ss = append(ss, s)
	}
	return ss
}

// RejectWebsockets makes websocket upgrades fail with the HTTP status code
// (e.g. 503, as a proxy whose backend is away); 0 accepts them again.
func (s *Server) RejectWebsockets(code int) {
	s.mu.Lock()
	s.rejectWS = code
	s.mu.Unlock()
}

func (s *Server) serveChannels(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	reject := s.rejectWS
	s.mu.Unlock()
	if reject != 0 {
		writeJSON(w, reject, map[string]any{"message": "unavailable"})
		return
	}
	k := s.Kernel(id)
	if k == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Kernel does not exist: " + id})
		return
	}
	if c := s.cfg.Cookie; c != nil {
		got, err := r.Cookie(c.Name)
		if err != nil || got.Value != c.Value {
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "no affinity cookie: wrong replica"})
			return
		}
	}
	sid := r.URL.Query().Get("session_id")
	if sid == "" {
		sid = newID()
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	k.mu.Lock()
	ss := k.sessions[sid]
	if ss == nil {
		ss = &Session{ID: sid, Kernel: k, connected: make(chan struct{})}
		k.sessions[sid] = ss
	}
	k.mu.Unlock()
	ss.attach(ws)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			ss.detach(ws)
			return
		}
		var m Message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		go s.cfg.Handler(ss, &m)
	}
}

// attach connects the session's websocket and replays what was buffered.
func (ss *Session) attach(ws *websocket.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ws != nil {
		_ = ss.ws.Close()
	}
	ss.ws = ws
	ss.connects++
	for _, m := range ss.buffer {
		_ = ws.WriteJSON(m)
	}
	ss.buffer = nil
	select {
	case <-ss.connected:
	default:
		close(ss.connected)
	}
}

func (ss *Session) detach(ws *websocket.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ws == ws {
		ss.ws = nil
		ss.connected = make(chan struct{})
	}
}

// Connects is how many times a client connected to this session.
func (ss *Session) Connects() int { ss.mu.Lock(); defer ss.mu.Unlock(); return ss.connects }

// WaitConnected waits until a client is connected, at most d.
func (ss *Session) WaitConnected(d time.Duration) bool {
	ss.mu.Lock()
	ch := ss.connected
	ss.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// Drop closes the websocket abruptly; messages sent until the client
// reconnects are buffered and replayed then.
func (ss *Session) Drop() {
	ss.mu.Lock()
	ws := ss.ws
	ss.ws = nil
	ss.connected = make(chan struct{})
	ss.mu.Unlock()
	if ws != nil {
		_ = ws.UnderlyingConn().Close()
	}
}

// Send sends a message, or buffers it while no client is connected.
func (ss *Session) Send(m *Message) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ws == nil {
		ss.buffer = append(ss.buffer, m)
		return
	}
	if err := ss.ws.WriteJSON(m); err != nil {
		ss.buffer = append(ss.buffer, m)
	}
}

// Buffer adds a message to the replay buffer only, as if it had been sent
// on a connection that is gone (to test that replayed duplicates are
// dropped).
func (ss *Session) Buffer(m *Message) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.buffer = append(ss.buffer, m)
}

// Msg builds a message in reply to parent (nil: no parent).
func (ss *Session) Msg(parent *Message, channel, msgType string, content map[string]any) *Message {
	m := &Message{
		Header: Header{
			MsgID: newID(), MsgType: msgType, Session: "kernel-" + ss.Kernel.ID,
			Username: "kernel", Date: time.Now().UTC().Format(time.RFC3339Nano), Version: "5.3",
		},
		Metadata: map[string]any{},
		Content:  content,
		Channel:  channel,
		Buffers:  []any{},
	}
	if parent != nil {
		m.ParentHeader = parent.Header
	}
	return m
}

// Reply sends a message in reply to parent and returns it.
func (ss *Session) Reply(parent *Message, channel, msgType string, content map[string]any) *Message {
	m := ss.Msg(parent, channel, msgType, content)
	ss.Send(m)
	return m
}

// Status sends an iopub status in reply to parent.
func (ss *Session) Status(parent *Message, state string) *Message {
	return ss.Reply(parent, "iopub", "status", map[string]any{"execution_state": state})
}

// Stream sends stdout or stderr text in reply to parent.
func (ss *Session) Stream(parent *Message, name, text string) *Message {
	return ss.Reply(parent, "iopub", "stream", map[string]any{"name": name, "text": text})
}

// ExecuteInput sends execute_input with the next execution count.
func (ss *Session) ExecuteInput(parent *Message, count int) *Message {
	return ss.Reply(parent, "iopub", "execute_input", map[string]any{"code": parent.Code(), "execution_count": count})
}

// ExecuteReply sends the shell reply with status "ok" or "error".
func (ss *Session) ExecuteReply(parent *Message, status string, count int) *Message {
	c := map[string]any{"status": status, "execution_count": count, "user_expressions": map[string]any{}, "payload": []any{}}
	if status == "error" {
		c["ename"], c["evalue"], c["traceback"] = "Error", "failed", []any{}
	}
	return ss.Reply(parent, "shell", "execute_reply", c)
}

// KernelStatus sends a status without parent, as the server does when it
// restarts a dead kernel ("restarting") or gives up on it ("dead").
func (ss *Session) KernelStatus(state string) {
	ss.Send(ss.Msg(nil, "iopub", "status", map[string]any{"execution_state": state}))
}

// DefaultHandler answers kernel_info_request, and runs execute_request by
// printing "ran: CODE" on stdout.
func DefaultHandler(ss *Session, m *Message) {
	switch m.Header.MsgType {
	case "kernel_info_request":
		ss.Status(m, "busy")
		ss.Reply(m, "shell", "kernel_info_reply", map[string]any{
			"status": "ok", "protocol_version": "5.3", "implementation": "fake",
			"language_info": map[string]any{"name": "python"},
		})
		ss.Status(m, "idle")
	case "execute_request":
		n := ss.Kernel.NextCount()
		ss.Status(m, "busy")
		ss.ExecuteInput(m, n)
		ss.Stream(m, "stdout", "ran: "+m.Code()+"\n")
		ss.ExecuteReply(m, "ok", n)
		ss.Status(m, "idle")
	default:
		ss.Status(m, "busy")
		ss.Reply(m, m.Channel, strings.TrimSuffix(m.Header.MsgType, "_request")+"_reply", map[string]any{"status": "ok"})
		ss.Status(m, "idle")
	}
}

// String describes the server for test failure messages.
func (s *Server) String() string { return fmt.Sprintf("fakejupyter at %s", s.URL) }
