package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/internal/browsertest"
)

// xss is what hostile model text or kernel output might carry; the page
// must show it as text and never run it.
const xss = `<img src=x onerror="window.__pwned='img'"><script>window.__pwned='script'</script><a href="javascript:window.__pwned='a'">x</a>`

func tinyPNG(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for x := 0; x < 40; x++ {
		for y := 0; y < 20; y++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 6), G: 120, B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// scripted replays the events of a run as a real one sends them, with
// hostile text in the model's answers and the kernel's output. The real
// pipeline behind the page is tested in cmd/agentteam.
func scripted(t *testing.T, gate chan struct{}) Pipeline {
	pngData := tinyPNG(t)
	return PipelineFunc(func(ctx context.Context, job Job, emit func(Event)) Outcome {
		msg := func(m *agents.Message) { emit(Event{Data: map[string]any{"event": "message", "message": m}}) }
		emit(Event{Data: map[string]any{"event": "status", "text": "starting a kernel"}})
		msg(agents.NewText("user", job.Task))
		for _, w := range []string{"Plan:\n", "1. Load the file.\n", "2. Plot it. " + xss} {
			msg(&agents.Message{Kind: agents.KindChunk, Source: "planner", Content: w})
		}
		msg(agents.NewText("planner", "Plan:\n1. Load the file.\n2. Plot it. "+xss))
		code := "import pandas as pd\n# load it\ndf = pd.read_csv('data.csv')\nprint(len(df), \"rows\")\nrole = 'user' # \u202e\u2066 role = 'admin'\u2069\u2066"
		msg(agents.NewText("coder", "Loading the data.\n```python\n"+code+"\n```"))
		msg(&agents.Message{Kind: agents.KindCodeGeneration, Source: "executor", Blocks: []agents.CodeBlock{{Language: "python", Code: code}}})
		outs := []executor.Output{
			{Type: executor.OutputStream, Name: "stdout", Text: "3 rows\n" + xss + "\n"},
			{Type: executor.OutputStream, Name: "stderr", Text: "\x1b[31mwarning\x1b[0m: slow\x07\nloading 10%\rloading 100%\n"},
			{Type: executor.OutputDisplayData, Data: map[string]any{"image/png": pngData, "text/plain": "<Figure size 40x20>"}},
			{Type: executor.OutputDisplayData, Data: map[string]any{"text/html": xss, "image/svg+xml": `<svg onload="window.__pwned='svg'"/>`, "text/plain": "<hostile display>"}},
		}
		for i := range outs {
			msg(&agents.Message{Kind: agents.KindOutput, Source: "executor", Output: &outs[i]})
		}
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return Outcome{Cause: CauseCancelled}
			}
		}
		msg(&agents.Message{Kind: agents.KindCodeExecution, Source: "executor", Executions: []agents.CodeExecution{{
			Block: agents.CodeBlock{Language: "python", Code: code}, Result: &executor.Result{Status: executor.StatusOK, Outputs: outs},
		}}})
		msg(agents.NewText("executor", "exit code: 0"))
		msg(agents.NewText("planner", "The data loaded; step 2 next."))
		msg(agents.NewText("coder", "The file has 3 rows. "+xss+"\nTERMINATE"))
		msg(&agents.Message{Kind: agents.KindStop, Source: "team", Content: "Text 'TERMINATE' mentioned"})
		_ = os.WriteFile(filepath.Join(job.Dir, "report.md"), []byte("# report\n"), 0o644)
		_ = os.WriteFile(filepath.Join(job.Dir, "notebook.ipynb"), []byte(`{"cells":[]}`), 0o644)
		return Outcome{Cause: CauseFinished, Reason: "finished", FinalAnswer: "The file has 3 rows. " + xss}
	})
}

