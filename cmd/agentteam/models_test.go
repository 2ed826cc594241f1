package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm/tokens"
)

// checkRequests asserts that every request fit the window less the answer
// budget (a quarter of the window when max_tokens is unset) and carried
// the whole task.
func checkRequests(t *testing.T, srv *fakeopenai.Server, window int, task string) {
	t.Helper()
	tc := tokens.ForModel("fake-model")
	for i, req := range srv.Requests() {
		total := 0
		for _, m := range req.Messages {
			total += tc.Count(m.Content) + tokens.PerMessage + 1500*len(m.Images)
		}
		assert.LessOrEqual(t, total, window-window/4, "request %d fits the window", i)
		assert.Contains(t, req.Text(), task, "request %d carries the task", i)
	}
}

func isPlanner(req *fakeopenai.Request) bool {
	return len(req.Messages) > 0 && strings.Contains(req.Messages[0].Content, "You are the planner")
}

// A model that reasons with code in its reasoning, gets cut off mid-block,
// kills its own kernel between defining a variable and using it, and draws
// a chart it then looks at: the run finishes with the right outputs.
func TestSolveWithARealisticModel(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	task := "Compute the answer and draw it"
	var mu sync.Mutex
	sawImage := false
	step := 0
	srv := fakeopenai.New(t, func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		mu.Lock()
		defer mu.Unlock()
		if isPlanner(req) {
			return fakeopenai.Reply{Reasoning: "Plan it. ```python\nopen('pwned', 'w')\n```", Text: "1. Define x. 2. Use it. 3. Draw.",
				Usage: map[string]any{"prompt_tokens": 100, "completion_tokens": 40, "completion_tokens_details": map[string]any{"reasoning_tokens": 30}}}
		}
		for _, m := range req.Messages {
			if len(m.Images) > 0 {
				sawImage = true
			}
		}
		step++
		switch step {
		case 1:
			return fakeopenai.Reply{Text: "<think>\nMaybe ```python\nopen('pwned', 'w')\n```\n</think>\n```python\nx = 41\nprint('defined')\n```",
				Usage: map[string]any{"prompt_tokens": 200, "completion_tokens": 50, "prompt_tokens_details": map[string]any{"cached_tokens": 120}}}
		case 2:
			return fakeopenai.Reply{Text: "```python\nimport os, signal\nopen('cut', 'w')\nfor i in range(", FinishReason: "length"}
		case 3:
			return fakeopenai.Reply{Text: "```python\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n```"}
		case 4:
			return fakeopenai.Reply{Text: "```python\nprint('answer', x + 1)\n```"}
		case 5:
			return fakeopenai.Reply{Text: "```python\nimport matplotlib.pyplot as plt\nplt.figure(figsize=(16, 8))\nplt.bar(['answer'], [x + 1])\nplt.savefig('answer.png')\nplt.show()\n```"}
		default:
			return fakeopenai.Reply{Text: "The answer is 42, drawn in answer.png. TERMINATE"}
		}
	})
	srv.RequireKey(testKey)
	cfg := "model:\n  prices:\n    - model: fake-model\n      prompt: 2.5\n      completion: 10\n      cached: 1.25\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "agentteam.yaml"), []byte(cfg), 0o644))
	r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
		task, "--model", "fake-model", "--context-window", "8000", "--vision", "--json", "--config", "agentteam.yaml")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)

	nb := readString(t, filepath.Join(r.out, "notebook.ipynb"))
	assert.Contains(t, nb, "answer 42", "x survived the kernel's death")
	var doc struct {
		Cells []struct {
			Type   string   `json:"cell_type"`
			Source []string `json:"source"`
		} `json:"cells"`
	}
	require.NoError(t, json.Unmarshal([]byte(nb), &doc))
	for _, c := range doc.Cells {
		if c.Type == "code" {
			src := strings.Join(c.Source, "")
			assert.NotContains(t, src, "open('cut'", "the cut-off block never ran")
			assert.NotContains(t, src, "pwned", "reasoning never ran")
		}
	}
	_, err := os.Stat(filepath.Join(r.out, "files", "answer.png"))
	require.NoError(t, err)
	for _, f := range []string{"pwned", "cut"} {
		_, err := os.Stat(filepath.Join(r.out, "workspace", f))
		assert.True(t, os.IsNotExist(err), f)
		_, err = os.Stat(filepath.Join(r.out, "files", f))
		assert.True(t, os.IsNotExist(err), f)
	}
	report := readString(t, filepath.Join(r.out, "report.md"))
	assert.Contains(t, report, "The answer is 42")
	assert.Contains(t, report, "- Cost: ")
	assert.Contains(t, report, "(120 cached)")
	assert.Regexp(t, `planner: \d+ \(prompt \d+, completion \d+ \(\d+ reasoning\)\)`, report, "the endpoint's reasoning count")
	assert.Contains(t, report, "  - planner: ")
	assert.True(t, sawImage, "the chart went to the model")
	checkRequests(t, srv, 8000, task)

	// The coder heard what happened to its kernel.
	heard := false
	for _, req := range srv.Requests() {
		if strings.Contains(req.Text(), "restored state by re-running cell 1 in") && strings.Contains(req.Text(), "the crashing cell was not re-run") {
			heard = true
		}
		assert.NotContains(t, req.Text(), "pwned", "reasoning is not sent back")
	}
	assert.True(t, heard, "the model was told the state was restored")

	var summary map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &ev), l)
		if ev["event"] == "summary" {
			summary = ev
		}
	}
	require.NotNil(t, summary)
	assert.Equal(t, "finished", summary["stop_cause"])
	assert.Greater(t, summary["cost"], 0.0)
	byAgent, _ := summary["usage_by_agent"].(map[string]any)
	assert.Contains(t, byAgent, "planner")
	assert.Contains(t, byAgent, "coder")
	assertNoSecrets(t, r, testKey)
	assert.Empty(t, jupytertest.ProcessesMatching(r.out), "no kernel or server left")
}

// 25 steps that each print 8,000 characters, under --context-window 8000.
func TestSolveLongVerboseRunUnderASmallWindow(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	task := "Print the report section by section"
	coder := 0
	var mu sync.Mutex
	srv := fakeopenai.New(t, func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		mu.Lock()
		defer mu.Unlock()
		if isPlanner(req) {
			return fakeopenai.Reply{Text: "1. Print each section."}
		}
		coder++
		if coder > 25 {
			return fakeopenai.Reply{Text: "All 25 sections printed. TERMINATE"}
		}
		return fakeopenai.Reply{Text: fmt.Sprintf("Section %d.\n```python\nsection%d = 'section %d of the report; ' * 400\nprint(section%d[:8000])\n```", coder, coder, coder, coder)}
	})
	r := runSolveBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
		task, "--model", "fake-model", "--context-window", "8000", "--max-turns", "100", "-q")
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "All 25 sections printed")
	nb := readString(t, filepath.Join(r.out, "notebook.ipynb"))
	assert.Contains(t, nb, "section 25 of the report")
	checkRequests(t, srv, 8000, task)
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Contains(t, last.Text(), "Variables now in the kernel: ", "the fold note names the kernel's variables")
	assert.Contains(t, last.Text(), "section24")
}
