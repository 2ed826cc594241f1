// Package executor runs code in stateful kernels.
//
// The Executor interface is what agents use. The Jupyter implementation
// (package executor/jupyter) talks to a remote Jupyter Server or Kernel
// Gateway over REST and the kernel websocket; package executor/local starts
// an embedded jupyter-server when no remote one is configured.
package executor

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Executor runs code blocks one after another in one stateful kernel:
// variables defined by one call are visible to the next.
//
// Run yields each output as it arrives (stream chunks one by one, before
// merging), then one last event that carries the Result, paired with the
// error, if any; nothing follows it. The Result is non-nil whenever the code
// was sent to the kernel, also together with an error (partial outputs are
// never lost). Code that raises is not a Go error: the result's Status is
// StatusError. Go errors are reserved for what the caller may want to branch
// on: ErrTimeout, ErrKernelDied, ErrUnsupportedLanguage, ErrOutputLost,
// ErrNotDelivered, context cancellation, and transport failures. Breaking out of the loop stops the
// execution as cancelling ctx does (the kernel is interrupted). The loop body
// must not call the same Executor.
//
// Execute and Collect drain the sequence for callers that only want the
// result.
type Executor interface {
	Run(ctx context.Context, req Request) iter.Seq2[Event, error]
	// Restart discards all kernel state and starts afresh.
	Restart(ctx context.Context) error
	// Close shuts the kernel down (and anything started for it). It is safe
	// to call more than once.
	Close(ctx context.Context) error
}

// Event is one item of an execution's stream: an Output as it arrived or,
// last, the Result.
type Event struct {
	Output *Output
	Result *Result
}

// Execute runs req on ex and returns the final result and error.
func Execute(ctx context.Context, ex Executor, req Request) (*Result, error) {
	return Collect(ex.Run(ctx, req), nil)
}

// Collect drains a Run sequence, calling onOutput (when non-nil) with each
// output as it arrives, and returns the final result and error.
func Collect(seq iter.Seq2[Event, error], onOutput func(Output)) (*Result, error) {
	for ev, err := range seq {
		if ev.Output != nil && onOutput != nil {
			onOutput(*ev.Output)
		}
		if ev.Result != nil || err != nil {
			return ev.Result, err
		}
	}
	return nil, errors.New("executor: execution stream ended without a result")
}

// Language names accepted in Request.Language.
const (
	Python = "python"
	Shell  = "shell"
)

// Request is one execution.
type Request struct {
	// Code is the source to run.
	Code string
	// Language is "python" (the default when empty) or "shell"; the aliases
	// py, python3, sh, bash and shell are accepted. Anything else gives
	// ErrUnsupportedLanguage and a result with StatusError.
	Language string
	// Timeout bounds this execution; zero means the executor's default. When
	// it expires the kernel is interrupted, and restarted if it does not
	// become idle within the grace period.
	Timeout time.Duration
}

// NormalizeLanguage maps a code-fence tag to Python or Shell. ok is false for
// languages no executor here runs.
func NormalizeLanguage(tag string) (lang string, ok bool) {
	switch tag {
	case "", "python", "py", "python3", "ipython", "Python", "PYTHON":
		return Python, true
	case "sh", "bash", "shell", "Shell", "BASH", "console":
		return Shell, true
	}
	return tag, false
}

// Status is how an execution ended.
type Status string

const (
	StatusOK          Status = "ok"          // ran to completion
	StatusError       Status = "error"       // the code raised; see Result.Error
	StatusTimeout     Status = "timeout"     // deadline hit; see Interrupted/Restarted
	StatusCancelled   Status = "cancelled"   // ctx cancelled; see Interrupted/Restarted
	StatusKernelDied  Status = "kernel_died" // the kernel died; state is lost
	StatusUnsupported Status = "unsupported" // language not supported; nothing ran
	StatusNotRun      Status = "not_run"     // the kernel never got the code (ErrNotDelivered); nothing ran
)

// OutputType is the kind of one output, named as in nbformat.
type OutputType string

const (
	OutputStream        OutputType = "stream"
	OutputExecuteResult OutputType = "execute_result"
	OutputDisplayData   OutputType = "display_data"
	OutputError         OutputType = "error"
)

