package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/eval"
	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

type evalRun struct {
	code           int
	stdout, stderr string
}

func runEvalBinary(t *testing.T, dir string, env []string, args ...string) evalRun {
	t.Helper()
	bin := buildBinary(t)
	cmd := exec.Command(bin, append([]string{"eval"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "CI=" + os.Getenv("CI"), "TMPDIR=" + os.Getenv("TMPDIR")}, env...)
	var so, se syncBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("eval did not finish: %s %s", so.String(), se.String())
	}
	return evalRun{cmd.ProcessState.ExitCode(), so.String(), se.String()}
}

func readSummary(t *testing.T, out string) eval.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, eval.SummaryJSON))
	require.NoError(t, err)
	var s eval.Summary
	require.NoError(t, json.Unmarshal(b, &s))
	return s
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return bytes.Count(b, []byte("\n"))
}

// The bundled suite with its recorded sessions (what CI runs offline):
// questions run in parallel
// on real sandboxed kernels, are scored, and a second run with the same
// --out solves nothing again.
func TestEvalStarterSuiteReplayAndResume(t *testing.T) {
	jupytertest.Require(t)
	suite, err := filepath.Abs("../../eval/starter")
	require.NoError(t, err)
	dir := t.TempDir()
	out := filepath.Join(dir, "eval out")
	args := []string{suite, "--model", "replay:" + filepath.Join(suite, "replay"), "--jobs", "2", "--out", out}
	r := runEvalBinary(t, dir, nil, args...)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "question 6: right")
	assert.Contains(t, r.stdout, "question 11: wrong", "the recorded session counts outliers with the wrong rule")
	assert.Contains(t, r.stdout, "12 of 13 right")

	s := readSummary(t, out)
	assert.Equal(t, 13, s.Questions)
	assert.Equal(t, 12, s.Correct)
	assert.Equal(t, 0.9231, s.ABQ)
	assert.Equal(t, 0.9231, s.PSAQ)
	assert.Equal(t, 0.95, s.UASQ, "19 of 20 sub-answers")
	assert.Equal(t, 1.0, s.ByLevel["medium"].ABQ)
	assert.Equal(t, 0.6667, s.ByLevel["hard"].ABQ)
	assert.Equal(t, 0.0, s.ByConcept["Outlier Detection"].ABQ)
	assert.Zero(t, s.Usage.Total(), "a replay calls no model: no tokens")
	assert.Equal(t, 13, countLines(t, filepath.Join(out, eval.ResultsFile)))
	assert.Equal(t, 13, countLines(t, filepath.Join(out, eval.ResponsesFile)))
	md, err := os.ReadFile(filepath.Join(out, eval.SummaryMD))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| accuracy by question (ABQ) | 92.31% |")

	// Question 6's notebook shows the failed attempt and its fix.
	nb := filepath.Join(out, "6", "notebook.ipynb")
	validateNotebook(t, nb)
	b, err := os.ReadFile(nb)
	require.NoError(t, err)
	assert.Contains(t, string(b), "KeyError")
	assert.Regexp(t, regexp.MustCompile(`Oslo\s+11`), string(b))
	rep, err := os.ReadFile(filepath.Join(out, "6", "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(rep), "@rainiest_city[Oslo]")

	// Resume: the three are re-scored, none is solved again.
	before, err := os.ReadFile(filepath.Join(out, eval.ResultsFile))
	require.NoError(t, err)
	r = runEvalBinary(t, dir, nil, args...)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	assert.Equal(t, 13, strings.Count(r.stdout, "(from the earlier run)"), r.stdout)
	after, err := os.ReadFile(filepath.Join(out, eval.ResultsFile))
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "nothing was solved again")
	assert.Equal(t, 12, readSummary(t, out).Correct)
}