func TestPageStartsAndShowsARunAndRunsNoInjectedCode(t *testing.T) {
	gate := make(chan struct{})
	const tok = "page-token-0123456789abcdef"
	_, hs := newTestServer(t, Config{Pipeline: scripted(t, gate), Token: tok})
	ctx := browsertest.New(t)
	csv := filepath.Join(t.TempDir(), "data.csv")
	require.NoError(t, os.WriteFile(csv, []byte("a,b\n1,2\n3,4\n5,6\n"), 0o644))

	step := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(c, a...), what)
	}
	eval := func(js string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](js))
		require.NoError(t, err, js)
		return v
	}

	// Sign in with the token.
	step("open", chromedp.Navigate(hs.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	step("sign in", chromedp.SendKeys(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS("#login-form button")), chromedp.WaitVisible(chromedp.CSS("#new-run-form")))

	// Start a run from the form, with a file, from the keyboard.
	step("fill the form",
		chromedp.Focus(chromedp.CSS("#task")),
		chromedp.SendKeys(chromedp.CSS("#task"), "Summarise data.csv "+xss),
		chromedp.SetUploadFiles(chromedp.CSS("#files"), []string{csv}),
		chromedp.Focus(chromedp.CSS("#task")),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	)
	step("run view", chromedp.WaitVisible(chromedp.CSS("#run-view")), chromedp.WaitVisible(chromedp.CSS("li.step pre.out")))
	// Live: the kernel's output is on the page before the run is over.
	assert.Equal(t, "running", eval(`document.getElementById("run-status").textContent`))
	assert.Contains(t, eval(`document.querySelector("li.step .outputs").textContent`), "3 rows")
	close(gate)
	step("run ends", chromedp.WaitVisible(chromedp.CSS(`#final`)), void(chromedp.Poll[bool](`document.body.dataset.runEnded !== undefined`)))
	step("downloads", chromedp.WaitVisible(chromedp.CSS("#downloads")))

	assert.Equal(t, "finished", eval(`document.getElementById("run-status").textContent`))
	assert.Contains(t, eval(`document.getElementById("run-task").textContent`), "Summarise data.csv <img src=x")
	assert.Contains(t, eval(`document.querySelector("li.plan").textContent`), "1. Load the file.")
	assert.Contains(t, eval(`document.querySelector("li.reflection").textContent`), "step 2 next")
	assert.Contains(t, eval(`document.querySelector("li.step pre.code").textContent`), "pd.read_csv('data.csv')")
	assert.Equal(t, "import", eval(`document.querySelector("li.step pre.code .tok-kw").textContent`), "code is highlighted")
	assert.Equal(t, "'data.csv'", eval(`document.querySelector("li.step pre.code .tok-str").textContent`))
	assert.Contains(t, eval(`document.querySelector("li.step .outputs").textContent`), xss, "hostile output shown as text")
	// Bidirectional controls in code are shown, not obeyed; colour codes are
	// dropped, other controls shown; a progress line shows its last state.
	codeText := eval(`document.querySelector("li.step pre.code").textContent`)
	assert.Contains(t, codeText, "role = 'user' # <U+202E><U+2066> role = 'admin'<U+2069><U+2066>")
	assert.NotRegexp(t, "[\u202a-\u202e\u2066-\u2069]", codeText)
	assert.Equal(t, "warning: slow\u2407\nloading 100%\n", eval(`document.querySelector("li.step pre.out.stderr").textContent`))
	assert.True(t, strings.HasPrefix(eval(`document.querySelector("li.step figure img").getAttribute("src")`), "data:image/png;base64,iVBOR"))
	assert.Equal(t, "40", eval(`String(document.querySelector("li.step figure img").naturalWidth)`), "the figure decodes")
	assert.Equal(t, "1", eval(`String(document.querySelectorAll("li.step figure img").length)`), "no SVG or HTML output rendered")
	assert.Contains(t, eval(`document.getElementById("final-answer").textContent`), "The file has 3 rows. <img src=x")
	assert.NotContains(t, eval(`document.getElementById("final-answer").textContent`), "TERMINATE")
	assert.Contains(t, eval(`Array.from(document.querySelectorAll("#download-list a")).map(a => a.textContent).join(" ")`), "notebook.ipynb")
	assert.Contains(t, eval(`Array.from(document.querySelectorAll("#download-list a")).map(a => a.textContent).join(" ")`), "inputs/data.csv")
	assert.Contains(t, eval(`document.querySelector("#runs-list a").textContent`), "finished")

	// Nothing hostile ran or became an element.
	assert.Equal(t, "undefined", eval(`typeof window.__pwned`))
	assert.Equal(t, "0", eval(`String(document.querySelectorAll("img[src=x], #timeline script, #final script, a[href^=javascript], svg").length)`))

	// The notebook link downloads with the session cookie.
	href := eval(`document.querySelector("#download-list a").getAttribute("href")`)
	assert.True(t, strings.HasPrefix(href, "/v1/runs/"), href)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	status, err := chromedp.Run(c, chromedp.Evaluate[string](`fetch(document.querySelector("#download-list a").href).then(r => String(r.status))`, chromedp.EvalAwaitPromise))
	cancel()
	require.NoError(t, err)
	assert.Equal(t, "200", status)

	browsertest.Screenshot(t, ctx, browsertest.ScreenshotPath(t, "serve-page-scripted.png"))

	// Keyboard: n goes to a new run with the task field focused.
	step("new run key", chromedp.Focus(chromedp.CSS("#home")), chromedp.KeyEvent("n"), chromedp.WaitVisible(chromedp.CSS("#new-run-form")))
	assert.Equal(t, "task", eval(`document.activeElement.id`))
}

// void drops an action's value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}
