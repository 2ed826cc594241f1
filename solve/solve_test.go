package solve

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
)

const testKey = "sk-solve-SECRET-4711"

const pricesCSV = "item,price,date\nGreen tea 250g,$18.90,05/01/2024\nMug,$7.50,06/01/2024\n<b>bold</b>,$2.01,07/01/2024\n"

// team answers as a planner and a coder would, by the system prompt.
type fakeTeam struct {
	planner []string
	coder   []string
}

func (tm fakeTeam) handler() fakeopenai.Handler {
	p, c := 0, 0
	next := func(list []string, i *int) string {
		s := list[min(*i, len(list)-1)]
		*i++
		return s
	}
	return func(_ int, req *fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(req.Messages[0].Content, "You are the planner") {
			return fakeopenai.Reply{Text: next(tm.planner, &p)}
		}
		return fakeopenai.Reply{Text: next(tm.coder, &c)}
	}
}

func model(t *testing.T, h fakeopenai.Handler) (llm.Client, *fakeopenai.Server) {
	t.Helper()
	srv := fakeopenai.New(t, h)
	srv.RequireKey(testKey)
	c, err := openai.New(openai.Config{BaseURL: srv.URL, APIKey: testKey, Model: "fake-model", MaxRetries: -1})
	require.NoError(t, err)
	return c, srv
}

func remoteConfig(js *jupytertest.Server, m llm.Client) Config {
	return Config{
		Model:   m,
		Session: session.Config{URL: js.URL, Token: js.Token},
		Secrets: []string{testKey, js.Token},
	}
}

// collect runs a task to the end.
func collect(t *testing.T, ctx context.Context, r *Runner, task Task) ([]Event, *Summary, error) {
	t.Helper()
	var evs []Event
	var sum *Summary
	var runErr error
	for ev, err := range r.Run(ctx, task) {
		if err != nil {
			runErr = err
			continue
		}
		evs = append(evs, ev)
		if ev.Type == EventSummary {
			sum = ev.Summary
		}
	}
	require.NotNil(t, sum, "a run always ends with a summary")
	return evs, sum, runErr
}

func validateNotebook(t *testing.T, path string) *notebook.Notebook {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c",
		"import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	nb, err := notebook.ReadFile(path)
	require.NoError(t, err)
	return nb
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func assertNoSecret(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, s := range secrets {
			assert.NotContains(t, string(b), s, "secret in %s", p)
		}
		return nil
	})
}