// A DABench-shaped suite against an OpenAI-compatible endpoint whose
// answers are known: the scores are the reference scorer's.
func TestEvalEndpointScoresLikeTheReference(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	suite := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(filepath.Join(suite, "da-dev-tables"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(suite, "da-dev-tables", "nums.csv"), []byte("x,y\n1,2\n2,4\n3,7\n"), 0o644))
	var qs, ls []string
	// What the model answers for each question (the last line of its
	// final reply), and the labels.
	answers := map[int]string{
		10: "@sum_x[6]",                                    // right
		11: "@mean_y[4.333333]\n@max_y[7.0]",               // 4.333333 is 3.3e-7 off: right; 7.0 = 7: right
		12: "@mean_y[4.34]\n@max_y[7]",                     // one of two right
		13: "I could not compute it.",                      // no answer: wrong
		14: "@count[3]\n@count[4]",                         // the last one given wins: wrong
		15: "@label[Seven]",                                // strings match exactly: wrong
		16: "@ratio[0.5000000001]\n@label[seven]\n@x[1e0]", // all three right
	}
	labels := map[int]string{
		10: `[["sum_x", "6"]]`,
		11: `[["mean_y", "4.333333333"], ["max_y", "7"]]`,
		12: `[["mean_y", "4.33"], ["max_y", "7"]]`,
		13: `[["sum_y", "13"]]`,
		14: `[["count", "3"]]`,
		15: `[["label", "seven"]]`,
		16: `[["ratio", "0.5"], ["label", "seven"], ["x", "1"]]`,
	}
	for id := 10; id <= 16; id++ {
		level := []string{"easy", "medium", "hard"}[id%3]
		qs = append(qs, fmt.Sprintf(`{"id": %d, "question": "Question QID-%d about the numbers.", "concepts": ["Summary Statistics"], "constraints": "Use pandas.", "format": "@answer[value]", "file_name": "nums.csv", "level": %q}`, id, id, level))
		ls = append(ls, fmt.Sprintf(`{"id": %d, "common_answers": %s}`, id, labels[id]))
	}
	require.NoError(t, os.WriteFile(filepath.Join(suite, "da-dev-questions.jsonl"), []byte(strings.Join(qs, "\n")+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(suite, "da-dev-labels.jsonl"), []byte(strings.Join(ls, "\n")+"\n"), 0o644))

	qid := regexp.MustCompile(`QID-(\d+)`)
	srv := fakeopenai.New(t, func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		text := req.Text()
		m := qid.FindStringSubmatch(text)
		if m == nil {
			return fakeopenai.Reply{Status: 400, ErrorMessage: "no question in the request"}
		}
		var id int
		fmt.Sscan(m[1], &id)
		system := req.Messages[0].Content
		if strings.Contains(system, "You are the planner") {
			return fakeopenai.Reply{Text: "1. Load nums.csv and compute the answer."}
		}
		if !strings.Contains(text, "nums_loaded") {
			return fakeopenai.Reply{Text: "```python\nimport pandas as pd\ndf = pd.read_csv('nums.csv')\nprint('nums_loaded', df.shape, df['x'].sum(), df['y'].mean())\n```"}
		}
		return fakeopenai.Reply{Text: "Final answer:\n" + answers[id] + "\nTERMINATE"}
	})
	srv.RequireKey(testKey)

	out := filepath.Join(dir, "out")
	cfgFile := filepath.Join(dir, "agentteam.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("model:\n  prices:\n    - model: test-model\n      prompt: 2\n      completion: 8\n"), 0o644))
	r := runEvalBinary(t, dir, []string{"OPENAI_BASE_URL=" + srv.URL, "OPENAI_API_KEY=" + testKey},
		suite, "--model", "test-model", "--jobs", "3", "--out", out, "--json", "--config", cfgFile)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "--json prints JSON lines: %q", line)
	}
	assert.NotContains(t, r.stdout+r.stderr, testKey)

	// Every request carried the question, its constraints and its format.
	for _, req := range srv.Requests() {
		text := req.Text()
		assert.Contains(t, text, "Use pandas.")
		assert.Contains(t, text, "@answer[value]")
	}

	s := readSummary(t, out)
	// Right: 10, 11, 16 of 7 questions. Sub-answers: 1+2+1+0+0+0+3 = 7 of
	// 11. Proportional: (1 + 1 + 0.5 + 0 + 0 + 0 + 1) / 7.
	assert.Equal(t, 7, s.Questions)
	assert.Equal(t, 3, s.Correct)
	assert.Equal(t, 0.4286, s.ABQ)
	assert.Equal(t, 0.5, s.PSAQ)
	assert.Equal(t, 0.6364, s.UASQ)
	assert.Equal(t, "test-model", s.Model)
	assert.Positive(t, s.Usage.PromptTokens, "the endpoint's token counts are summed")
	require.NotNil(t, s.Cost, "a price table gives a cost")
	assert.InDelta(t, (float64(s.Usage.PromptTokens)*2+float64(s.Usage.CompletionTokens)*8)/1e6, *s.Cost, 1e-9)

	// responses.jsonl is in DABench's format, one per question.
	b, err := os.ReadFile(filepath.Join(out, eval.ResponsesFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 7)
	var first struct {
		ID       int    `json:"id"`
		Response string `json:"response"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, 10, first.ID)
	assert.Contains(t, first.Response, "@sum_x[6]")
	assertNoSecrets(t, solveRun{stdout: r.stdout, stderr: r.stderr, out: out}, testKey)
}

func TestEvalUsageErrors(t *testing.T) {
	suite, err := filepath.Abs("../../eval/starter")
	require.NoError(t, err)
	empty := t.TempDir()
	replay := "replay:" + filepath.Join(suite, "replay")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no suite", []string{"eval"}, "eval needs the suite's directory"},
		{"two suites", []string{"eval", suite, suite}, "one suite directory"},
		{"missing dir", []string{"eval", filepath.Join(empty, "nope"), "--model", replay}, "not an eval suite"},
		{"not a suite", []string{"eval", empty, "--model", replay}, "no questions file"},
		{"bad ids", []string{"eval", suite, "--ids", "1,x", "--model", replay}, `"x" is not one`},
		{"unknown id", []string{"eval", suite, "--ids", "99", "--model", replay}, "no question 99"},
		{"bad level", []string{"eval", suite, "--level", "tricky", "--model", replay}, "easy, medium or hard"},
		{"bad jobs", []string{"eval", suite, "--jobs", "-1", "--model", replay}, "--jobs"},
		{"replay lacks a question", []string{"eval", suite, "--model", "replay:" + empty}, "no recorded session for question 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var so, se bytes.Buffer
			code := Main(append(c.args, "--out", filepath.Join(t.TempDir(), "out")), strings.NewReader(""), &so, &se)
			assert.Equal(t, 2, code, "stderr: %s", se.String())
			assert.Contains(t, se.String(), c.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(se.String()), "\n")+1, "one line: %q", se.String())
		})
	}
}

func TestEvalNoSandboxWarns(t *testing.T) {
	jupytertest.Require(t)
	suite, err := filepath.Abs("../../eval/starter")
	require.NoError(t, err)
	var so, se bytes.Buffer
	out := filepath.Join(t.TempDir(), "out")
	code := Main([]string{"eval", suite, "--ids", "0", "--model", "replay:" + filepath.Join(suite, "replay"), "--no-sandbox", "--out", out}, strings.NewReader(""), &so, &se)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", so.String(), se.String())
	assert.Contains(t, se.String(), "WARNING: the kernels run without the sandbox")
	assert.Contains(t, so.String(), "1 of 1 right")
}

// An error text from a run (it may quote the model or the kernel) reaches
// the progress line without escape sequences and on one line.
func TestEvalProgressLineIsSanitized(t *testing.T) {
	var b bytes.Buffer
	p := newEvalProgress(&b, false, 1)
	p.event(eval.Event{Type: "result", ID: 3, Done: 1, Total: 1, Result: &eval.Result{ID: 3, Error: "model error: \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\nsecond line"}})
	out := b.String()
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.Equal(t, 1, strings.Count(out, "\n"), out)
	assert.Contains(t, out, "question 3: wrong")
	assert.Contains(t, out, "second line")
}
