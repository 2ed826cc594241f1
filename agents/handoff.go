package agents

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/llm"
)

// Handoff lets an Assistant hand the conversation to another agent (or to
// the user, Target "user"): the model gets a transfer tool, and calling it
// ends the turn with a KindHandoff message to Target. A Swarm lets the
// target speak next; a HandoffTermination on "user" stops the run so that a
// person can answer.
type Handoff struct {
	// Target is the agent's name, or SourceUser.
	Target string
	// Description tells the model when to hand off (default: "Handoff to
	// TARGET.").
	Description string
	// Name is the tool's name (default "transfer_to_TARGET").
	Name string
	// Message is the tool's result, and the handoff message's content
	// when the model wrote no text with the call (default: "Transferred to
	// TARGET, adopting the role of TARGET immediately.").
	Message string
}

func (h Handoff) withDefaults() Handoff {
	if h.Name == "" {
		h.Name = "transfer_to_" + strings.ToLower(nameField(h.Target))
	}
	if h.Description == "" {
		h.Description = fmt.Sprintf("Handoff to %s.", h.Target)
	}
	if h.Message == "" {
		h.Message = fmt.Sprintf("Transferred to %s, adopting the role of %s immediately.", h.Target, h.Target)
	}
	return h
}

func (h Handoff) definition() llm.Tool {
	return llm.Tool{Name: h.Name, Description: h.Description, Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}
}

// ToolCallMarkdown renders a tool call as markdown: run_python and
// run_shell as code blocks, other calls as their name and JSON arguments.
func ToolCallMarkdown(c llm.ToolCall) string {
	if b, ok := CodeToolBlock(c); ok {
		code := strings.TrimRight(b.Code, "\n")
		f := fence(code)
		return fmt.Sprintf("**%s**\n%s%s\n%s\n%s", c.Name, f, b.Language, code, f)
	}
	name := nameField(c.Name)
	args := c.Arguments
	var v any
	if json.Unmarshal([]byte(args), &v) == nil {
		if pretty, err := json.MarshalIndent(v, "", "  "); err == nil {
			args = string(pretty)
		}
	}
	f := fence(args)
	return fmt.Sprintf("**%s**\n%sjson\n%s\n%s", name, f, args, f)
}

// ToolResultMarkdown renders a tool result as markdown.
func ToolResultMarkdown(r ToolResult) string {
	label := "result"
	if r.IsError {
		label = "error"
	}
	content := strings.TrimRight(r.Content, "\n")
	f := fence(content)
	return fmt.Sprintf("**%s %s**\n%s\n%s\n%s", nameField(r.Name), label, f, content, f)
}
