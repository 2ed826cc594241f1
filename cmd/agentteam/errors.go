package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	charmlog "github.com/charmbracelet/log"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/redact"
)

// exitError carries a process exit status with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// usageErrorf is bad input on the command line: exit status 2, one line, a
// hint. Main adds a pointer to the command's --help when the message does
// not already say where to look.
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
	msg := redactText(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.code, err: errors.New(msg)}
	}
	return errors.New(msg)
}

// redactText removes the given secrets, and those of the environment (see
// package redact), from s.
func redactText(s string, secrets ...string) string {
	return redact.FromEnv(os.Environ(), secrets...).String(s)
}

// sgrWriter drops every escape sequence but colours from what is written
// through it (log lines can quote kernel output or model text).
type sgrWriter struct{ w io.Writer }

func (s sgrWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, keepOnlySGR(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// newLogger returns the CLI's logger: charmbracelet/log on stderr, debug
// level with --verbose, every line through red.
func newLogger(w io.Writer, verbose bool, red *redact.Redactor) *slog.Logger {
	level := charmlog.InfoLevel
	if verbose {
		level = charmlog.DebugLevel
	}
	h := charmlog.NewWithOptions(sgrWriter{red.Writer(w)}, charmlog.Options{
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

// helpHint points to a command's help.
func helpHint(cmd *cobra.Command) string {
	return "see '" + cmd.CommandPath() + " --help'"
}

// withHelpHint adds the --help pointer to a usage error that has none.
func withHelpHint(cmd *cobra.Command, err error) error {
	var ee *exitError
	if cmd == nil || !errors.As(err, &ee) || ee.code != 2 {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "--help") || strings.Contains(msg, "(see ") {
		return err
	}
	return &exitError{code: 2, err: fmt.Errorf("%s (%s)", msg, helpHint(cmd))}
}

// flagError turns a flag parsing error into a usage error with a hint: the
// flag meant, or what a valid value looks like.
func flagError(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	var invalid *pflag.InvalidValueError
	var needs *pflag.ValueRequiredError
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if short := notExist.GetSpecifiedShortnames(); short != "" && short != name {
			return usageErrorf("unknown flag -%s in -%s", name, short)
		} else if short != "" {
			return usageErrorf("unknown flag -%s", name)
		}
		if s := suggestFlag(cmd, name); s != "" {
			return usageErrorf("unknown flag --%s: did you mean --%s?", name, s)
		}
		return usageErrorf("unknown flag --%s", name)
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usageErrorf("invalid value %q for --%s: want %s", invalid.GetValue(), f.Name, valueHint(f))
	case errors.As(err, &needs):
		f := needs.GetFlag()
		return usageErrorf("--%s needs a value: %s", f.Name, valueHint(f))
	}
	return usageErrorf("%s", err.Error())
}

// valueHint says what a valid value of a flag looks like.
func valueHint(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "duration":
		return "a duration like 90s, 10m or 1h30m"
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number like 30"
	case "float64", "float32":
		return "a number like 0.5"
	case "bool":
		return "true or false"
	}
	if f.Name == "model" {
		return "a model name like gpt-4o-mini, or replay:FILE"
	}
	return "a " + strings.TrimSuffix(f.Value.Type(), "Array")
}

// suggestFlag finds the flag a mistyped name most likely meant: the one a
// prefix of, or within two edits.
func suggestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", 3
	var prefixed []string
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if strings.HasPrefix(f.Name, name) {
			prefixed = append(prefixed, f.Name)
		}
		if d := editDistance(strings.ToLower(name), f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// taskArgs checks solve's arguments: exactly one task, quoted.
func taskArgs(_ *cobra.Command, args []string) error {
	switch len(args) {
	case 1:
		if strings.TrimSpace(args[0]) == "" {
			return usageErrorf(`the task is empty: say what to do, as in agentteam solve "Clean data.csv"`)
		}
		return nil
	case 0:
		return usageErrorf(`solve needs a task, as in agentteam solve "Clean data.csv"`)
	}
	return usageErrorf("the task must be one argument: quote it, as in agentteam solve %s", shellQuote(strings.Join(args, " ")))
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, "\"$`\\!") {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// usageArgs makes a command's argument errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "unknown command "):
			return usageErrorf("%s takes no arguments (got %s)", cmd.Name(), shellQuote(strings.Join(args, " ")))
		case strings.Contains(msg, "arg(s), received"):
			return usageErrorf("%s: too many arguments (got %d: %s); quote an argument that has spaces", cmd.Name(), len(args), shellQuote(strings.Join(args, " ")))
		}
		return usageErrorf("%s: %s", cmd.Name(), msg)
	}
}

// outDirError is an output directory that cannot be written: exit 2.
func outDirError(dir string, err error) error {
	why := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	switch {
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EEXIST):
		why = "a file is in the way (it must be a directory)"
	case errors.Is(err, fs.ErrPermission):
		why = "permission denied"
	case errors.Is(err, syscall.EROFS):
		why = "read-only file system"
	}
	return usageErrorf("cannot write the outputs to %s: %s; choose another --out", dir, why)
}

// checkOutDir makes sure the outputs can be written to dir before anything
// starts: it creates dir and a file in it. A failure is a usage error.
func checkOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return outDirError(dir, err)
	}
	f, err := os.CreateTemp(dir, ".agentteam-probe-*")
	if err != nil {
		return outDirError(dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