// A finished run: the events, the summary, a notebook that tells the story
// (title, data, plan, steps, reflections), one file per figure, the report.
func TestRunFinished(t *testing.T) {
	js := jupytertest.Start(t)
	tm := fakeTeam{
		planner: []string{"1. Load prices.csv.\n2. Plot the prices (they cost $18.90 and $7.50).", "The plot is done; give the final answer."},
		coder: []string{
			"Plotting.\n```python\nimport pandas as pd\nimport matplotlib.pyplot as plt\nfrom IPython.display import display\n" +
				"df = pd.read_csv('prices.csv')\ndf['p'] = df['price'].str.strip('$').astype(float)\nfig = df.plot.bar(x='item', y='p').get_figure()\ndisplay(fig)\nprint('plotted', len(df))\n```",
			"Saving the chart.\n```python\nfig.savefig('chart.png')\ndisplay(fig)\nprint('saved')\n```",
			"The items cost $18.90, $7.50 and $2.01; see chart.png.\nTERMINATE",
		},
	}
	m, _ := model(t, tm.handler())
	out := t.TempDir()
	r, err := New(Config{Model: m, Session: session.Config{URL: js.URL, Token: js.Token}, Secrets: []string{testKey, js.Token}, OutDir: out, Version: "v9.9.9-test"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	evs, sum, err := collect(t, ctx, r, Task{Text: "Plot the prices in prices.csv <script>alert(1)</script>", Files: []File{{Name: "prices.csv", Data: []byte(pricesCSV)}}})
	require.NoError(t, err)

	assert.Equal(t, Finished, sum.Cause, sum.Reason)
	assert.Equal(t, "finished", sum.Reason)
	assert.True(t, sum.Finished())
	assert.Equal(t, "The items cost $18.90, $7.50 and $2.01; see chart.png.", sum.FinalAnswer)
	require.NotNil(t, sum.Usage, "a model was called")
	assert.Greater(t, sum.Usage.Total(), 0)
	assert.Equal(t, out, sum.OutputDir)
	assert.Equal(t, []string{"chart.png"}, sum.Files)
	assert.Equal(t, EventStatus, evs[0].Type)
	assert.Equal(t, EventSummary, evs[len(evs)-1].Type)

	// One file per figure: step 1's displayed figure gets a step name;
	// step 2 saved its figure itself, so its displayed copy is not saved.
	entries, err := os.ReadDir(filepath.Join(out, "files"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"chart.png", "step01-fig1.png"}, names)

	nb := validateNotebook(t, filepath.Join(out, "notebook.ipynb"))
	require.GreaterOrEqual(t, len(nb.Cells), 6)
	title := nb.Cells[0]
	assert.Equal(t, notebook.Markdown, title.CellType, "the title comes first")
	assert.Contains(t, title.Source, "prices.csv")
	assert.Contains(t, title.Source, "fake-model")
	assert.Contains(t, title.Source, "**Sandboxed kernel:** no")
	assert.Contains(t, title.Source, "&lt;script&gt;", "the task's HTML is text")
	assert.NotContains(t, title.Source, "<script>")
	// The data inspection: hidden code, output as preformatted text.
	insp := nb.Cells[2]
	require.Equal(t, notebook.Code, insp.CellType)
	assert.Equal(t, map[string]any{"source_hidden": true}, insp.Metadata["jupyter"])
	require.NotEmpty(t, insp.Outputs)
	assert.Equal(t, "stream", insp.Outputs[0].OutputType)
	assert.Contains(t, insp.Outputs[0].Text, "shape: 3 rows x 3 columns")
	var plan, steps, reflection int
	for _, c := range nb.Cells[3:] {
		switch {
		case c.CellType == notebook.Markdown && strings.HasPrefix(c.Source, "### Plan"):
			plan++
			assert.Contains(t, c.Source, `\$18.90`, "money is not math")
			assert.NotRegexp(t, `[^\\]\$`, c.Source)
		case c.CellType == notebook.Markdown && strings.HasPrefix(c.Source, "### Reflection"):
			reflection++
		case c.CellType == notebook.Code:
			steps++
			assert.NotEmpty(t, c.Outputs)
		case c.CellType == notebook.Markdown:
			assert.NotRegexp(t, `[^\\]\$`, c.Source, "every $ is escaped: %q", c.Source)
		}
	}
	assert.Equal(t, 1, plan)
	assert.Equal(t, 2, steps)
	assert.GreaterOrEqual(t, reflection, 1)
	md := nb.Metadata["agentteam"].(map[string]any)
	assert.Equal(t, "fake-model", md["model"])
	assert.Equal(t, "v9.9.9-test", md["version"])
	assert.Equal(t, false, md["sandboxed"])
	assert.Equal(t, "finished", md["stop_cause"])
	assert.NotNil(t, md["usage"])

	report := readFile(t, filepath.Join(out, "report.md"))
	assert.Contains(t, report, "## Final answer\n\nThe items cost \\$18.90")
	assert.Contains(t, report, "files/step01-fig1.png")
	assert.Contains(t, report, "files/chart.png")
	assert.NotContains(t, report, "TERMINATE")
	assert.NotContains(t, report, "<script>")
	assertNoSecret(t, out, testKey, js.Token)

	// The events are the JSON lines of `solve --json`.
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		var back Event
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, ev.Type, back.Type)
		if ev.Type == EventSummary {
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			for _, k := range []string{"event", "stop_reason", "stop_cause", "finished", "turns", "tokens", "duration_ms", "output_dir", "files", "final_answer", "replay"} {
				assert.Contains(t, m, k)
			}
			assert.Equal(t, true, m["finished"])
		}
	}
	assert.Eventually(t, func() bool { return len(js.KernelPids()) == 0 }, 10*time.Second, 50*time.Millisecond, "the kernel is shut down")
}

