// Package serve is agentteam's HTTP service: it accepts tasks, runs them
// with a Pipeline (at most MaxConcurrent at a time, the rest queued), keeps
// every run's outputs under a data directory, streams what happens as
// Server-Sent Events and serves a web page to start and watch runs.
//
// API (JSON unless noted; every route but /healthz, the page's assets and
// /v1/session needs the bearer token when one is configured):
//
//	POST   /v1/runs                    multipart (task, file...) or JSON {"task"}: 201 {"id","status"}
//	GET    /v1/runs                    every run, newest first
//	GET    /v1/runs/{id}               one run: status, stop cause, final answer, usage, times, outputs
//	GET    /v1/runs/{id}/events        text/event-stream, replayed from the start, honours Last-Event-ID
//	GET    /v1/runs/{id}/files/{path}  notebook.ipynb, report.md, transcript.jsonl, files/…, inputs/…
//	DELETE /v1/runs/{id}               cancel (the outputs are kept)
//	GET    /healthz, GET /metrics (Prometheus)
package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config configures a Server. DataDir and Pipeline are required.
type Config struct {
	// DataDir holds one directory per run, data-dir/<id>/.
	DataDir string
	// Pipeline runs the tasks.
	Pipeline Pipeline
	// Token, when set, is required as "Authorization: Bearer TOKEN" (or the
	// web page's session cookie, obtained with the token). Empty means no
	// authentication: then only loopback Host names are answered (see
	// CheckListen for the listening side).
	Token string
	// MaxConcurrent bounds the runs in progress (default 2).
	MaxConcurrent int
	// MaxQueue bounds the runs waiting for a slot; beyond it POST /v1/runs
	// answers 503 (default 100).
	MaxQueue int
	// MaxUploadBytes bounds a POST /v1/runs body (default 256 MiB).
	MaxUploadBytes int64
	// StopGrace bounds how long a cancelled run may take to write its
	// outputs and shut its kernel down before Shutdown gives up on it
	// (default 60s).
	StopGrace time.Duration
	// SessionTTL is how long a sign-in on the web page lasts (default
	// DefaultSessionTTL). Signing out ends it sooner.
	SessionTTL time.Duration
	Logger     *slog.Logger
}

// ErrTokenRequired: listening beyond loopback without a token.
var ErrTokenRequired = errors.New("a token is required to listen on an address other than loopback")

