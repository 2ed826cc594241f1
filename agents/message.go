// Package agents defines the messages agents exchange, the Agent interface,
// and the agents themselves: Assistant (an LLM agent; the planner and the
// coder are assistants) and CodeExecutor (runs code blocks in a kernel).
package agents

import (
	"time"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
)

// Kind says what a Message is. Chat messages (text, stop) form the
// conversation every agent sees; events (the rest) report what happened
// inside an agent and are only streamed and recorded.
type Kind string

const (
	// KindText is a chat message: a task, a plan, code, execution output, a
	// final answer.
	KindText Kind = "text"
	// KindStop is a chat message that ends the run (Content is the reason).
	KindStop Kind = "stop"
	// KindCodeGeneration is an event: code blocks an agent is about to run.
	KindCodeGeneration Kind = "code_generation"
	// KindCodeExecution is an event: the structured result of running them.
	KindCodeExecution Kind = "code_execution"
	// KindChunk is an event: a piece of a model's reply as it streams.
	KindChunk Kind = "chunk"
	// KindOutput is an event: one kernel output as it arrives (Metadata
	// "block" is the index of the block of the message that printed it;
	// "retry" marks output of a corrected block).
	KindOutput Kind = "output"
	// KindReasoning is an event: a piece of a model's reasoning as it
	// streams (from the endpoint's reasoning field or a <think> block).
	// Show it dimmed; it is never run and never sent back to the model.
	KindReasoning Kind = "reasoning"
	// KindToolCall is an event: the tool calls a model made (ToolCalls).
	KindToolCall Kind = "tool_call"
	// KindToolResult is an event: the results of tool calls (ToolResults).
	KindToolResult Kind = "tool_result"
	// KindSelectSpeaker is an event: a team chose the next speaker
	// (Content is its name; Usage the model usage of choosing).
	KindSelectSpeaker Kind = "select_speaker"
	// KindHandoff is a chat message: the source hands the conversation to
	// the agent named Target (or to the user), e.g. in a Swarm.
	KindHandoff Kind = "handoff"
)

// Metadata keys set on chat messages.
const (
	// MetaFinishReason is "length" on a model reply cut off at the token
	// limit.
	MetaFinishReason = "finish_reason"
	// MetaExecution is "true" on a code executor's reply (its text is
	// execution output, which shrinks first when a context is tight).
	MetaExecution = "execution"
	// MetaStop says why an agent stopped the team, on its stop message
	// (e.g. StopCutOff).
	MetaStop = "stop"
	// StopCutOff: the model's replies were cut off at the token limit
	// mid-block too many times in a row.
	StopCutOff = "cut_off"
)

// IsEvent reports whether messages of this kind are events rather than chat
// messages.
func (k Kind) IsEvent() bool { return k != KindText && k != KindStop && k != KindHandoff }

// CodeBlock is one fenced code block taken from a message.
type CodeBlock struct {
	// Language is the fence tag as written ("" for an untagged fence).
	Language string `json:"language"`
	Code     string `json:"code"`
}

// CodeExecution is one block and what running it produced.
type CodeExecution struct {
	Block  CodeBlock        `json:"block"`
	Result *executor.Result `json:"result"`
}

// Message is every message and event of a run. One struct with a Kind keeps
// JSON round-trips, transcripts and streaming simple; the fields that apply
// depend on Kind.
type Message struct {
	Kind   Kind      `json:"kind"`
	Source string    `json:"source"`
	Time   time.Time `json:"time,omitzero"`
	// Content is the text (chat messages and chunks). A model reply's
	// reasoning is not part of it.
	Content string `json:"content,omitempty"`
	// Reasoning is the reasoning of a model reply (text messages) or a
	// piece of it (reasoning events). Kept for people; never sent to a
	// model, never searched for code.
	Reasoning string `json:"reasoning,omitempty"`
	// Images are shown to models that see images along with Content (a
	// code executor attaches the figures a step displayed). They are not
	// written to transcripts: the files are saved on their own.
	Images []llm.Image `json:"-"`
	// Usage is the model usage that produced this message, if any.
	Usage *llm.Usage `json:"usage,omitempty"`
	// Blocks: the code blocks (code_generation, and code_execution).
	Blocks []CodeBlock `json:"blocks,omitempty"`
	// Executions: each block run and its result (code_execution).
	Executions []CodeExecution `json:"executions,omitempty"`
	// Output: one kernel output (output events).
	Output *executor.Output `json:"output,omitempty"`
	// Metadata holds small extra facts (e.g. "retry": "2").
	Metadata map[string]string `json:"metadata,omitempty"`
	// ToolCalls: the calls a model made (tool_call events; and text
	// messages whose calls another agent runs, e.g. run_python for a
	// CodeExecutor).
	ToolCalls []llm.ToolCall `json:"tool_calls,omitempty"`
	// ToolResults: results of tool calls (tool_result events; and a
	// CodeExecutor's reply to calls it ran).
	ToolResults []ToolResult `json:"tool_results,omitempty"`
	// Target is the agent a handoff message hands over to.
	Target string `json:"target,omitempty"`
}

// ToolResult is the result of one tool call.
type ToolResult struct {
	CallID  string `json:"call_id"`
	Name    string `json:"name"`
	Content string `json:"content"`
	IsError bool   `json:"is_error,omitempty"`
}

// NewText returns a text chat message.
func NewText(source, content string) *Message {
	return &Message{Kind: KindText, Source: source, Content: content, Time: time.Now().UTC()}
}

// TaskResult is the outcome of a run: every message and event in order and
// why it stopped.
type TaskResult struct {
	Messages   []*Message `json:"messages"`
	StopReason string     `json:"stop_reason"`
	// Usage is the model usage of the run, summed over its messages.
	Usage llm.Usage `json:"usage"`
}
