package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/browsertest"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// hostileOutput is kernel output a page could be tricked into running.
const hostileOutput = `print('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>')
from IPython.display import HTML, SVG, display
display(HTML('<img src=x onerror="window.__pwned=3"><b id=injected>bold</b>'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=4"><rect width="9" height="9"/></svg>'))
`

// The web page, in a real headless Chromium, against the real server and
// pipeline: sign in, start a run from the form with an uploaded CSV, watch
// it to the end, and check what the page shows. Kernel output that tries
// to run script is shown as text and never runs. The screenshot goes to
// $AGENTTEAM_SCREENSHOT_DIR/serve-page.png when that is set.
func TestServeWebPageRunsATaskFromTheForm(t *testing.T) {
	js := jupytertest.Start(t)
	app := startServe(t, t.TempDir(), "--model", "replay:"+serveReplay(t, hostileOutput), "--jupyter-url", js.URL, "--token", js.Token)
	ctx := browsertest.New(t)
	csv := filepath.Join(t.TempDir(), "sales.csv")
	require.NoError(t, os.WriteFile(csv, salesCSV(t), 0o644))

	step := func(what string, limit time.Duration, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		require.NoError(t, chromedp.Do(c, a...), "%s; server log: %s", what, app.stderr.String())
	}
	eval := func(js string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		require.NoError(t, err, js)
		return v
	}

	step("open", 20*time.Second, chromedp.Navigate(app.url+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	step("sign in", 20*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), serveTestToken), chromedp.Click(chromedp.CSS("#login-form button")),
		chromedp.WaitVisible(chromedp.CSS("#new-run-form")))
	step("start a run", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#task"), "Clean sales.csv and plot revenue by region"),
		chromedp.SetUploadFiles(chromedp.CSS("#files"), []string{csv}),
		chromedp.Click(chromedp.CSS("#start")),
		chromedp.WaitVisible(chromedp.CSS("#run-view")),
	)
	step("the run ends", 3*time.Minute, waitTrue(`document.body.dataset.runEnded !== undefined`), chromedp.WaitVisible(chromedp.CSS("#downloads")))

	assert.Equal(t, "finished", eval(`document.getElementById("run-status").textContent`))
	assert.Contains(t, eval(`document.querySelector("li.plan").textContent`), "Load `sales.csv`")
	assert.Contains(t, eval(`Array.from(document.querySelectorAll("li.reflection")).map(e => e.textContent).join("\n")`), "weight conversion failed")
	assert.GreaterOrEqual(t, atoi(t, eval(`String(document.querySelectorAll("li.step").length)`)), 4)
	assert.Equal(t, "import", eval(`document.querySelector("li.step pre.code .tok-kw").textContent`), "code is highlighted")
	assert.Contains(t, eval(`Array.from(document.querySelectorAll("li.step .outputs")).map(e => e.textContent).join("\n")`), "saved cleaned.csv")
	assert.Contains(t, eval(`document.querySelector("li.step.error").textContent`), "could not convert string to float", "the failed step shows its error")
	// The matplotlib figure is shown inline, from the event stream.
	assert.Equal(t, "true", eval(`String(Array.from(document.querySelectorAll("li.step figure img")).some(i => i.src.startsWith("data:image/png;base64,") && i.naturalWidth > 100))`))
	assert.Contains(t, eval(`document.getElementById("final-answer").textContent`), "14 orders")
	downloads := eval(`Array.from(document.querySelectorAll("#download-list a")).map(a => a.textContent).join(" ")`)
	for _, f := range []string{"notebook.ipynb", "report.md", "transcript.jsonl", "files/cleaned.csv", "files/revenue_by_region.png", "inputs/sales.csv"} {
		assert.Contains(t, downloads, f)
	}
	assert.Equal(t, "200", eval(`fetch(Array.from(document.querySelectorAll("#download-list a")).find(a => a.textContent === "notebook.ipynb").href).then(r => String(r.status))`))

	// The hostile output is on the page as text, and nothing of it ran or
	// became an element.
	outputs := eval(`Array.from(document.querySelectorAll("li.step .outputs")).map(e => e.textContent).join("\n")`)
	assert.Contains(t, outputs, `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`)
	assert.Equal(t, "undefined", eval(`typeof window.__pwned`))
	assert.Equal(t, "0", eval(`String(document.querySelectorAll("#injected, img[src=x], main script, main svg, main iframe").length)`))
	// HTML the kernel displayed is saved as a file, and the server hands it
	// out only as a download in a sandbox.
	if html := eval(`(Array.from(document.querySelectorAll("#download-list a")).find(a => a.textContent.endsWith(".html")) || {href: ""}).href`); html != "" {
		assert.Equal(t, "attachment", eval(`fetch("`+html+`").then(r => (r.headers.get("Content-Disposition") || "").split(";")[0])`))
	}

	browsertest.Screenshot(t, ctx, browsertest.ScreenshotPath(t, "serve-page.png"))
}

// waitTrue waits until a JavaScript expression is true.
func waitTrue(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(5*time.Minute))(ctx, t)
		return chromedp.Void{}, err
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range strings.TrimSpace(s) {
		require.True(t, c >= '0' && c <= '9', s)
		n = n*10 + int(c-'0')
	}
	return n
}
