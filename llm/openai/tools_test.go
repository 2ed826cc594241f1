package openai_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/llm"
)

var weatherTool = llm.Tool{Name: "get_weather", Description: "Weather in a city.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func TestToolCallsStreamedAndWhole(t *testing.T) {
	two := fakeopenai.Reply{Text: "Checking.", ToolCalls: []llm.ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{ID: "call_b", Name: "get_weather", Arguments: `{"city": "Lima, Peru"}`},
	}}
	srv := fakeopenai.New(t, func(n int, _ *fakeopenai.Request) fakeopenai.Reply {
		if n < 2 {
			return two
		}
		return fakeopenai.Reply{Text: "Sunny in both."}
	})
	c := client(t, srv, nil)
	req := ask()
	req.Tools = []llm.Tool{weatherTool}
	req.ToolChoice = llm.ToolChoiceRequired

	// Streamed: the arguments arrive in pieces and are put back together.
	final, err := llm.Collect(c.Stream(context.Background(), req), nil)
	require.NoError(t, err)
	assert.Equal(t, "Checking.", final.Content)
	assert.Equal(t, "tool_calls", final.FinishReason)
	assert.Equal(t, two.ToolCalls, final.ToolCalls)

	whole, err := c.Complete(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, two.ToolCalls, whole.ToolCalls)

	// The results go back as role:tool messages with their call IDs.
	req.ToolChoice = "get_weather"
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: final.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_a", Content: "sunny"},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_b", Content: "sunny too"})
	answer, err := llm.Collect(c.Stream(context.Background(), req), nil)
	require.NoError(t, err)
	assert.Equal(t, "Sunny in both.", answer.Content)
	assert.Empty(t, answer.ToolCalls)

	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []string{"get_weather"}, reqs[0].ToolNames())
	assert.JSONEq(t, `"required"`, string(reqs[0].ToolChoice))
	assert.JSONEq(t, `{"type":"function","function":{"name":"get_weather"}}`, string(reqs[2].ToolChoice))
	var tool struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].Tools[0], &tool))
	assert.Equal(t, "function", tool.Type)
	assert.Equal(t, weatherTool.Description, tool.Function.Description)
	assert.JSONEq(t, string(weatherTool.Parameters), string(tool.Function.Parameters))
	last := reqs[2].Messages
	require.Len(t, last, 5)
	assert.Equal(t, final.ToolCalls, last[2].ToolCalls)
	assert.Equal(t, llm.RoleTool, last[3].Role)
	assert.Equal(t, "call_a", last[3].ToolCallID)
	assert.Equal(t, "sunny", last[3].Content)
	assert.Equal(t, "call_b", last[4].ToolCallID)
}

func TestToolsAbsentWhenNoneGiven(t *testing.T) {
	srv := fakeopenai.New(t, fakeopenai.Script("hi"))
	c := client(t, srv, nil)
	_, err := c.Complete(context.Background(), ask())
	require.NoError(t, err)
	r := srv.Requests()[0]
	assert.Empty(t, r.Tools)
	assert.Empty(t, r.ToolChoice, "no tool_choice without tools (some servers reject it)")
}

// Some local servers send tool-call deltas without an index and without IDs.
func TestToolCallDeltasWithoutIndexOrID(t *testing.T) {
	stream := "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"ci\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\"ty\\\": \\\"Oslo\\\"}\"}}]}}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n" +
		"data: [DONE]\n\n"
	srv := fakeopenai.New(t, func(int, *fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Raw: stream} })
	c := client(t, srv, nil)
	req := ask()
	req.Tools = []llm.Tool{weatherTool}
	final, err := llm.Collect(c.Stream(context.Background(), req), nil)
	require.NoError(t, err)
	require.Len(t, final.ToolCalls, 1)
	assert.Equal(t, "get_weather", final.ToolCalls[0].Name)
	assert.Equal(t, `{"city": "Oslo"}`, final.ToolCalls[0].Arguments)
	assert.NotEmpty(t, final.ToolCalls[0].ID, "a call gets an ID when the server sends none")
}
