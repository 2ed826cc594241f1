package solve

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
)

// EventType says what an Event carries.
type EventType string

const (
	// EventStatus: what the run is waiting for ("starting a kernel on …").
	EventStatus EventType = "status"
	// EventNote: something a person should know that is not part of the
	// conversation.
	EventNote EventType = "note"
	// EventMessage: one message or event of the team (agents.Message).
	EventMessage EventType = "message"
	// EventSummary: the last event of a run, after the outputs are written.
	EventSummary EventType = "summary"
)

// Event is one item of a run's stream. Its JSON form is one line of
// `agentteam solve --json` and of the service's event stream:
//
//	{"event":"status","text":"…"}
//	{"event":"note","text":"…"}
//	{"event":"message","message":{…agents.Message…}}
//	{"event":"summary","stop_reason":"…","stop_cause":"…","finished":…,…}
type Event struct {
	Type EventType
	// Text of status and note events.
	Text string
	// Message of message events.
	Message *agents.Message
	// Summary of the summary event.
	Summary *Summary
}

// MarshalJSON writes the event as `solve --json` prints it.
func (e Event) MarshalJSON() ([]byte, error) {
	switch e.Type {
	case EventMessage:
		return json.Marshal(struct {
			Event   EventType       `json:"event"`
			Message *agents.Message `json:"message"`
		}{e.Type, e.Message})
	case EventSummary:
		s := e.Summary
		if s == nil {
			s = &Summary{}
		}
		files := s.Files
		if files == nil {
			files = []string{}
		}
		tokens := 0
		if s.Usage != nil {
			tokens = s.Usage.Total()
		}
		return json.Marshal(struct {
			Event       EventType            `json:"event"`
			StopReason  string               `json:"stop_reason"`
			StopCause   StopCause            `json:"stop_cause"`
			Finished    bool                 `json:"finished"`
			Turns       int                  `json:"turns"`
			Tokens      int                  `json:"tokens"`
			Usage       *llm.Usage           `json:"usage,omitempty"`
			ByAgent     map[string]llm.Usage `json:"usage_by_agent,omitempty"`
			Cost        *float64             `json:"cost,omitempty"`
			DurationMS  int64                `json:"duration_ms"`
			OutputDir   string               `json:"output_dir"`
			Files       []string             `json:"files"`
			FinalAnswer string               `json:"final_answer"`
			Replay      bool                 `json:"replay"`
		}{e.Type, s.Reason, s.Cause, s.Finished(), s.Turns, tokens, s.Usage, s.UsageByAgent, s.Cost, s.Duration.Milliseconds(),
			s.OutputDir, files, s.FinalAnswer, s.Replay})
	default:
		return json.Marshal(struct {
			Event EventType `json:"event"`
			Text  string    `json:"text"`
		}{e.Type, e.Text})
	}
}

// UnmarshalJSON reads an event written by MarshalJSON (e.g. to replay a
// stored event stream).
func (e *Event) UnmarshalJSON(b []byte) error {
	var aux struct {
		Event       EventType            `json:"event"`
		Text        string               `json:"text"`
		Message     *agents.Message      `json:"message"`
		StopReason  string               `json:"stop_reason"`
		StopCause   StopCause            `json:"stop_cause"`
		Turns       int                  `json:"turns"`
		Usage       *llm.Usage           `json:"usage"`
		ByAgent     map[string]llm.Usage `json:"usage_by_agent"`
		Cost        *float64             `json:"cost"`
		DurationMS  int64                `json:"duration_ms"`
		OutputDir   string               `json:"output_dir"`
		Files       []string             `json:"files"`
		FinalAnswer string               `json:"final_answer"`
		Replay      bool                 `json:"replay"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = Event{Type: aux.Event, Text: aux.Text, Message: aux.Message}
	if aux.Event == EventSummary {
		e.Summary = &Summary{Cause: aux.StopCause, Reason: aux.StopReason, Turns: aux.Turns, Usage: aux.Usage,
			UsageByAgent: aux.ByAgent, Cost: aux.Cost,
			Duration: time.Duration(aux.DurationMS) * time.Millisecond, OutputDir: aux.OutputDir, Files: aux.Files,
			FinalAnswer: aux.FinalAnswer, Replay: aux.Replay}
	}
	return nil
}

// StopCause is why a run ended.
type StopCause string

const (
	// Finished: the team said the task is done.
	Finished StopCause = "finished"
	// MaxTurns: the turn limit was reached first.
	MaxTurns StopCause = "max_turns"
	// Timeout: the run's time limit was reached (the running cell was
	// interrupted).
	Timeout StopCause = "timeout"
	// Loop: the same failing code was sent again and again.
	Loop StopCause = "loop"
	// ModelError: the model endpoint failed (auth, unreachable, …).
	ModelError StopCause = "model_error"
	// KernelError: the kernel could not be started or reached, or died for
	// good.
	KernelError StopCause = "kernel_error"
	// Cancelled: ctx was cancelled or the caller stopped reading the events.
	Cancelled StopCause = "cancelled"
	// CutOff: the model's replies were cut off at its token limit in the
	// middle of a code block again and again.
	CutOff StopCause = "cut_off"
)

// Summary is how a run ended: the last event of every run and what
// report.md says.
type Summary struct {
	Cause StopCause
	// Reason says the cause in plain words: "finished", "30 turns reached",
	// "time limit of 10m0s reached", "model error: …".
	Reason string
	// Err is the error behind ModelError, KernelError and Cancelled (nil
	// otherwise). Its text has the run's secrets removed.
	Err error
	// Turns counts the agents' chat messages.
	Turns int
	// Usage is the model endpoint's own count; nil when no model was called
	// (e.g. a replay).
	Usage *llm.Usage
	// UsageByAgent is the usage per agent (planner, coder, and the
	// executor's debugger when it has one).
	UsageByAgent map[string]llm.Usage
	// Cost is the usage priced with Config.Price; nil without a price.
	Cost *float64
	// Duration is the run's wall time.
	Duration time.Duration
	// OutputDir holds notebook.ipynb, report.md, transcript.jsonl, files/.
	OutputDir string
	// Files are the files the code wrote, relative to OutputDir/files.
	Files []string
	// Skipped are the files the code wrote that were not copied (too
	// large, links, ...), with the reason.
	Skipped []session.Skipped
	// FinalAnswer is the team's final answer; "" unless Finished.
	FinalAnswer string
	// Model is the model name; Replay is true when answers were replayed.
	Model  string
	Replay bool
	// Step is the number of the last step that ran code (0 when none), and
	// LastStep what it did, in a line.
	Step     int
	LastStep string
}

// Finished reports whether the task finished.
func (s *Summary) Finished() bool { return s != nil && s.Cause == Finished }

// Error is the error a run ends with when it failed (ModelError,
// KernelError) or was cancelled. It is yielded after the summary event.
type Error struct {
	Cause StopCause
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// CauseOf returns the stop cause of an error from Run ("" when it is not
// one).
func CauseOf(err error) StopCause {
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	return ""
}