// Output is one item of kernel output, in the order the kernel sent it.
type Output struct {
	Type OutputType `json:"output_type"`

	// Stream: Name is "stdout" or "stderr", Text the text.
	Name string `json:"name,omitempty"`
	Text string `json:"text,omitempty"`

	// execute_result and display_data: the mime bundle and its metadata.
	// Values are as the kernel sent them (strings, or JSON for
	// application/json). Binary types (image/png, image/jpeg) are base64.
	Data     map[string]any `json:"data,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
	// DisplayID is set for display_data sent with a display_id; a later
	// update_display_data replaces the output with the same id in place.
	DisplayID string `json:"display_id,omitempty"`
	// ExecutionCount is set for execute_result.
	ExecutionCount int `json:"execution_count,omitempty"`

	// error: exception name, value and traceback (ANSI codes stripped).
	EName     string   `json:"ename,omitempty"`
	EValue    string   `json:"evalue,omitempty"`
	Traceback []string `json:"traceback,omitempty"`

	// Files lists files saved from this output's mime bundle (images, html)
	// in the executor's output directory.
	Files []string `json:"files,omitempty"`
	// Omitted notes the mime values of this output that were dropped over
	// their cap (e.g. `"image/png" output of 62914560 bytes dropped (over the
	// 10485760-byte cap)`).
	Omitted []string `json:"omitted,omitempty"`
}

// Result is the outcome of one execution.
type Result struct {
	Status Status `json:"status"`
	// Outputs in arrival order; clear_output and update_display_data are
	// already applied.
	Outputs []Output `json:"outputs"`
	// ExecutionCount is the kernel's execution counter for this cell (0 when
	// the kernel did not report one).
	ExecutionCount int `json:"execution_count"`
	// Error is the error output when Status is StatusError.
	Error *Output `json:"error,omitempty"`
	// Duration is wall time from send to completion.
	Duration time.Duration `json:"duration"`
	// Interrupted is true when the kernel was interrupted (timeout or
	// cancellation); Restarted when it also had to be restarted (or was
	// replaced after it died). StateLost is true whenever variables defined
	// before this execution are gone.
	Interrupted bool `json:"interrupted,omitempty"`
	Restarted   bool `json:"restarted,omitempty"`
	StateLost   bool `json:"state_lost,omitempty"`
	// Restored is true when the kernel lost its state during this
	// execution and a restoring executor (package executor/restore) ran the
	// earlier cells again: StateLost is then false and Message says so.
	Restored bool `json:"restored,omitempty"`
	// Truncated is true when text was cut to the output cap or the server
	// dropped output over its IOPub rate limits.
	Truncated bool `json:"truncated,omitempty"`
	// Files lists every file saved from this execution's outputs.
	Files []string `json:"files,omitempty"`
	// Message is a short plain-language note about how the execution ended
	// when it was not StatusOK or StatusError (e.g. "timed out after 30s;
	// kernel interrupted, state kept").
	Message string `json:"message,omitempty"`
}

// OK reports whether the code ran to completion without raising.
func (r *Result) OK() bool { return r != nil && r.Status == StatusOK }

// Errors callers branch on. They are wrapped with detail; use errors.Is.
var (
	// ErrTimeout: the execution hit its deadline. The result says whether
	// the kernel was interrupted or restarted.
	ErrTimeout = errors.New("execution timed out")
	// ErrKernelDied: the kernel process died or was restarted from outside;
	// all its state (variables, imports) is lost. The next execution starts
	// on a fresh kernel.
	ErrKernelDied = errors.New("kernel died: state lost")
	// ErrUnsupportedLanguage: the request's language cannot run here.
	ErrUnsupportedLanguage = errors.New("unsupported language")
	// ErrClosed: the executor was closed.
	ErrClosed = errors.New("executor closed")
	// ErrOutputLost: the code ran once, and the result's Status says how
	// it ended, but some or all of its output was lost on the way from the
	// kernel (a Jupyter Server can drop a kernel's output right after a
	// restart). The result is Truncated and its Message says so. It is not
	// run again.
	ErrOutputLost = errors.New("the code ran, but its output was lost on the way from the kernel (it is not run again)")
	// ErrNotDelivered: the code did not run: the kernel never got it (a
	// Jupyter Server can lose a request sent during a restart of the
	// kernel), and answered a request sent after it. It is safe to send it
	// again; the result has StatusNotRun.
	ErrNotDelivered = errors.New("the code did not run: the kernel never got it (lost on the way, e.g. during a restart of the kernel)")
)
