// Package restore wraps an executor.Executor so that a kernel death does
// not cost the work done before it: the cells that ran successfully since
// the last restart are recorded, and when the kernel dies (or is restarted
// after a timeout, or from outside), they are run again, in order, on the
// fresh kernel, within a time bound. The cell that was running when the
// kernel died is not run again: it is the likely cause.
//
// The result of the execution that saw the death says what happened in
// Message, in a form meant for the model:
//
//	kernel died: <why>; restored state by re-running cells 1–4 in 1.2 s; the crashing cell was not re-run
//	kernel died: <why>; state lost: re-running cell 3 failed (NameError: ...)
//
// Re-running cells repeats their side effects (files written, appended
// to); cells that only compute, load and define, which is most data
// analysis, are safe to repeat.
package restore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/executor"
)

// Defaults of Config.
const (
	// DefaultMaxReplay caps a replay's time bound.
	DefaultMaxReplay = 5 * time.Minute
	// maxRecorded bounds the source kept for replay; past it, a death
	// loses the state as without this package.
	maxRecorded = 4 << 20
)

// Config configures an Executor. Zero values mean the defaults.
type Config struct {
	// MaxReplay bounds one replay: it may take 10 s plus twice the time
	// the cells took the first time, but never more than MaxReplay (5m).
	MaxReplay time.Duration
	Logger    *slog.Logger
}

type cell struct {
	code, lang string
	took       time.Duration
}

// Executor is an executor.Executor that restores kernel state after a
// death by replaying the cells that succeeded since the last restart. Like
// the executor it wraps, it runs one execution at a time.
type Executor struct {
	inner executor.Executor
	cfg   Config
	log   *slog.Logger

	mu       sync.Mutex
	cells    []cell
	bytes    int
	overflow bool // more source than maxRecorded: cannot restore
	// stale: state loss was just reported and nothing ran since; the
	// inner executor may report it again on the next execution.
	stale bool
}

var _ executor.Executor = (*Executor)(nil)

// New wraps inner.
func New(inner executor.Executor, cfg Config) *Executor {
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = DefaultMaxReplay
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{inner: inner, cfg: cfg, log: log}
}

// Inner returns the wrapped executor.
func (e *Executor) Inner() executor.Executor { return e.inner }

// Recorded returns how many cells would be replayed after a death now.
func (e *Executor) Recorded() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.cells)
}

// Run implements executor.Executor.
func (e *Executor) Run(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
	return func(yield func(executor.Event, error) bool) {
		var res *executor.Result
		var err error
		for ev, eerr := range e.inner.Run(ctx, req) {
			if ev.Result == nil && eerr == nil {
				if !yield(ev, nil) {
					return
				}
				continue
			}
			res, err = ev.Result, eerr
		}
		e.after(ctx, req, res, err)
		yield(executor.Event{Result: res}, err)
	}
}

