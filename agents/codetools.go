package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/llm"
)

// Names of the code tools a CodeExecutor runs.
const (
	ToolRunPython = "run_python"
	ToolRunShell  = "run_shell"
)

// CodeTools returns the definitions of run_python(code) and
// run_shell(command), for a coder that calls tools instead of writing
// fenced code blocks (AssistantConfig.ExternalTools). A CodeExecutor runs
// the calls in its kernel and answers each with its output.
func CodeTools() []llm.Tool {
	return []llm.Tool{
		{Name: ToolRunPython, Description: "Run Python code in the stateful Jupyter kernel (variables, imports and loaded data persist between calls) and return its output. Print the values you want to see.",
			Parameters: json.RawMessage(`{"type":"object","properties":{"code":{"type":"string","description":"The Python code to run."}},"required":["code"],"additionalProperties":false}`)},
		{Name: ToolRunShell, Description: "Run a shell command in the kernel's working directory and return its output.",
			Parameters: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string","description":"The shell command to run."}},"required":["command"],"additionalProperties":false}`)},
	}
}

// CodeToolBlock returns the code block a run_python or run_shell call asks
// to run; ok is false for other calls and invalid arguments.
func CodeToolBlock(c llm.ToolCall) (CodeBlock, bool) {
	b, err := codeToolBlock(c)
	return b, err == nil
}

var errNotCodeTool = errors.New("not a code tool")

func codeToolBlock(c llm.ToolCall) (CodeBlock, error) {
	var field, lang string
	switch c.Name {
	case ToolRunPython:
		field, lang = "code", "python"
	case ToolRunShell:
		field, lang = "command", "sh"
	default:
		return CodeBlock{}, fmt.Errorf("%w: there is no tool named %q; call run_python or run_shell", errNotCodeTool, c.Name)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(c.Arguments), &args); err != nil {
		return CodeBlock{}, fmt.Errorf("the arguments of %s are not a JSON object (%v); send {\"%s\": \"...\"}", c.Name, err, field)
	}
	code, ok := args[field].(string)
	if !ok || strings.TrimSpace(code) == "" {
		return CodeBlock{}, fmt.Errorf("%s needs a non-empty string argument %q", c.Name, field)
	}
	return CodeBlock{Language: lang, Code: code}, nil
}

// fence returns a code fence longer than any run of backticks in s.
func fence(s string) string {
	n, run := 3, 0
	for _, r := range s {
		if r == '`' {
			run++
			if run >= n {
				n = run + 1
			}
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", n)
}
