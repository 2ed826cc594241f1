package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/mcp"
)

func TestMCPServersInConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agentteam.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`mcp:
  servers:
    - name: calc
      url: http://127.0.0.1:9/mcp
      headers: {Authorization: "Bearer mcp-SECRET-token"}
      call_timeout: 5s
    - name: files
      command: mcp-files
      args: ["/srv"]
`), 0o600))
	s, _, err := loadSettings(cfg, nil, nil)
	require.NoError(t, err)
	require.Len(t, s.MCP.Servers, 2)
	assert.Equal(t, "calc", s.MCP.Servers[0].Name)
	assert.Equal(t, "5s", s.MCP.Servers[0].CallTimeout.String())
	assert.Equal(t, []string{"/srv"}, s.MCP.Servers[1].Args)
	_, v, err := loadSettings(cfg, nil, nil)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, printConfig(&b, s, v, nil, nil, false))
	assert.NotContains(t, b.String(), "mcp-SECRET-token", "header values are not printed")
	assert.Contains(t, b.String(), "servers: [{name: calc, ")
	assert.Contains(t, mcpSecrets(s), "Bearer mcp-SECRET-token")

	for bad, want := range map[string]string{
		"mcp:\n  servers:\n    - name: x\n":                                         "neither a command nor a url",
		"mcp:\n  servers:\n    - name: x\n      url: http://a\n      colour: red\n": "colour",
		"mcp:\n  servers:\n    - url: http://a\n":                                   "has no name",
	} {
		require.NoError(t, os.WriteFile(cfg, []byte(bad), 0o600))
		_, _, err := loadSettings(cfg, nil, nil)
		assert.ErrorContains(t, err, want, bad)
	}
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// The coder calls a tool of an MCP server configured in mcp.servers.
func TestSolveUsesMCPTools(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OPENAI_API_KEY", testKey)
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server {
		s := sdk.NewServer(&sdk.Implementation{Name: "calc", Version: "1"}, nil)
		sdk.AddTool(s, &sdk.Tool{Name: "add", Description: "Adds."}, func(_ context.Context, _ *sdk.CallToolRequest, in addArgs) (*sdk.CallToolResult, map[string]int, error) {
			return nil, map[string]int{"sum": in.A + in.B}, nil
		})
		return s
	}, nil)
	mcpSrv := httptest.NewServer(h)
	defer mcpSrv.Close()
	coderTurn := 0
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if isPlanner(req) {
			return fakeopenai.Reply{Text: "1. Add with the tool."}
		}
		coderTurn++
		if coderTurn == 1 {
			return fakeopenai.ToolCall("m1", "calc_add", addArgs{A: 40, B: 2})
		}
		if tm := lastToolMessage(req); tm != nil && strings.Contains(tm.Content, `"sum":42`) {
			return fakeopenai.Reply{Text: "The sum is 42.\nTERMINATE"}
		}
		return fakeopenai.Reply{Text: "no result"}
	})
	s := tinySettings(t, srv.URL)
	s.Output.Dir = filepath.Join(dir, "out")
	s.MCP.Servers = append(s.MCP.Servers, mcpServer("calc", mcpSrv.URL))
	var out, errOut syncBuffer
	err := runSolve(context.Background(), &solveOptions{Task: "What is 40+2?", Quiet: true}, s, &out, &errOut)
	require.NoError(t, err, "stdout: %s\nstderr: %s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "The sum is 42.")
	assert.Contains(t, srv.Requests()[1].ToolNames(), "calc_add")
	nb, err := os.ReadFile(filepath.Join(dir, "out", "notebook.ipynb"))
	require.NoError(t, err)
	assert.Contains(t, string(nb), "calc_add", "the call is in the notebook as markdown")
}

func mcpServer(name, url string) mcp.ServerConfig {
	return mcp.ServerConfig{Name: name, URL: url, Prefix: name}
}
