package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"

	charmlog "github.com/charmbracelet/log"

	"github.com/agentteam/agentteam/llm"
)

// exitError carries a process exit status with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// usageErrorf is bad input on the command line: exit status 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "interrupted by " + sigName(e.sig) }

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// signalContext is cancelled, with a *signalError cause, on SIGINT or
// SIGTERM.
func signalContext(parent context.Context) (context.Context, func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			cancel(&signalError{sig: s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// interrupted turns a cancelled context into the error to exit with:
// 130 for SIGINT, 143 for SIGTERM.
func interrupted(ctx context.Context) error {
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		code := 130
		if se.sig == syscall.SIGTERM {
			code = 143
		}
		return &exitError{code: code, err: se}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return ctx.Err()
}

// redactErr removes secrets from an error's text.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := redact(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.code, err: errors.New(msg)}
	}
	return errors.New(msg)
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactWriter removes secrets from everything written through it.
type redactWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

func (r *redactWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := io.WriteString(r.w, redact(string(p), r.secrets...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// newLogger returns the CLI's logger: charmbracelet/log on stderr, debug
// level with --verbose, secrets removed from every line.
func newLogger(w io.Writer, verbose bool, secrets ...string) *slog.Logger {
	level := charmlog.InfoLevel
	if verbose {
		level = charmlog.DebugLevel
	}
	h := charmlog.NewWithOptions(&redactWriter{w: w, secrets: secrets}, charmlog.Options{
		Level:           level,
		ReportTimestamp: verbose,
		Prefix:          "agentteam",
	})
	return slog.New(h)
}

// errorLine is how an error is shown: one line, one cause. The chain of
// prefixes that wrapping adds on the way up ("team: planner: planner:
// model: …") is dropped, and the text is sanitized: an error can quote
// kernel output or model text.
func errorLine(err error) string {
	msg := err.Error()
	var api *llm.APIError
	if errors.As(err, &api) {
		msg = api.Error()
	}
	for {
		m := reErrPrefix.FindStringSubmatch(msg)
		if m == nil || len(m[0]) == len(msg) {
			break
		}
		msg = msg[len(m[0]):]
	}
	msg = strings.Join(strings.Fields(sanitizeText(msg)), " ")
	return msg
}

// reErrPrefix matches one prefix added by wrapping inside the libraries:
// a package or agent name followed by ": ".
var reErrPrefix = regexp.MustCompile(`^(team|agents|planner|coder|executor|code executor|assistant|model|llm|openai|session|jupyter|local|debugger model|execute): `)
