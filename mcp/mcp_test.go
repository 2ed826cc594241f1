package mcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/mcp"
)

type addIn struct {
	A int `json:"a" jsonschema:"the first number"`
	B int `json:"b" jsonschema:"the second number"`
}

type addOut struct {
	Sum int `json:"sum"`
}

type envIn struct {
	Name string `json:"name"`
}

// newServer is a small MCP server: add, fail, and env (which reports an
// environment variable of the server's process).
func newServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "calc", Version: "1"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "add", Description: "Adds two numbers."}, func(_ context.Context, _ *sdk.CallToolRequest, in addIn) (*sdk.CallToolResult, addOut, error) {
		return nil, addOut{Sum: in.A + in.B}, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Always fails."}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return nil, nil, errors.New("the disk is on fire")
	})
	sdk.AddTool(s, &sdk.Tool{Name: "env", Description: "Reads an environment variable."}, func(_ context.Context, _ *sdk.CallToolRequest, in envIn) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "value=" + os.Getenv(in.Name)}}}, nil, nil
	})
	return s
}

// The test binary is also a stdio MCP server when asked to be.
func TestMain(m *testing.M) {
	if os.Getenv("AGENTTEAM_TEST_MCP_SERVER") == "1" {
		if err := newServer().Run(context.Background(), &sdk.StdioTransport{}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func byName(tools []agents.Tool) map[string]agents.Tool {
	out := map[string]agents.Tool{}
	for _, t := range tools {
		out[t.Definition().Name] = t
	}
	return out
}

func checkTools(t *testing.T, s *mcp.Session) {
	t.Helper()
	ctx := context.Background()
	tools, err := s.Tools(ctx)
	require.NoError(t, err)
	m := byName(tools)
	require.Contains(t, m, "add")
	def := m["add"].Definition()
	assert.Equal(t, "Adds two numbers.", def.Description)
	assert.Contains(t, string(def.Parameters), `"the first number"`)
	out, err := m["add"].Call(ctx, `{"a": 2, "b": 40}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"sum":42}`, out)
	_, err = m["fail"].Call(ctx, `{}`)
	assert.ErrorContains(t, err, "the disk is on fire")
	_, err = m["add"].Call(ctx, `{"a": "x"}`)
	assert.Error(t, err, "the server checks the arguments")
}

func TestInProcessServer(t *testing.T) {
	ct, st := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := newServer().Connect(ctx, st, nil)
	require.NoError(t, err)
	defer ss.Close()
	s, err := mcp.ConnectTransport(ctx, mcp.ServerConfig{Name: "calc"}, ct)
	require.NoError(t, err)
	defer s.Close()
	checkTools(t, s)
}

func TestStreamableHTTPServer(t *testing.T) {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return newServer() }, nil)
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s, err := mcp.Connect(context.Background(), mcp.ServerConfig{Name: "calc", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer t0k3n"},
		Tools: []string{"add", "fail"}, Prefix: "calc"})
	require.NoError(t, err)
	defer s.Close()
	tools, err := s.Tools(context.Background())
	require.NoError(t, err)
	m := byName(tools)
	assert.Len(t, m, 2, "only the listed tools")
	require.Contains(t, m, "calc_add")
	out, err := m["calc_add"].Call(context.Background(), `{"a": 1, "b": 2}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"sum":3}`, out)
	assert.Equal(t, "Bearer t0k3n", auth)
}

// A stdio server runs with a minimal environment: secrets of the caller's
// environment do not reach it.
func TestStdioServer(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-should-not-leak")
	exe, err := os.Executable()
	require.NoError(t, err)
	s, err := mcp.Connect(context.Background(), mcp.ServerConfig{Name: "calc", Command: exe, Env: map[string]string{"AGENTTEAM_TEST_MCP_SERVER": "1", "GREETING": "hi"}})
	require.NoError(t, err)
	checkTools(t, s)
	tools, err := s.Tools(context.Background())
	require.NoError(t, err)
	env := byName(tools)["env"]
	out, err := env.Call(context.Background(), `{"name": "OPENAI_API_KEY"}`)
	require.NoError(t, err)
	assert.Equal(t, "value=", out)
	out, err = env.Call(context.Background(), `{"name": "GREETING"}`)
	require.NoError(t, err)
	assert.Equal(t, "value=hi", out)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the stdio server hangs")
	}
}

func TestBadConfigFailsFast(t *testing.T) {
	for _, cfg := range []mcp.ServerConfig{{Name: "x"}, {Name: "x", Command: "a", URL: "http://b"}, {Name: "x", URL: "ftp://b"}} {
		_, err := mcp.Connect(context.Background(), cfg)
		assert.ErrorIs(t, err, mcp.ErrConfig)
	}
	start := time.Now()
	_, err := mcp.Connect(context.Background(), mcp.ServerConfig{Name: "gone", Command: "/nonexistent/mcp-server"})
	assert.ErrorContains(t, err, `mcp server "gone"`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = mcp.Connect(ctx, mcp.ServerConfig{Name: "closed", URL: "http://127.0.0.1:1/mcp"})
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 10*time.Second)
}

// An assistant calls an MCP tool like any other.
func TestAssistantUsesMCPTool(t *testing.T) {
	ct, st := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := newServer().Connect(ctx, st, nil)
	require.NoError(t, err)
	defer ss.Close()
	s, err := mcp.ConnectTransport(ctx, mcp.ServerConfig{Name: "calc"}, ct)
	require.NoError(t, err)
	defer s.Close()
	tools, err := s.Tools(ctx)
	require.NoError(t, err)
	model := llm.NewReplayResponses(llm.ToolCallReply("add", map[string]int{"a": 20, "b": 22}), llm.Response{Content: "42"})
	a, err := agents.NewAssistant(agents.AssistantConfig{Client: model, Tools: tools, ReflectOnToolUse: true})
	require.NoError(t, err)
	resp, err := agents.Respond(ctx, a, []*agents.Message{agents.NewText("user", "20+22?")}, nil)
	require.NoError(t, err)
	assert.Equal(t, "42", resp.Content)
	msgs := model.Requests()[1].Messages
	assert.JSONEq(t, `{"sum":42}`, msgs[len(msgs)-1].Content)
}
