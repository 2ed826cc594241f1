package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm"
)

// lastToolMessage is the last role:tool message of a request.
func lastToolMessage(req *fakeopenai.Request) *llm.Message {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == llm.RoleTool {
			return &req.Messages[i]
		}
	}
	return nil
}

// toolEndpoint answers like a planner and a coder that calls tools: the
// coder runs code with run_python, reads the role:tool result, and answers.
// The planner's reply carries the API key, as a hostile endpoint might.
func toolEndpoint(t *testing.T) *fakeopenai.Server {
	coderTurn := 0
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if isPlanner(req) {
			return fakeopenai.Reply{Text: "1. Compute the total. (key " + testKey + ")"}
		}
		coderTurn++
		if coderTurn == 1 {
			r := fakeopenai.ToolCall("call_1", "run_python", map[string]string{"code": "import pandas as pd\ntotal = pd.read_csv('data.csv', thousands=',')['amount'].sum()\nprint('total', total)"})
			r.Text = "Summing the amounts."
			return r
		}
		if tm := lastToolMessage(req); tm != nil && strings.Contains(tm.Content, "total 2250.0") {
			return fakeopenai.Reply{Text: "The total is 2250.\nTERMINATE"}
		}
		return fakeopenai.Reply{Text: "I did not get the output."}
	})
	srv.RequireKey(testKey)
	return srv
}

func readSpans(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var spans []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		spans = append(spans, m)
	}
	return spans
}

// agentteam solve --tool-calls --trace FILE against an endpoint answering
// with tool calls: the code runs in the kernel, its output goes back as a
// role:tool message, and FILE has GenAI spans without the key.
func TestSolveToolCallsAndTrace(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.csv"), []byte(messyCSV), 0o644))
	srv := toolEndpoint(t)
	trace := filepath.Join(dir, "trace.jsonl")
	r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey,
		"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true"},
		"Total the amounts in data.csv", "--model", "fake-model", "--tool-calls", "--trace", trace)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "→ run_python", "the live view shows the call")
	assert.Contains(t, r.stdout, "── summary ──\nfinished\n")

	var coderReqs []*fakeopenai.Request
	for _, req := range srv.Requests() {
		if !isPlanner(req) {
			coderReqs = append(coderReqs, req)
		}
	}
	require.Len(t, coderReqs, 2)
	assert.ElementsMatch(t, []string{"run_python", "run_shell"}, coderReqs[0].ToolNames())
	assert.Contains(t, coderReqs[0].Messages[0].Content, "run_python tool", "the coder is told to call tools")
	tm := lastToolMessage(coderReqs[1])
	require.NotNil(t, tm, "the result came back as a role:tool message")
	assert.Equal(t, "call_1", tm.ToolCallID)
	assert.Contains(t, tm.Content, "total 2250.0")
	msgs := coderReqs[1].Messages
	var prev llm.Message
	for i := range msgs {
		if msgs[i].Role == llm.RoleTool && i > 0 {
			prev = msgs[i-1]
		}
	}
	require.Len(t, prev.ToolCalls, 1, "the assistant message with the call precedes its result")
	assert.Equal(t, "call_1", prev.ToolCalls[0].ID)

	nb, err := os.ReadFile(filepath.Join(r.out, "notebook.ipynb"))
	require.NoError(t, err)
	assert.Contains(t, string(nb), "total 2250.0", "the call's code and output are a notebook cell")
	validateNotebook(t, filepath.Join(r.out, "notebook.ipynb"))
	assertNoSecrets(t, r, testKey)

	raw, err := os.ReadFile(trace)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), testKey, "no secret in the spans")
	spans := readSpans(t, trace)
	names := map[string]map[string]any{}
	for _, s := range spans {
		names[s["name"].(string)] = s["attributes"].(map[string]any)
	}
	require.Contains(t, names, "invoke_agent planner")
	require.Contains(t, names, "invoke_agent coder")
	require.Contains(t, names, "invoke_agent executor")
	require.Contains(t, names, "chat fake-model")
	require.Contains(t, names, "execute_tool run_python")
	chat := names["chat fake-model"]
	assert.Equal(t, "chat", chat["gen_ai.operation.name"])
	assert.Equal(t, "fake-model", chat["gen_ai.request.model"])
	assert.Contains(t, chat, "gen_ai.usage.input_tokens")
	assert.Contains(t, chat, "gen_ai.usage.output_tokens")
	assert.Contains(t, chat, "gen_ai.input.messages", "contents captured when asked")
	exec := names["execute_tool run_python"]
	assert.Equal(t, "call_1", exec["gen_ai.tool.call.id"])
	assert.Equal(t, "ok", exec["agentteam.execution.outcome"])
	assert.NotEmpty(t, exec["agentteam.kernel.id"])
	assert.Contains(t, string(raw), "[REDACTED]", "the key the endpoint echoed was redacted from captured content")
}