// after records a successful cell, or restores after a death.
func (e *Executor) after(ctx context.Context, req executor.Request, res *executor.Result, err error) {
	if res == nil {
		return
	}
	died := res.Status == executor.StatusKernelDied || errors.Is(err, executor.ErrKernelDied)
	lost := died || res.StateLost
	e.mu.Lock()
	stale := e.stale
	e.stale = false
	e.mu.Unlock()
	if lost && !died && stale {
		// The aftermath of a death already reported as state lost (the
		// inner executor reports it once more, or restarted the kernel
		// when a replay was stopped).
		res.StateLost = false
		res.Message = ""
		lost = false
	}
	if !lost {
		if ranWell(res, err) {
			e.record(req, res.Duration)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	var what, notRerun string
	switch {
	case died:
		what = "kernel died"
		if why := deathReason(res.Message); why != "" {
			what += ": " + why
		}
		notRerun = "the crashing cell was not re-run"
	case res.Status == executor.StatusTimeout || res.Status == executor.StatusCancelled:
		what = "kernel restarted after the cell was stopped"
		notRerun = "the stopped cell was not re-run"
	default:
		what = "the kernel had been restarted before this cell ran"
		notRerun = "this cell ran before the restore, on the empty kernel: run it again if it needed earlier variables"
	}
	msg, ok := e.replay(ctx)
	res.Message = what + "; " + msg
	if ok {
		res.StateLost = false
		res.Restored = true
		res.Message += "; " + notRerun
	}
	if !died && res.Status == executor.StatusOK {
		// A cell that ran on the fresh kernel is part of its state now.
		e.record(req, res.Duration)
	}
}

// ranWell reports a cell that ran to completion without raising (its
// output may have been lost on the way: it still ran, once).
func ranWell(res *executor.Result, err error) bool {
	return res != nil && res.Status == executor.StatusOK && (err == nil || errors.Is(err, executor.ErrOutputLost))
}

func (e *Executor) record(req executor.Request, took time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.overflow {
		return
	}
	e.bytes += len(req.Code)
	if e.bytes > maxRecorded {
		e.overflow = true
		e.cells = nil
		return
	}
	e.cells = append(e.cells, cell{code: req.Code, lang: req.Language, took: took})
}

// replay runs the recorded cells on the fresh kernel. It returns the
// message part and whether the state was restored.
func (e *Executor) replay(ctx context.Context) (string, bool) {
	e.mu.Lock()
	cells := append([]cell(nil), e.cells...)
	overflow := e.overflow
	e.cells, e.bytes, e.overflow = nil, 0, false
	e.stale = true // until a replayed cell ran well
	e.mu.Unlock()
	if overflow {
		return "state lost: too much code ran since the last restart to replay it", false
	}
	if len(cells) == 0 {
		return "no earlier cells to restore (state lost, but nothing had been defined)", false
	}
	bound := 10 * time.Second
	for _, c := range cells {
		bound += 2 * c.took
	}
	bound = min(bound, e.cfg.MaxReplay)
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start := time.Now()
	for i, c := range cells {
		res, err := executor.Collect(e.inner.Run(rctx, executor.Request{Code: c.code, Language: c.lang, Timeout: bound - time.Since(start)}), nil)
		if ranWell(res, err) {
			continue
		}
		e.log.Info("replay after a kernel restart failed", "cell", i+1, "of", len(cells), "err", err)
		switch {
		case rctx.Err() != nil && ctx.Err() == nil:
			return fmt.Sprintf("state lost: re-running cells 1–%d took longer than %s (stopped at cell %d)", len(cells), round(bound), i+1), false
		case res != nil && res.Status == executor.StatusError && res.Error != nil:
			return fmt.Sprintf("state lost: re-running cell %d of %d failed (%s: %s)", i+1, len(cells), res.Error.EName, oneLine(res.Error.EValue)), false
		case res != nil:
			return fmt.Sprintf("state lost: re-running cell %d of %d did not complete (%s)", i+1, len(cells), res.Status), false
		default:
			return fmt.Sprintf("state lost: re-running cell %d of %d failed (%s)", i+1, len(cells), oneLine(fmt.Sprint(err))), false
		}
	}
	e.mu.Lock()
	e.stale = false
	e.cells = cells
	for _, c := range cells {
		e.bytes += len(c.code)
	}
	e.mu.Unlock()
	took := time.Since(start)
	which := "cell 1"
	if len(cells) > 1 {
		which = fmt.Sprintf("cells 1–%d", len(cells))
	}
	e.log.Info("kernel state restored", "cells", len(cells), "took", took)
	return fmt.Sprintf("restored state by re-running %s in %.1f s", which, took.Seconds()), true
}

var memoryLimit = regexp.MustCompile(`memory limit( \([^)]*\))?`)

// deathReason shortens the executor's account of a death to its cause.
func deathReason(msg string) string {
	if m := memoryLimit.FindString(msg); m != "" {
		return m
	}
	if strings.Contains(msg, "exited or was killed") {
		return "its process exited or was killed"
	}
	msg, _, _ = strings.Cut(msg, ";")
	msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), "the kernel died"))
	return oneLine(strings.Trim(msg, " .:,"))
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Restart implements executor.Executor: a deliberate restart forgets the
// recorded cells.
func (e *Executor) Restart(ctx context.Context) error {
	e.mu.Lock()
	e.cells, e.bytes, e.overflow, e.stale = nil, 0, false, false
	e.mu.Unlock()
	return e.inner.Restart(ctx)
}

// Close implements executor.Executor.
func (e *Executor) Close(ctx context.Context) error { return e.inner.Close(ctx) }

// ID is the inner executor's kernel id, when it has one ("" otherwise).
func (e *Executor) ID() string {
	if k, ok := e.inner.(interface{ ID() string }); ok {
		return k.ID()
	}
	return ""
}