// Each way a run stops has its cause, its reason in plain words, and a
// report that says why there is no answer.
func TestRunStopCauses(t *testing.T) {
	js := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	t.Run("max turns", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1. Think."}, coder: []string{"Still thinking, no code yet."}}.handler())
		cfg := remoteConfig(js, m)
		cfg.MaxTurns = 4
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		_, sum, err := collect(t, ctx, r, Task{Text: "Think"})
		require.NoError(t, err, "running out of turns is not an error")
		assert.Equal(t, MaxTurns, sum.Cause)
		assert.Equal(t, "4 turns reached", sum.Reason)
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "## No final answer\n\nThe run ended without a final answer: 4 turns reached.")
		assert.NotContains(t, report, "## Final answer")
	})
	t.Run("loop", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1. Divide."}, coder: []string{"```python\n1/0\n```"}}.handler())
		cfg := remoteConfig(js, m)
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		_, sum, err := collect(t, ctx, r, Task{Text: "Divide"})
		require.NoError(t, err)
		assert.Equal(t, Loop, sum.Cause)
		assert.Equal(t, "loop: the same failing code was sent 3 times", strings.Replace(sum.Reason, "loop detected: ", "", 1))
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "The last step: step 3 ran `1/0` and raised ZeroDivisionError: division by zero.")
	})
	t.Run("model error", func(t *testing.T) {
		srv := fakeopenai.New(t, fakeopenai.Script("never"))
		srv.RequireKey("the-right-key")
		c, err := openai.New(openai.Config{BaseURL: srv.URL, APIKey: testKey, Model: "m", MaxRetries: -1})
		require.NoError(t, err)
		cfg := remoteConfig(js, c)
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		_, sum, err := collect(t, ctx, r, Task{Text: "Hi"})
		require.Error(t, err)
		assert.Equal(t, ModelError, CauseOf(err))
		assert.ErrorIs(t, err, llm.ErrAuth)
		assert.Equal(t, ModelError, sum.Cause)
		assert.True(t, strings.HasPrefix(sum.Reason, "model error: the model endpoint rejected the API key (HTTP 401)"), sum.Reason)
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "without a final answer: model error: the model endpoint rejected the API key (HTTP 401)")
		assert.Contains(t, report, "No code had run.")
		assertNoSecret(t, cfg.OutDir, testKey, js.Token)
	})
	t.Run("kernel refused", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1."}, coder: []string{"TERMINATE"}}.handler())
		cfg := remoteConfig(js, m)
		cfg.Session.Token = "wrong-token-0123456789"
		cfg.Secrets = append(cfg.Secrets, cfg.Session.Token)
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		_, sum, err := collect(t, ctx, r, Task{Text: "Hi"})
		require.Error(t, err)
		assert.Equal(t, KernelError, CauseOf(err))
		assert.Equal(t, KernelError, sum.Cause)
		assert.Contains(t, sum.Reason, "the Jupyter server refused the token (HTTP 403)")
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "the Jupyter server refused the token (HTTP 403)")
		assertNoSecret(t, cfg.OutDir, "wrong-token-0123456789", js.Token)
	})
	t.Run("timeout", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1. Count."}, coder: []string{slowCount}}.handler())
		cfg := remoteConfig(js, m)
		cfg.OutDir = t.TempDir()
		cfg.Timeout = 6 * time.Second
		r, err := New(cfg)
		require.NoError(t, err)
		start := time.Now()
		_, sum, err := collect(t, ctx, r, Task{Text: "Count slowly"})
		require.NoError(t, err, "a time limit is not an error")
		assert.Less(t, time.Since(start), 40*time.Second)
		assert.Equal(t, Timeout, sum.Cause)
		assert.Equal(t, "time limit of 6s reached", sum.Reason)
		assertInterruptedCell(t, cfg.OutDir)
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "without a final answer: time limit of 6s reached at step 1.")
		assert.Contains(t, report, "The last step: step 1 ran `import time` and was interrupted; its last output was: counted ")
	})
	t.Run("cancelled", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1. Count."}, coder: []string{slowCount}}.handler())
		cfg := remoteConfig(js, m)
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		cctx, ccancel := context.WithCancelCause(ctx)
		defer ccancel(nil)
		var sum *Summary
		var runErr error
		outputs := 0
		for ev, err := range r.Run(cctx, Task{Text: "Count slowly"}) {
			if err != nil {
				runErr = err
				continue
			}
			if ev.Type == EventMessage && ev.Message.Kind == agents.KindOutput {
				if outputs++; outputs == 5 {
					ccancel(errTestStop)
				}
			}
			if ev.Type == EventSummary {
				sum = ev.Summary
			}
		}
		require.NotNil(t, sum)
		assert.Equal(t, Cancelled, sum.Cause)
		assert.Equal(t, Cancelled, CauseOf(runErr))
		assert.ErrorIs(t, runErr, errTestStop)
		assert.Equal(t, "interrupted (test stop)", sum.Reason)
		assertInterruptedCell(t, cfg.OutDir)
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "without a final answer: interrupted (test stop) at step 1.")
	})
	t.Run("caller breaks", func(t *testing.T) {
		m, _ := model(t, fakeTeam{planner: []string{"1. Count."}, coder: []string{slowCount}}.handler())
		cfg := remoteConfig(js, m)
		cfg.OutDir = t.TempDir()
		r, err := New(cfg)
		require.NoError(t, err)
		start := time.Now()
		outputs := 0
		for ev, err := range r.Run(ctx, Task{Text: "Count slowly"}) {
			require.NoError(t, err)
			if ev.Type == EventMessage && ev.Message.Kind == agents.KindOutput {
				if outputs++; outputs == 5 {
					break
				}
			}
		}
		assert.Less(t, time.Since(start), 40*time.Second)
		// The outputs are written before Run returns.
		assertInterruptedCell(t, cfg.OutDir)
		report := readFile(t, filepath.Join(cfg.OutDir, "report.md"))
		assert.Contains(t, report, "without a final answer: interrupted (the caller stopped the run) at step 1.")
	})
	assert.Eventually(t, func() bool { return len(js.KernelPids()) == 0 }, 10*time.Second, 50*time.Millisecond, "every kernel is shut down")
}