func tinySettings(t *testing.T, srvURL string) *Settings {
	t.Helper()
	s, _, err := loadSettings(filepath.Join(t.TempDir(), "none.yaml"), nil, nil)
	if err != nil {
		// No such file: start from the defaults.
		s, _, err = loadSettings("", nil, nil)
	}
	require.NoError(t, err)
	s.Model.Name, s.Model.BaseURL = "fake-model", srvURL
	s.Model.ToolCalls = true
	s.Team.MaxTurns = 12
	return s
}

// --interactive: the coder asks the person, whose answer comes back; and
// --approve: a refusal with its reason goes back to the coder, then "y"
// runs the code.
func TestSolveInteractiveAndApprove(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OPENAI_API_KEY", testKey)
	coderTurn := 0
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if isPlanner(req) {
			return fakeopenai.Reply{Text: "1. Ask which greeting. 2. Print it."}
		}
		coderTurn++
		switch coderTurn {
		case 1:
			r := fakeopenai.ToolCall("h1", "transfer_to_user", map[string]string{})
			r.Text = "Which greeting should I print?"
			return r
		case 2, 3:
			last := req.Messages[len(req.Messages)-1]
			if !strings.Contains(req.Text(), "Bonjour") {
				return fakeopenai.Reply{Text: "no answer seen"}
			}
			if coderTurn == 3 && !strings.Contains(lastToolMessage(req).Content, "not approved: the user refused to run it: use uppercase") {
				return fakeopenai.Reply{Text: "no refusal seen: " + last.Content}
			}
			code := "print('Bonjour')"
			if coderTurn == 3 {
				code = "print('BONJOUR')"
			}
			return fakeopenai.ToolCall("c"+string(rune('0'+coderTurn)), "run_python", map[string]string{"code": code})
		default:
			if tm := lastToolMessage(req); tm != nil && strings.Contains(tm.Content, "BONJOUR") {
				return fakeopenai.Reply{Text: "Printed BONJOUR.\nTERMINATE"}
			}
			return fakeopenai.Reply{Text: "no output seen"}
		}
	})
	s := tinySettings(t, srv.URL)
	var out, errOut syncBuffer
	o := &solveOptions{Task: "Print a greeting", Interactive: true, Approve: true, Quiet: true,
		Stdin: strings.NewReader("Bonjour\nuse uppercase\ny\n")}
	s.Output.Dir = filepath.Join(dir, "out")
	err := runSolve(context.Background(), o, s, &out, &errOut)
	require.NoError(t, err, "stdout: %s\nstderr: %s", out.String(), errOut.String())
	assert.Contains(t, out.String(), "Printed BONJOUR.")
	assert.Contains(t, errOut.String(), "Which greeting should I print?", "the question was asked")
	assert.Contains(t, errOut.String(), "Run this code?")
	nb, err := os.ReadFile(filepath.Join(dir, "out", "notebook.ipynb"))
	require.NoError(t, err)
	assert.Contains(t, string(nb), "coder asks user:")
	assert.Contains(t, string(nb), "**user:** Bonjour")
}

// An unanswered question (end of input) stops the run with a clear reason.
func TestSolveInteractiveEOF(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("OPENAI_API_KEY", testKey)
	srv := fakeopenai.New(t, func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if isPlanner(req) {
			return fakeopenai.Reply{Text: "1. Ask."}
		}
		r := fakeopenai.ToolCall("h1", "transfer_to_user", map[string]string{})
		r.Text = "Which one?"
		return r
	})
	s := tinySettings(t, srv.URL)
	s.Output.Dir = filepath.Join(dir, "out")
	var out, errOut syncBuffer
	o := &solveOptions{Task: "Do it", Interactive: true, Quiet: true, Stdin: strings.NewReader("")}
	err := runSolve(context.Background(), o, s, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no answer from the user")
}
