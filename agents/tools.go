package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/agentteam/agentteam/llm"
)

// Tool is a function a model can call.
type Tool interface {
	// Definition is what the model is told: name, description and the JSON
	// schema of the arguments.
	Definition() llm.Tool
	// Call runs the tool with the arguments the model wrote (JSON text) and
	// returns the result text for the model. An error is reported to the
	// model as an error result; it does not end the turn.
	Call(ctx context.Context, arguments string) (string, error)
}

var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// ErrToolArguments wraps arguments that do not fit a tool's schema.
var ErrToolArguments = errors.New("invalid tool arguments")

// FunctionTool is a Tool backed by a typed Go function. Build one with
// NewFunctionTool.
type FunctionTool[In, Out any] struct {
	def      llm.Tool
	resolved *jsonschema.Resolved
	fn       func(context.Context, In) (Out, error)
}

// NewFunctionTool returns a Tool that calls fn. The argument schema is
// derived from In, which must be a struct (or a pointer to one): its fields'
// JSON names, types and `jsonschema:"..."` tags (the description). Fields
// without omitempty/omitzero are required. The model's arguments are
// checked against the schema before fn runs. The result is Out as text when
// it is a string, and its JSON otherwise.
func NewFunctionTool[In, Out any](name, description string, fn func(ctx context.Context, in In) (Out, error)) (*FunctionTool[In, Out], error) {
	if !toolName.MatchString(name) {
		return nil, fmt.Errorf("tool %q: a name has 1 to 64 letters, digits, _ or -", name)
	}
	if fn == nil {
		return nil, fmt.Errorf("tool %s: nil function", name)
	}
	t := reflect.TypeFor[In]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("tool %s: the argument type %s is not a struct", name, t)
	}
	schema, err := jsonschema.ForType(t, nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: schema of %s: %w", name, t, err)
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: schema of %s: %w", name, t, err)
	}
	params, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("tool %s: schema of %s: %w", name, t, err)
	}
	return &FunctionTool[In, Out]{def: llm.Tool{Name: name, Description: description, Parameters: params}, resolved: resolved, fn: fn}, nil
}

// Definition implements Tool.
func (f *FunctionTool[In, Out]) Definition() llm.Tool { return f.def }

// Call implements Tool.
func (f *FunctionTool[In, Out]) Call(ctx context.Context, arguments string) (string, error) {
	if strings.TrimSpace(arguments) == "" {
		arguments = "{}"
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(arguments), &raw); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %v", ErrToolArguments, err)
	}
	if err := f.resolved.Validate(raw); err != nil {
		return "", fmt.Errorf("%w: %v", ErrToolArguments, err)
	}
	var in In
	if err := json.Unmarshal([]byte(arguments), &in); err != nil {
		return "", fmt.Errorf("%w: %v", ErrToolArguments, err)
	}
	out, err := f.fn(ctx, in)
	if err != nil {
		return "", err
	}
	if s, ok := any(out).(string); ok {
		return s, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("result: %w", err)
	}
	return string(b), nil
}

// runTools runs the calls in parallel and returns their results in the
// order of the calls. Unknown tools, invalid arguments, errors and panics
// become error results.
func runTools(ctx context.Context, tools map[string]Tool, calls []llm.ToolCall, run func(ctx context.Context, t Tool, c llm.ToolCall) ToolResult) []ToolResult {
	out := make([]ToolResult, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		t, ok := tools[c.Name]
		if !ok {
			out[i] = ToolResult{CallID: c.ID, Name: c.Name, IsError: true,
				Content: fmt.Sprintf("Error: there is no tool named %q.", c.Name)}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = run(ctx, t, c)
		}()
	}
	wg.Wait()
	return out
}

// callTool runs one call, turning errors and panics into error results.
func callTool(ctx context.Context, t Tool, c llm.ToolCall) (res ToolResult) {
	res = ToolResult{CallID: c.ID, Name: c.Name}
	defer func() {
		if p := recover(); p != nil {
			res.IsError = true
			res.Content = fmt.Sprintf("Error: the tool %s failed: panic: %v", c.Name, p)
		}
	}()
	text, err := t.Call(ctx, c.Arguments)
	if err != nil {
		res.IsError = true
		res.Content = "Error: " + err.Error()
		return res
	}
	if text == "" {
		text = "(no output)"
	}
	res.Content = text
	return res
}
