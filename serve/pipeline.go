package serve

import (
	"context"
	"time"
)

// Pipeline runs one task. The server calls Run on a goroutine of its own for
// every run it starts, at most Config.MaxConcurrent at a time.
type Pipeline interface {
	// Run solves job.Task. It writes the run's outputs (notebook.ipynb,
	// report.md, transcript.jsonl, files/) under job.Dir, reports what
	// happens through emit as it happens, and returns when the run is over.
	// Cancelling ctx must stop the run, interrupt and shut down its kernel
	// and still write the outputs.
	Run(ctx context.Context, job Job, emit func(Event)) Outcome
}

// PipelineFunc adapts a function to Pipeline.
type PipelineFunc func(ctx context.Context, job Job, emit func(Event)) Outcome

// Run calls f.
func (f PipelineFunc) Run(ctx context.Context, job Job, emit func(Event)) Outcome {
	return f(ctx, job, emit)
}

// Job is one run as the pipeline sees it.
type Job struct {
	// ID names the run (and its directory).
	ID string
	// Dir is the run's output directory, data-dir/<id>; it exists.
	Dir string
	// Task is the task text.
	Task string
	// Inputs maps each uploaded file's name (a plain base name) to its path
	// on disk, under Dir/inputs.
	Inputs map[string]string
}

// Event is one thing that happened during a run.
type Event struct {
	// Data is sent to clients as JSON (the same JSON `agentteam solve
	// --json` prints).
	Data any
	// Executions counts the code executions this event reports, for
	// /metrics.
	Executions int
	// Usage is the model usage this event reports, for /metrics.
	Usage Usage
}

// Usage is model token usage.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// StopCause says why a run ended.
type StopCause string

// Stop causes. The run's status follows from its cause: finished is
// finished; max turns, timeout and loop are stopped; cancelled is cancelled;
// the rest are failed.
const (
	CauseFinished    StopCause = "finished"
	CauseMaxTurns    StopCause = "max_turns"
	CauseTimeout     StopCause = "timeout"
	CauseLoop        StopCause = "loop"
	CauseModelError  StopCause = "model_error"
	CauseKernelError StopCause = "kernel_error"
	CauseCancelled   StopCause = "cancelled"
	CauseError       StopCause = "error"
	// CauseServerStopped: the server stopped while the run was queued or
	// in progress (found so when it started again).
	CauseServerStopped StopCause = "server_stopped"
)

// Outcome is how a run ended.
type Outcome struct {
	Cause StopCause
	// Reason is the stop reason in words.
	Reason      string
	FinalAnswer string
	Usage       Usage
	Turns       int
	// Err is set when the run failed; its text is shown to clients, so it
	// must carry no secret.
	Err error
}

// Status is a run's state.
type Status string

// Run states.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusFinished  Status = "finished"
	StatusStopped   Status = "stopped"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Done reports whether the state is final.
func (s Status) Done() bool {
	return s != StatusQueued && s != StatusRunning
}

// statusOf maps a stop cause to the run's final status.
func statusOf(c StopCause) Status {
	switch c {
	case CauseFinished:
		return StatusFinished
	case CauseMaxTurns, CauseTimeout, CauseLoop:
		return StatusStopped
	case CauseCancelled:
		return StatusCancelled
	}
	return StatusFailed
}

// Run is a run as the API shows it.
type Run struct {
	ID          string     `json:"id"`
	Status      Status     `json:"status"`
	Task        string     `json:"task"`
	Inputs      []string   `json:"inputs,omitempty"`
	StopCause   StopCause  `json:"stop_cause,omitempty"`
	StopReason  string     `json:"stop_reason,omitempty"`
	FinalAnswer string     `json:"final_answer,omitempty"`
	Error       string     `json:"error,omitempty"`
	Usage       Usage      `json:"usage"`
	Turns       int        `json:"turns"`
	Executions  int        `json:"executions"`
	Events      int        `json:"events"`
	Created     time.Time  `json:"created"`
	Started     *time.Time `json:"started,omitempty"`
	Ended       *time.Time `json:"ended,omitempty"`
	// Outputs lists the files of the run that can be downloaded (only in
	// GET /v1/runs/{id}).
	Outputs []string `json:"outputs,omitempty"`
}