// CheckListen refuses an address that is not loopback when there is no
// token. An empty host (":8080") listens on every interface.
func CheckListen(addr string, haveToken bool) error {
	if haveToken {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("%w (address %s)", ErrTokenRequired, addr)
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is the HTTP service.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	slots    chan struct{}
	metrics  *metrics
	sessions *sessions // the web page's sign-ins (nil without a token)

	mu       sync.Mutex
	runs     map[string]*runState
	draining bool
	wg       sync.WaitGroup
}

// New opens (creating it if needed) the data directory, lists the runs
// found there (marking those that were queued or running as stopped by the
// server), and returns a Server ready to serve.
func New(cfg Config) (*Server, error) {
	if cfg.Pipeline == nil {
		return nil, errors.New("serve: a Pipeline is required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("serve: a data directory is required")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 2
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 100
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = 256 << 20
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		slots: make(chan struct{}, cfg.MaxConcurrent),
		runs:  map[string]*runState{},
	}
	if cfg.Token != "" {
		s.sessions = newSessions(cfg.Token, cfg.SessionTTL)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	s.handler = s.routes()
	return s, nil
}

// Handler is the service's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// runState is one run: its record, its events and who waits on them.
type runState struct {
	dir string

	mu       sync.Mutex
	rec      Run
	events   [][]byte      // while the run goes on; then nil
	fromDisk bool          // the run is over and events.jsonl is complete
	changed  chan struct{} // closed and replaced on every change
	cancel   context.CancelCauseFunc
	file     *os.File // events.jsonl while the run goes on
}

// notify wakes everyone waiting on the run; call with mu held.
func (rs *runState) notify() {
	close(rs.changed)
	rs.changed = make(chan struct{})
}

func (rs *runState) snapshot() Run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.rec
}

// save writes run.json atomically; call with mu held.
func (rs *runState) save() error {
	b, err := json.MarshalIndent(rs.rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(rs.dir, ".run.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(rs.dir, "run.json"))
}

var idRE = regexp.MustCompile(`^[0-9]{8}t[0-9]{6}-[0-9a-f]{8}$`)

func newID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// load lists the runs in the data directory.
func (s *Server) load() error {
	entries, err := os.ReadDir(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !idRE.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(s.cfg.DataDir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "run.json"))
		if err != nil {
			continue
		}
		var rec Run
		if err := json.Unmarshal(b, &rec); err != nil || rec.ID != e.Name() {
			s.log.Warn("skipping a run directory with an unreadable run.json", "dir", dir)
			continue
		}
		rs := &runState{dir: dir, rec: rec, fromDisk: true, changed: make(chan struct{})}
		if !rec.Status.Done() {
			was := rec.Status
			now := time.Now().UTC()
			rs.rec.Status = StatusFailed
			rs.rec.StopCause = CauseServerStopped
			rs.rec.StopReason = "the server stopped while the run was " + string(was)
			rs.rec.Error = rs.rec.StopReason
			rs.rec.Ended = &now
			if err := rs.save(); err != nil {
				s.log.Warn("could not update run.json", "dir", dir, "err", err)
			}
		}
		s.runs[rec.ID] = rs
	}
	return nil
}

// list returns every run, newest first.
func (s *Server) list() []Run {
	s.mu.Lock()
	all := make([]*runState, 0, len(s.runs))
	for _, rs := range s.runs {
		all = append(all, rs)
	}
	s.mu.Unlock()
	out := make([]Run, 0, len(all))
	for _, rs := range all {
		out = append(out, rs.snapshot())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

func (s *Server) get(id string) *runState {
	if !idRE.MatchString(id) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

var errQueueFull = errors.New("too many runs are waiting: try again later")
var errDraining = errors.New("the server is shutting down and accepts no new runs")

// errCancelled and errShutdown are the causes of a cancelled run's context.
var (
	errCancelled = errors.New("cancelled by a DELETE request")
	errShutdown  = errors.New("cancelled: the server shut down")
)

// start queues a run whose directory and inputs are ready.
func (s *Server) start(rs *runState, inputs map[string]string) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errDraining
	}
	queued := 0
	for _, o := range s.runs {
		o.mu.Lock()
		if o.rec.Status == StatusQueued {
			queued++
		}
		o.mu.Unlock()
	}
	if queued >= s.cfg.MaxQueue {
		s.mu.Unlock()
		return errQueueFull
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	rs.cancel = cancel
	f, err := os.OpenFile(filepath.Join(rs.dir, "events.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		cancel(nil)
		return err
	}
	rs.file = f
	rs.events = [][]byte{}
	if err := rs.save(); err != nil {
		s.mu.Unlock()
		f.Close()
		cancel(nil)
		return err
	}
	s.runs[rs.rec.ID] = rs
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.created.Inc()
	go s.execute(ctx, rs, inputs)
	return nil
}

// execute waits for a slot and runs the pipeline.
func (s *Server) execute(ctx context.Context, rs *runState, inputs map[string]string) {
	defer s.wg.Done()
	defer rs.cancel(nil)
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		s.finish(rs, Outcome{Cause: CauseCancelled, Reason: context.Cause(ctx).Error()})
		return
	}
	defer func() { <-s.slots }()
	if ctx.Err() != nil {
		s.finish(rs, Outcome{Cause: CauseCancelled, Reason: context.Cause(ctx).Error()})
		return
	}
	rs.mu.Lock()
	now := time.Now().UTC()
	rs.rec.Status = StatusRunning
	rs.rec.Started = &now
	_ = rs.save()
	rs.notify()
	rs.mu.Unlock()
	s.log.Info("run started", "id", rs.rec.ID)

	job := Job{ID: rs.rec.ID, Dir: rs.dir, Task: rs.rec.Task, Inputs: inputs}
	var out Outcome
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("the pipeline panicked", "id", job.ID, "panic", p)
				out = Outcome{Cause: CauseError, Err: fmt.Errorf("internal error: %v", p)}
			}
		}()
		out = s.cfg.Pipeline.Run(ctx, job, func(ev Event) { s.emit(rs, ev) })
	}()
	if ctx.Err() != nil && out.Cause != CauseFinished {
		out.Cause = CauseCancelled
		if out.Reason == "" {
			out.Reason = context.Cause(ctx).Error()
		}
	}
	s.finish(rs, out)
}

// emit records one event and wakes the streams.
func (s *Server) emit(rs *runState, ev Event) {
	b, err := json.Marshal(ev.Data)
	if err != nil {
		s.log.Warn("dropping an event that is not JSON", "err", err)
		return
	}
	s.metrics.observe(ev)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.events = append(rs.events, b)
	rs.rec.Events = len(rs.events)
	rs.rec.Executions += ev.Executions
	rs.rec.Usage.PromptTokens += ev.Usage.PromptTokens
	rs.rec.Usage.CompletionTokens += ev.Usage.CompletionTokens
	if rs.file != nil {
		_, _ = rs.file.Write(append(b, '\n'))
	}
	rs.notify()
}

// finish records how a run ended.
func (s *Server) finish(rs *runState, out Outcome) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	now := time.Now().UTC()
	rs.rec.Status = statusOf(out.Cause)
	rs.rec.StopCause = out.Cause
	rs.rec.StopReason = out.Reason
	rs.rec.FinalAnswer = out.FinalAnswer
	if out.Usage != (Usage{}) {
		rs.rec.Usage = out.Usage
	}
	if out.Turns > 0 {
		rs.rec.Turns = out.Turns
	}
	if out.Err != nil {
		rs.rec.Error = out.Err.Error()
	}
	rs.rec.Ended = &now
	if rs.file != nil {
		if err := rs.file.Close(); err == nil {
			// The stream is all on disk now: streams read it from there,
			// and a long-lived server does not hold every run's events.
			rs.events, rs.fromDisk = nil, true
		}
		rs.file = nil
	}
	if err := rs.save(); err != nil {
		s.log.Error("could not write run.json", "id", rs.rec.ID, "err", err)
	}
	rs.notify()
	s.log.Info("run ended", "id", rs.rec.ID, "status", rs.rec.Status, "cause", out.Cause)
}

// Cancel cancels a queued or running run; it reports false when there is
// no such run or it is already over.
func (s *Server) Cancel(id string) bool {
	rs := s.get(id)
	if rs == nil {
		return false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.rec.Status.Done() || rs.cancel == nil {
		return false
	}
	rs.cancel(errCancelled)
	return true
}

// Shutdown stops accepting runs, cancels the queued ones, gives the running
// ones until ctx is done to finish, then cancels them and waits (at most
// StopGrace) for them to write their outputs and shut their kernels down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	all := make([]*runState, 0, len(s.runs))
	for _, rs := range s.runs {
		all = append(all, rs)
	}
	s.mu.Unlock()
	cancelWhere := func(only Status) {
		for _, rs := range all {
			rs.mu.Lock()
			if rs.cancel != nil && (only == "" || rs.rec.Status == only) && !rs.rec.Status.Done() {
				rs.cancel(errShutdown)
			}
			rs.mu.Unlock()
		}
	}
	cancelWhere(StatusQueued)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	cancelWhere("")
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.StopGrace):
		return errors.New("some runs did not stop in time")
	}
}

// Draining reports whether Shutdown was called.
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}
