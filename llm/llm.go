// Package llm talks to chat models: any OpenAI-compatible endpoint (package
// llm/openai) or a scripted Replay client for tests and offline runs.
package llm

import (
	"context"
	"encoding/json"
	"iter"
)

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleTool is the role of a tool result; it answers the assistant
	// message whose tool call has the same ID.
	RoleTool = "tool"
)

// Message is one chat message sent to the model.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Name optionally names the speaker (e.g. the agent that wrote it).
	Name string `json:"name,omitempty"`
	// Images go with Content as image parts (for models that see images);
	// each is a URL, usually a data: URL with base64 PNG or JPEG.
	Images []Image `json:"images,omitempty"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is the call a RoleTool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// Image is one image of a message.
type Image struct {
	// URL is an https: or data:image/...;base64 URL.
	URL string `json:"url"`
	// Detail is the detail level some endpoints accept ("low", "high",
	// "auto"); "" leaves it to the endpoint.
	Detail string `json:"detail,omitempty"`
}

// Tool describes a function the model may call.
type Tool struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is the JSON schema of the arguments (an object schema);
	// nil means no arguments.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Tool choices for Request.ToolChoice; any other value names the one tool
// the model must call.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
)

// ToolCall is one function call made by the model. Its JSON is the OpenAI
// wire form: {"id", "type": "function", "function": {"name", "arguments"}}.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON text of the arguments, as the model wrote it
	// (it may be invalid JSON).
	Arguments string
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// MarshalJSON writes the OpenAI wire form.
func (c ToolCall) MarshalJSON() ([]byte, error) {
	var w wireToolCall
	w.ID, w.Type, w.Function.Name, w.Function.Arguments = c.ID, "function", c.Name, c.Arguments
	return json.Marshal(w)
}

// UnmarshalJSON reads the OpenAI wire form.
func (c *ToolCall) UnmarshalJSON(b []byte) error {
	var w wireToolCall
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	c.ID, c.Name, c.Arguments = w.ID, w.Function.Name, w.Function.Arguments
	return nil
}

// Request is one completion request. Zero values mean the client's defaults.
type Request struct {
	Messages []Message `json:"messages"`
	// Model overrides the client's model.
	Model string `json:"model,omitempty"`
	// Temperature overrides the client's temperature when non-nil.
	Temperature *float32 `json:"temperature,omitempty"`
	// MaxTokens overrides the client's max tokens when > 0.
	MaxTokens int      `json:"max_tokens,omitempty"`
	Stop      []string `json:"stop,omitempty"`
	// Tools the model may call; ToolChoice is "" (the endpoint's default,
	// auto), one of the ToolChoice constants, or the name of a tool.
	Tools      []Tool `json:"tools,omitempty"`
	ToolChoice string `json:"tool_choice,omitempty"`
}

// Usage counts tokens. CachedTokens is the part of PromptTokens the endpoint
// served from its prompt cache; ReasoningTokens the part of
// CompletionTokens spent on reasoning (reported by the endpoint, or
// estimated from the reasoning text when it reports none).
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	CachedTokens     int `json:"cached_tokens,omitempty"`
	ReasoningTokens  int `json:"reasoning_tokens,omitempty"`
	// Estimated is true when some of the counts were estimated here
	// because the endpoint reported none.
	Estimated bool `json:"estimated,omitempty"`
}

// Total is prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + o.PromptTokens,
		CompletionTokens: u.CompletionTokens + o.CompletionTokens,
		CachedTokens:     u.CachedTokens + o.CachedTokens,
		ReasoningTokens:  u.ReasoningTokens + o.ReasoningTokens,
		Estimated:        u.Estimated || o.Estimated,
	}
}

// Finish reasons of interest.
const (
	// FinishLength: the reply was cut off at the token limit.
	FinishLength = "length"
)

// Response is a finished completion.
type Response struct {
	Content string `json:"content"`
	// Reasoning is the model's reasoning, when the endpoint sends it apart
	// from the content (reasoning_content or reasoning fields).
	Reasoning    string `json:"reasoning,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
	Model        string `json:"model,omitempty"`
	Usage        Usage  `json:"usage"`
	// ToolCalls are the calls the model made (FinishReason is then
	// usually "tool_calls").
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Chunk is one piece of a streamed completion. Content is the new text and
// Reasoning new reasoning text (from the endpoint's reasoning fields); the
// final chunk of a stream has Done set and carries the whole Response
// (content, reasoning, finish reason, usage, and the tool calls assembled
// from their streamed pieces).
type Chunk struct {
	Content   string
	Reasoning string
	Done      bool
	Response  *Response
}

// Client creates chat completions.
type Client interface {
	// Complete returns the whole completion.
	Complete(ctx context.Context, req Request) (*Response, error)
	// Stream yields the completion as it is generated, ending with a Done
	// chunk; an error ends the sequence. Breaking out of the loop cancels the
	// request.
	Stream(ctx context.Context, req Request) iter.Seq2[Chunk, error]
	// ModelName is the model requests go to by default (for display).
	ModelName() string
}

// Collect drains a stream, calling onDelta (if non-nil) with each piece of
// new text, and returns the final response.
func Collect(seq iter.Seq2[Chunk, error], onDelta func(string)) (*Response, error) {
	var final *Response
	var text, reasoning []byte
	for ch, err := range seq {
		if err != nil {
			return nil, err
		}
		reasoning = append(reasoning, ch.Reasoning...)
		if ch.Content != "" {
			text = append(text, ch.Content...)
			if onDelta != nil {
				onDelta(ch.Content)
			}
		}
		if ch.Done && ch.Response != nil {
			final = ch.Response
		}
	}
	if final == nil {
		final = &Response{Content: string(text)}
	}
	if final.Content == "" && len(text) > 0 {
		final.Content = string(text)
	}
	if final.Reasoning == "" && len(reasoning) > 0 {
		final.Reasoning = string(reasoning)
	}
	return final, nil
}