var errTestStop = &testStop{}

type testStop struct{}

func (*testStop) Error() string { return "test stop" }

// slowCount prints a line every 50ms for a long time.
const slowCount = "Counting slowly.\n```python\nimport time\nfor i in range(100000):\n    print('counted', i, flush=True)\n    time.sleep(0.05)\n```"

// assertInterruptedCell checks that the cell that was running is in the
// notebook with the output it had, marked interrupted.
func assertInterruptedCell(t *testing.T, dir string) {
	t.Helper()
	nb := validateNotebook(t, filepath.Join(dir, "notebook.ipynb"))
	var cell *notebook.Cell
	for _, c := range nb.CodeCells() {
		if strings.Contains(c.Source, "counted") {
			cell = c
		}
	}
	require.NotNil(t, cell, "the running cell is kept")
	assert.Equal(t, map[string]any{"interrupted": true}, cell.Metadata["agentteam"])
	var text strings.Builder
	for _, o := range cell.Outputs {
		text.WriteString(o.Text)
	}
	assert.Contains(t, text.String(), "counted 0\n")
	assert.Contains(t, text.String(), "counted 3\n")
	assert.Contains(t, text.String(), "[agentteam] interrupted")
}

// A model endpoint that fails its check ends the run as a model error while
// the kernel is still starting; the team never runs.
func TestRunChecksTheModelWhileTheKernelStarts(t *testing.T) {
	jupytertest.Require(t)
	m, srv := model(t, fakeTeam{planner: []string{"1."}, coder: []string{"TERMINATE"}}.handler())
	out := t.TempDir()
	cfg := Config{Model: m, OutDir: out, Session: session.Config{Sandbox: local.SandboxConfig{Disabled: true}},
		CheckModel: func(ctx context.Context) error {
			return &llm.APIError{Kind: llm.ErrUnreachable, Message: "connection refused"}
		}}
	r, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, sum, err := collect(t, ctx, r, Task{Text: "Hi"})
	require.Error(t, err)
	assert.ErrorIs(t, err, llm.ErrUnreachable)
	assert.Equal(t, ModelError, sum.Cause)
	assert.Equal(t, "model error: model endpoint unreachable: connection refused", sum.Reason)
	assert.Empty(t, srv.Requests(), "the team never ran")
	assert.Contains(t, readFile(t, filepath.Join(out, "report.md")), "without a final answer: model error: model endpoint unreachable")
	assert.Empty(t, jupytertest.ProcessesMatching(out), "no server or kernel left")
}

// When a message's second block is interrupted, the first keeps its output,
// the second is marked interrupted with the output it had, and the third
// is marked as not run.
func TestRunInterruptedInTheSecondBlock(t *testing.T) {
	js := jupytertest.Start(t)
	three := "Three blocks.\n```python\nprint('first block')\n```\n" +
		"```python\nimport time\nfor i in range(100000):\n    print('counted', i, flush=True)\n    time.sleep(0.05)\n```\n" +
		"```python\nprint('never')\n```"
	m, _ := model(t, fakeTeam{planner: []string{"1. Count."}, coder: []string{three}}.handler())
	cfg := remoteConfig(js, m)
	cfg.OutDir = t.TempDir()
	cfg.Timeout = 6 * time.Second
	r, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, sum, err := collect(t, ctx, r, Task{Text: "Count"})
	require.NoError(t, err)
	assert.Equal(t, Timeout, sum.Cause)
	assertInterruptedCell(t, cfg.OutDir)
	nb := validateNotebook(t, filepath.Join(cfg.OutDir, "notebook.ipynb"))
	cells := nb.CodeCells()
	var first, never *notebook.Cell
	for _, c := range cells {
		switch {
		case strings.Contains(c.Source, "first block"):
			first = c
		case strings.Contains(c.Source, "never"):
			never = c
		}
	}
	require.NotNil(t, first)
	require.NotNil(t, never)
	require.Len(t, first.Outputs, 1)
	assert.Equal(t, "first block\n", first.Outputs[0].Text)
	assert.Nil(t, first.Metadata["agentteam"])
	assert.Equal(t, map[string]any{"not_run": true}, never.Metadata["agentteam"])
	assert.Empty(t, never.Outputs)
	assert.Contains(t, readFile(t, filepath.Join(cfg.OutDir, "report.md")), "The last step: step 1 ran `import time` and was interrupted")
}
