package agents_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
)

type weatherIn struct {
	City  string `json:"city" jsonschema:"the city to look up"`
	Units string `json:"units,omitempty" jsonschema:"metric or imperial"`
}

type weatherOut struct {
	City  string  `json:"city"`
	TempC float64 `json:"temp_c"`
}

func weatherTool(t *testing.T) agents.Tool {
	t.Helper()
	tool, err := agents.NewFunctionTool("get_weather", "The weather in a city.", func(_ context.Context, in weatherIn) (weatherOut, error) {
		if in.City == "Atlantis" {
			return weatherOut{}, errors.New("no such city")
		}
		return weatherOut{City: in.City, TempC: 21.5}, nil
	})
	require.NoError(t, err)
	return tool
}

func TestFunctionToolSchemaFromStruct(t *testing.T) {
	def := weatherTool(t).Definition()
	assert.Equal(t, "get_weather", def.Name)
	assert.Equal(t, "The weather in a city.", def.Description)
	var schema struct {
		Type       string `json:"type"`
		Properties map[string]struct {
			Type        string `json:"type"`
			Description string `json:"description"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	require.NoError(t, json.Unmarshal(def.Parameters, &schema))
	assert.Equal(t, "object", schema.Type)
	assert.Equal(t, "string", schema.Properties["city"].Type)
	assert.Equal(t, "the city to look up", schema.Properties["city"].Description)
	assert.Equal(t, []string{"city"}, schema.Required, "omitempty fields are optional")
}

func TestFunctionToolCall(t *testing.T) {
	tool := weatherTool(t)
	out, err := tool.Call(context.Background(), `{"city": "Oslo"}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"city":"Oslo","temp_c":21.5}`, out)

	_, err = tool.Call(context.Background(), `{"units": "metric"}`)
	assert.ErrorIs(t, err, agents.ErrToolArguments, "a required argument is missing")
	_, err = tool.Call(context.Background(), `{"city": 3}`)
	assert.ErrorIs(t, err, agents.ErrToolArguments, "wrong type")
	_, err = tool.Call(context.Background(), `not json`)
	assert.ErrorIs(t, err, agents.ErrToolArguments)
	_, err = tool.Call(context.Background(), `{"city": "Atlantis"}`)
	assert.EqualError(t, err, "no such city")

	str, err := agents.NewFunctionTool("echo", "", func(_ context.Context, in struct {
		Text string `json:"text"`
	}) (string, error) {
		return in.Text, nil
	})
	require.NoError(t, err)
	out, err = str.Call(context.Background(), `{"text": "plain"}`)
	require.NoError(t, err)
	assert.Equal(t, "plain", out, "a string result is sent as it is")
}

func TestNewFunctionToolRejects(t *testing.T) {
	_, err := agents.NewFunctionTool("bad name!", "", func(context.Context, weatherIn) (string, error) { return "", nil })
	assert.ErrorContains(t, err, "letters, digits")
	_, err = agents.NewFunctionTool("n", "", func(context.Context, int) (string, error) { return "", nil })
	assert.ErrorContains(t, err, "not a struct")
	_, err = agents.NewFunctionTool[weatherIn, string]("n", "", nil)
	assert.ErrorContains(t, err, "nil function")
}

func toolAssistant(t *testing.T, model llm.Client, mod func(*agents.AssistantConfig)) *agents.Assistant {
	t.Helper()
	cfg := agents.AssistantConfig{Name: "helper", Client: model, SystemPrompt: "use tools", Tools: []agents.Tool{weatherTool(t)}}
	if mod != nil {
		mod(&cfg)
	}
	a, err := agents.NewAssistant(cfg)
	require.NoError(t, err)
	return a
}

func turnKinds(msgs []*agents.Message) []agents.Kind {
	var out []agents.Kind
	for _, m := range msgs {
		if m.Kind != agents.KindChunk {
			out = append(out, m.Kind)
		}
	}
	return out
}

// AutoGen: test_run_with_tools (without reflection the response is the
// tool's result).
func TestAssistantRunsToolAndAnswersWithResult(t *testing.T) {
	model := llm.NewReplayResponses(llm.ToolCallReply("get_weather", map[string]string{"city": "Oslo"}))
	a := toolAssistant(t, model, nil)
	out := drain(t, a, agents.NewText("user", "weather in Oslo?"))
	assert.Equal(t, []agents.Kind{agents.KindToolCall, agents.KindToolResult, agents.KindText}, turnKinds(out))
	call, res, resp := out[0], out[1], out[2]
	require.Len(t, call.ToolCalls, 1)
	require.Len(t, res.ToolResults, 1)
	assert.Equal(t, call.ToolCalls[0].ID, res.ToolResults[0].CallID)
	assert.False(t, res.ToolResults[0].IsError)
	assert.JSONEq(t, `{"city":"Oslo","temp_c":21.5}`, resp.Content)
	require.NotNil(t, resp.Usage)
	assert.Positive(t, resp.Usage.CompletionTokens)

	reqs := model.Requests()
	require.Len(t, reqs, 1)
	require.Len(t, reqs[0].Tools, 1)
	assert.Equal(t, "get_weather", reqs[0].Tools[0].Name)
	h := a.History()
	require.Len(t, h, 3)
	assert.Equal(t, llm.RoleAssistant, h[1].Role)
	assert.Equal(t, call.ToolCalls, h[1].ToolCalls)
	assert.Equal(t, llm.RoleTool, h[2].Role)
	assert.Equal(t, call.ToolCalls[0].ID, h[2].ToolCallID)
}

// AutoGen: reflect_on_tool_use: the model answers once more, without tools.
func TestAssistantReflectsOnToolUse(t *testing.T) {
	model := llm.NewReplayResponses(llm.ToolCallReply("get_weather", map[string]string{"city": "Oslo"}), llm.Response{Content: "It is 21.5 C in Oslo."})
	a := toolAssistant(t, model, func(c *agents.AssistantConfig) { c.ReflectOnToolUse = true })
	out := drain(t, a, agents.NewText("user", "weather in Oslo?"))
	resp := out[len(out)-1]
	assert.Equal(t, "It is 21.5 C in Oslo.", resp.Content)
	reqs := model.Requests()
	require.Len(t, reqs, 2)
	assert.Empty(t, reqs[1].Tools, "the reflection call offers no tools")
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	assert.Equal(t, llm.RoleTool, last.Role)
	assert.Contains(t, last.Content, "21.5")
}

// Parallel calls run at the same time; an error, a panic and an unknown
// tool become error results for the model, not a crash.
func TestAssistantParallelToolsErrorsAndPanics(t *testing.T) {
	var running, peak atomic.Int32
	slow, err := agents.NewFunctionTool("slow", "waits", func(ctx context.Context, in struct {
		N int `json:"n"`
	}) (int, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		deadline := time.Now().Add(5 * time.Second)
		for peak.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return in.N * 2, nil
	})
	require.NoError(t, err)
	boom, err := agents.NewFunctionTool("boom", "panics", func(context.Context, struct{}) (string, error) { panic("kaboom") })
	require.NoError(t, err)
	model := llm.NewReplayResponses(llm.Response{ToolCalls: []llm.ToolCall{
		{Name: "slow", Arguments: `{"n": 1}`}, {Name: "slow", Arguments: `{"n": 2}`},
		{Name: "boom", Arguments: `{}`}, {Name: "nope", Arguments: `{}`},
		{Name: "get_weather", Arguments: `{"city": "Atlantis"}`},
	}})
	a := toolAssistant(t, model, func(c *agents.AssistantConfig) { c.Tools = append(c.Tools, slow, boom) })
	out := drain(t, a, agents.NewText("user", "go"))
	var res *agents.Message
	for _, m := range out {
		if m.Kind == agents.KindToolResult {
			res = m
		}
	}
	require.NotNil(t, res)
	require.Len(t, res.ToolResults, 5)
	assert.Equal(t, int32(2), peak.Load(), "the two slow calls ran in parallel")
	r := res.ToolResults
	assert.Equal(t, "2", r[0].Content)
	assert.Equal(t, "4", r[1].Content)
	assert.True(t, r[2].IsError)
	assert.Contains(t, r[2].Content, "kaboom")
	assert.True(t, r[3].IsError)
	assert.Contains(t, r[3].Content, `no tool named "nope"`)
	assert.True(t, r[4].IsError)
	assert.Contains(t, r[4].Content, "no such city")
	assert.Equal(t, llm.RoleTool, a.History()[len(a.History())-1].Role)
}

// AutoGen: max_tool_iterations: the model is asked again after each round
// until it answers in text or the bound is reached.
func TestAssistantToolIterations(t *testing.T) {
	oslo := llm.ToolCallReply("get_weather", map[string]string{"city": "Oslo"})
	lima := llm.ToolCallReply("get_weather", map[string]string{"city": "Lima"})
	t.Run("text ends the turn", func(t *testing.T) {
		model := llm.NewReplayResponses(oslo, lima, llm.Response{Content: "done"})
		a := toolAssistant(t, model, func(c *agents.AssistantConfig) { c.MaxToolIterations = 5 })
		out := drain(t, a, agents.NewText("user", "go"))
		assert.Equal(t, []agents.Kind{agents.KindToolCall, agents.KindToolResult, agents.KindToolCall, agents.KindToolResult, agents.KindText}, turnKinds(out))
		assert.Equal(t, "done", out[len(out)-1].Content)
		assert.Len(t, model.Requests(), 3)
	})
	t.Run("bound", func(t *testing.T) {
		model := llm.NewReplayResponses(oslo, lima, oslo)
		a := toolAssistant(t, model, func(c *agents.AssistantConfig) { c.MaxToolIterations = 2 })
		out := drain(t, a, agents.NewText("user", "go"))
		assert.Len(t, model.Requests(), 2, "two rounds, then the results are the answer")
		assert.Contains(t, out[len(out)-1].Content, "Lima")
	})
}

// AutoGen: test_handoffs: calling a transfer tool ends the turn with a
// handoff message.
func TestAssistantHandoff(t *testing.T) {
	model := llm.NewReplayResponses(llm.ToolCallReply("transfer_to_agent2", map[string]string{}))
	a := toolAssistant(t, model, func(c *agents.AssistantConfig) {
		c.Handoffs = []agents.Handoff{{Target: "agent2"}, {Target: agents.SourceUser, Description: "Ask the user."}}
	})
	defs := a.Tools()
	require.Len(t, defs, 3)
	assert.Equal(t, "transfer_to_agent2", defs[1].Name)
	assert.Equal(t, "transfer_to_user", defs[2].Name)
	assert.Equal(t, "Ask the user.", defs[2].Description)
	out := drain(t, a, agents.NewText("user", "go"))
	resp := out[len(out)-1]
	assert.Equal(t, agents.KindHandoff, resp.Kind)
	assert.Equal(t, "agent2", resp.Target)
	assert.Equal(t, "Transferred to agent2, adopting the role of agent2 immediately.", resp.Content)
	h := a.History()
	assert.Equal(t, llm.RoleTool, h[len(h)-1].Role, "the transfer call is answered in the context")
}

// External tools (run_python for a code executor): the calls go out in the
// response; the next message's results come back as role:tool messages.
func TestAssistantExternalToolCalls(t *testing.T) {
	model := llm.NewReplayResponses(
		llm.Response{Content: "Computing.", ToolCalls: []llm.ToolCall{{ID: "c1", Name: agents.ToolRunPython, Arguments: `{"code": "print(6*7)"}`}}},
		llm.Response{Content: "The answer is 42."},
		llm.Response{ToolCalls: []llm.ToolCall{{ID: "c2", Name: agents.ToolRunPython, Arguments: `{"code": "x"}`}}},
		llm.Response{Content: "ok"},
	)
	a, err := agents.NewAssistant(agents.AssistantConfig{Name: "coder", Client: model, ExternalTools: agents.CodeTools()})
	require.NoError(t, err)
	out := drain(t, a, agents.NewText("user", "6*7?"))
	resp := out[len(out)-1]
	assert.Equal(t, agents.KindText, resp.Kind)
	assert.Equal(t, "Computing.", resp.Content)
	require.Len(t, resp.ToolCalls, 1)
	assert.Equal(t, "c1", resp.ToolCalls[0].ID)
	assert.Contains(t, agents.ChatText(resp), "```python\nprint(6*7)\n```", "others read the call as markdown")

	execReply := agents.NewText("executor", "42")
	execReply.ToolResults = []agents.ToolResult{{CallID: "c1", Name: agents.ToolRunPython, Content: "42"}}
	out = drain(t, a, execReply)
	assert.Equal(t, "The answer is 42.", out[len(out)-1].Content)
	msgs := model.Requests()[1].Messages
	last := msgs[len(msgs)-1]
	assert.Equal(t, llm.Message{Role: llm.RoleTool, ToolCallID: "c1", Content: "42"}, last)

	// A pending call answered by an ordinary message still gets a result
	// (the API needs one per call), then the message follows.
	drain(t, a, agents.NewText("user", "again"))
	drain(t, a, agents.NewText("planner", "stop that"))
	msgs = model.Requests()[3].Messages
	require.GreaterOrEqual(t, len(msgs), 2)
	assert.Equal(t, llm.RoleTool, msgs[len(msgs)-2].Role)
	assert.Equal(t, "c2", msgs[len(msgs)-2].ToolCallID)
	assert.Equal(t, "stop that", msgs[len(msgs)-1].Content)

	// No call is left pending in the saved state.
	st, err := a.SaveState()
	require.NoError(t, err)
	assert.NotContains(t, string(st), "pending_tool_calls")
}

func TestToolCallMarkdownFencesSafely(t *testing.T) {
	md := agents.ToolCallMarkdown(llm.ToolCall{Name: agents.ToolRunPython, Arguments: `{"code": "s = '''` + "```" + `'''"}`})
	assert.True(t, strings.HasPrefix(md, "**run_python**\n````python\n"), md)
	md = agents.ToolResultMarkdown(agents.ToolResult{Name: "f", Content: "x", IsError: true})
	assert.Equal(t, "**f error**\n```\nx\n```", md)
}
