package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/solve"
)

// hostileReplay is a recorded session whose model text and kernel output
// try to drive the terminal: write the clipboard (OSC 52), retitle the
// window (OSC 0), clear the screen (CSI 2J), a bare ESC, colours, a
// numeric character reference for ESC, and a progress bar.
const hostileReplay = "Plan:\n1. Print some **odd** output.\n2. Say it is done.\n" +
	"---\n" +
	"Printing it now \x1b]0;model-title\x07 and &#x1b;]52;c;bW9kZWw=&#7; here \x1b[2J.\n" +
	"```python\n" +
	"import sys\n" +
	"print('clip\\x1b]52;c;cHduZWQ=\\x07board')\n" +
	"print('title\\x1b]0;pwned\\x07')\n" +
	"print('clear\\x1b[2Jscreen')\n" +
	"print('bare\\x1bescape')\n" +
	"print('\\x1b[31mred\\x1b[0m text')\n" +
	"sys.stderr.write('warn\\x1b[1A\\n')\n" +
	"for i in range(5):\n" +
	"    print(f'\\rprogress {i*25}%', end='', flush=True)\n" +
	"print()\n" +
	"```\n" +
	"---\n" +
	"The output was printed.\n" +
	"---\n" +
	"Done: the odd output was shown. TERMINATE\n"

// ptyRun runs the binary under a pseudo-terminal and returns everything
// the terminal received and the exit status.
func ptyRun(t *testing.T, dir string, cols uint16, env []string, args ...string) (string, int) {
	t.Helper()
	bin := buildBinary(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.Getenv("TMPDIR"),
		"CI=" + os.Getenv("CI"), "TERM=xterm-256color"}, env...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: cols})
	require.NoError(t, err)
	defer ptmx.Close()
	var buf syncBuffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&buf, ptmx) // ends with EIO once the child is gone
		close(copied)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("did not finish: %s", buf.String())
	}
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
	}
	return buf.String(), cmd.ProcessState.ExitCode()
}

var (
	reEsc   = regexp.MustCompile("\x1b")
	reOwnSq = regexp.MustCompile("^\x1b(\\[[0-9;]*m|\\[2K)")
	reLabel = regexp.MustCompile("((?:\x1b\\[[0-9;]*m)+)▌ (task|planner|coder|executor|summary)")
)

// assertOnlyOwnEscapes checks that every escape sequence on screen is one
// agentteam writes itself: colours, and the spinner's erase-line.
func assertOnlyOwnEscapes(t *testing.T, screen string) {
	t.Helper()
	for _, loc := range reEsc.FindAllStringIndex(screen, -1) {
		rest := screen[loc[0]:min(len(screen), loc[0]+24)]
		assert.Regexp(t, reOwnSq, rest, "a foreign escape sequence reached the terminal: %q", rest)
	}
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\x1b[1A", "\x07", "\u009b", "\u009d"} {
		assert.NotContains(t, screen, bad)
	}
}

func writeReplay(t *testing.T, dir, text string) string {
	p := filepath.Join(dir, "session.md")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

func TestLiveViewUnderPTY(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	replay := writeReplay(t, dir, hostileReplay)
	screen, code := ptyRun(t, dir, 100, nil, "solve", "Show odd output", "--model", "replay:"+replay,
		"--no-sandbox", "--out", filepath.Join(dir, "out"))
	require.Equal(t, 0, code, screen)

	t.Run("speakers have their own colours", func(t *testing.T) {
		colours := map[string]string{}
		for _, m := range reLabel.FindAllStringSubmatch(screen, -1) {
			colours[m[2]] = m[1]
		}
		for _, who := range []string{"task", "planner", "coder", "executor", "summary"} {
			assert.NotEmpty(t, colours[who], "%s has a coloured label", who)
		}
		seen := map[string]string{}
		for who, c := range colours {
			if other, dup := seen[c]; dup {
				t.Errorf("%s and %s share the colour %q", who, other, c)
			}
			seen[c] = who
		}
	})
	t.Run("no stop keyword, stop reason once", func(t *testing.T) {
		assert.NotContains(t, screen, "TERMINATE")
		assert.Contains(t, screen, "Done: the odd output was shown.")
		assert.Equal(t, 1, strings.Count(screen, "finished"), "the stop reason is said once")
		assert.NotContains(t, screen, "mentioned")
		assert.NotContains(t, screen, "tokens:", "a replay calls no model: no token count")
	})
	t.Run("no foreign escape sequence", func(t *testing.T) {
		assertOnlyOwnEscapes(t, screen)
		// What was attempted is shown, visibly.
		assert.Contains(t, screen, "clip^[]52;c;cHduZWQ=^Gboard")
		assert.Contains(t, screen, "title^[]0;pwned^G")
		assert.Contains(t, screen, "clear^[[2Jscreen")
		assert.Contains(t, screen, "bare^[escape")
		assert.Contains(t, screen, "^[]0;model-title^G", "model text is sanitized too")
		assert.Contains(t, screen, "&#x1b;]52;c;bW9kZWw=", "a character reference is shown as written")
		assert.NotContains(t, screen, "\x1b[31mred", "the kernel's colours are removed")
		assert.Contains(t, screen, "red text")
	})
	t.Run("progress bar collapsed", func(t *testing.T) {
		assert.Contains(t, screen, "progress 100%")
		assert.NotContains(t, screen, "progress 50%")
	})
	t.Run("code highlighted, markdown rendered", func(t *testing.T) {
		assert.Regexp(t, "\x1b\\[[0-9;]*m(import|sys)", screen, "code is highlighted")
		assert.Regexp(t, "\x1b\\[[0-9;]*modd", screen, "**odd** is rendered bold")
		assert.NotContains(t, screen, "**odd**")
	})
}

func TestLiveViewNoColorAndNotATerminal(t *testing.T) {
	jupytertest.Require(t)
	dir := t.TempDir()
	replay := writeReplay(t, dir, hostileReplay)
	t.Run("NO_COLOR", func(t *testing.T) {
		screen, code := ptyRun(t, dir, 100, []string{"NO_COLOR=1"}, "solve", "Show odd output", "--model", "replay:"+replay,
			"--no-sandbox", "--out", filepath.Join(dir, "out1"))
		require.Equal(t, 0, code, screen)
		assertOnlyOwnEscapes(t, screen)
		assert.NotRegexp(t, "\x1b\\[[0-9;]*m", screen, "no colour at all")
		assert.Contains(t, screen, "── planner ──")
		assert.NotContains(t, screen, "TERMINATE")
		assert.Contains(t, screen, "clip^[]52;c;cHduZWQ=^Gboard")
	})
	t.Run("pipe", func(t *testing.T) {
		r := runSolveBinary(t, dir, nil, "Show odd output", "--model", "replay:"+replay, "--no-sandbox")
		require.Equal(t, 0, r.code, r.stdout+r.stderr)
		assert.NotContains(t, r.stdout, "\x1b", "no escape at all when stdout is not a terminal")
		assert.NotContains(t, r.stdout, "\x07")
		assert.NotContains(t, r.stdout, "\r")
		assert.NotContains(t, r.stdout, "TERMINATE")
		assert.Contains(t, r.stdout, "── coder ──")
		assert.Contains(t, r.stdout, "**odd**", "markdown is left as written")
		assert.Contains(t, r.stdout, "title^[]0;pwned^G")
	})
}

// feed plays a run's events into a terminal.
func feed(tm *terminal, msgs ...*agents.Message) string {
	for _, m := range msgs {
		tm.show(m)
	}
	tm.done()
	return tm.rawOut.(*bytes.Buffer).String()
}

func chunks(source, text string, n int) []*agents.Message {
	var out []*agents.Message
	for len(text) > 0 {
		k := min(n, len(text))
		out = append(out, &agents.Message{Kind: agents.KindChunk, Source: source, Content: text[:k]})
		text = text[k:]
	}
	return out
}

func TestTerminalNarrowWrapsProse(t *testing.T) {
	var buf bytes.Buffer
	tm := newTerminalWith(&buf, io.Discard, termOptions{TTY: true, Color: true, Width: 30})
	text := "This paragraph is much longer than thirty columns and has to wrap to fit a narrow terminal.\n\n```python\nx = 1\n```\nTERMINATE"
	msgs := append(chunks("coder", text, 3), agents.NewText("coder", text))
	out := feed(tm, msgs...)
	plain := regexp.MustCompile("\x1b\\[[0-9;]*[mK]|\r").ReplaceAllString(out, "")
	assert.Contains(t, plain, "narrow")
	for _, l := range strings.Split(plain, "\n") {
		if strings.Contains(l, "is writing") || strings.Contains(l, "waiting") {
			continue // spinner lines are cut to the width too, but erased
		}
		assert.LessOrEqual(t, len([]rune(l)), 30, "line wider than the terminal: %q", l)
	}
	assert.NotContains(t, out, "TERMINATE", "a keyword split across chunks is still dropped")
	assert.Contains(t, plain, "│ x = 1")
}

func TestTerminalKeepOnlySGR(t *testing.T) {
	assert.Equal(t, "\x1b[1mok\x1b[0m ^[]52;x^G ^[[2J", keepOnlySGR("\x1b[1mok\x1b[0m \x1b]52;x\x07 \x1b[2J"))
}

func TestTerminalErrorsStandOut(t *testing.T) {
	var buf bytes.Buffer
	tm := newTerminalWith(&buf, io.Discard, termOptions{TTY: true, Color: true, Width: 80})
	out := feed(tm,
		&agents.Message{Kind: agents.KindCodeGeneration, Source: "executor"},
		&agents.Message{Kind: agents.KindOutput, Source: "executor", Output: &executor.Output{Type: executor.OutputError, EName: "ValueError", EValue: "bad \x1b]0;x\x07"}},
		&agents.Message{Kind: agents.KindCodeExecution, Source: "executor", Executions: []agents.CodeExecution{{Result: &executor.Result{Status: executor.StatusTimeout, Message: "cell timed out after 1s"}}}},
	)
	assert.Contains(t, out, tm.errS.Render("✗ ValueError: bad ^[]0;x^G"))
	assert.Contains(t, out, tm.errS.Render("✗ timeout: cell timed out after 1s"))
	assert.Contains(t, out, "\x1b[1;91m", "errors are bold bright red")
}

func TestSummarySaysTheStopOnceInPlainWords(t *testing.T) {
	cases := []struct {
		sum  solve.Summary
		want string
	}{
		{solve.Summary{Cause: solve.Finished, Reason: "finished"}, "finished"},
		{solve.Summary{Cause: solve.MaxTurns, Reason: "30 turns reached"}, "stopped: 30 turns reached"},
		{solve.Summary{Cause: solve.Timeout, Reason: "time limit of 10m0s reached"}, "stopped: time limit of 10m0s reached"},
		{solve.Summary{Cause: solve.ModelError, Reason: "model error: the model endpoint rejected the API key"}, "stopped: model error: the model endpoint rejected the API key"},
		{solve.Summary{Cause: solve.Cancelled, Reason: "interrupted by SIGINT"}, "interrupted"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		tm := newTerminalWith(&buf, io.Discard, termOptions{})
		s := c.sum
		tm.summary(&s)
		assert.Contains(t, buf.String(), "── summary ──\n"+c.want+"\n")
		assert.NotContains(t, buf.String(), "tokens")
	}
	var buf bytes.Buffer
	tm := newTerminalWith(&buf, io.Discard, termOptions{})
	tm.summary(&solve.Summary{Cause: solve.Finished, Usage: &llm.Usage{PromptTokens: 120, CompletionTokens: 30}})
	assert.Contains(t, buf.String(), "tokens: 150 (prompt 120, completion 30)", "the endpoint's own count")
	buf.Reset()
	tm.summary(&solve.Summary{Cause: solve.Finished, Replay: true, Usage: &llm.Usage{PromptTokens: 120}})
	assert.NotContains(t, buf.String(), "tokens", "no model was called")
}

func TestExecSanitizesKernelOutput(t *testing.T) {
	jupytertest.Require(t)
	bin := buildBinary(t)
	cmd := exec.Command(bin, "exec", "--no-sandbox", "--workdir", t.TempDir(), "-c",
		"import sys\nprint('a\\x1b]52;c;cHduZWQ=\\x07b\\x1b[2J\\x1b]0;t\\x07\\x1bc')\nsys.stderr.write('e\\x1b[31mred\\n')\nraise ValueError('\\x1b]0;title\\x07')")
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v %s", err, errb.String())
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, out.String(), "a^[]52;c;cHduZWQ=^Gb^[[2J^[]0;t^G^[c")
	assert.Contains(t, errb.String(), "ered")
	assert.NotContains(t, out.String()+errb.String(), "\x1b")
	assert.NotContains(t, out.String()+errb.String(), "\x07")
}

func TestUsageErrorUnderPTYIsRedOneLine(t *testing.T) {
	dir := t.TempDir()
	screen, code := ptyRun(t, dir, 80, nil, "solve", "Clean data.csv", "--fil", "data.csv")
	assert.Equal(t, 2, code)
	assert.Equal(t, "\x1b[1;91magentteam:\x1b[0m unknown flag --fil: did you mean --file? (see 'agentteam solve --help')\r\n", screen)
	screen, code = ptyRun(t, dir, 80, []string{"NO_COLOR=1"}, "solve", "Clean", "the", "data")
	assert.Equal(t, 2, code)
	assert.Equal(t, "agentteam: the task must be one argument: quote it, as in agentteam solve \"Clean the data\" (see 'agentteam solve --help')\r\n", screen)
}

func TestLightBackgroundFromCOLORFGBG(t *testing.T) {
	for v, want := range map[string]bool{"0;15": true, "0;default;7": true, "15;0": false, "7;8": false, "": false, "x;y": false} {
		t.Setenv("COLORFGBG", v)
		assert.Equal(t, want, lightBackground(), v)
	}
	t.Setenv("COLORFGBG", "0;15")
	var buf bytes.Buffer
	tm := newTerminalWith(&buf, io.Discard, termOptions{TTY: true, Color: true, Width: 80})
	out := feed(tm, append(chunks("coder", "```python\nimport os\n```\n", 4), agents.NewText("coder", ""))...)
	assert.NotContains(t, out, "38;5;231m", "no white code on a light background")
	assert.Contains(t, out, "import")
}

func TestTerminalReasoningToolsAndHandoffs(t *testing.T) {
	var buf bytes.Buffer
	tm := newTerminalWith(&buf, io.Discard, termOptions{TTY: true, Color: true, Width: 80})
	var msgs []*agents.Message
	for _, p := range []string{"Let me th", "ink.\nThe data has \x1b]0;x\x07 dates.\nI will say TERMINATE lat", "er"} {
		msgs = append(msgs, &agents.Message{Kind: agents.KindReasoning, Source: "planner", Reasoning: p})
	}
	msgs = append(msgs, chunks("planner", "1. Load it.", 4)...)
	msgs = append(msgs, &agents.Message{Kind: agents.KindText, Source: "planner", Content: "1. Load it.", Reasoning: "Let me think.\n…"})
	msgs = append(msgs,
		&agents.Message{Kind: agents.KindToolCall, Source: "coder", ToolCalls: []llm.ToolCall{{ID: "1", Name: "run_python", Arguments: `{"code":"print(1)"}`}}},
		&agents.Message{Kind: agents.KindToolResult, Source: "coder", ToolResults: []agents.ToolResult{{Name: "run_python", Content: "Trace\x1b[2J", IsError: true}}},
		&agents.Message{Kind: agents.KindHandoff, Source: "coder", Target: "planner"},
	)
	out := feed(tm, msgs...)
	plain := regexp.MustCompile("(\r[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏][^\r]*)+\r\x1b\\[2K").ReplaceAllString(out, "")
	plain = regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(plain, "")
	assert.Equal(t, 1, strings.Count(plain, "▌ planner"), plain)
	assert.Contains(t, plain, "  Let me think.\n  The data has ^[]0;x^G dates.\n  I will say later\n\n1. Load it.", plain)
	assert.Contains(t, out, tm.dimS.Render("  Let me think."), "reasoning is dimmed")
	assert.NotContains(t, out, "TERMINATE")
	assert.Equal(t, 1, strings.Count(plain, "Let me think."), "streamed reasoning is not shown twice")
	assert.Contains(t, plain, "▌ coder\n→ run_python\n│ print(1)\n← run_python: Trace^[[2J\n→ hands over to planner\n", "code calls show their code")
	assert.Contains(t, out, tm.errS.Render("← run_python: Trace^[[2J"), "a failed tool call is an error")

	// A reply that was not streamed shows its reasoning once, before it.
	buf.Reset()
	tm = newTerminalWith(&buf, io.Discard, termOptions{})
	out = feed(tm, &agents.Message{Kind: agents.KindText, Source: "coder", Content: "Done.", Reasoning: "Short thought."})
	assert.Equal(t, "\n── coder ──\n  Short thought.\n\nDone.\n", out)
}

// Python runs a carriage return in code as a line break: the code shown
// live must show what runs after it and what runs before it, never only
// the part after the last carriage return (which would hide a statement
// from the person watching).
func TestLiveViewShowsCodeHiddenBehindCarriageReturns(t *testing.T) {
	text := "Loading the data.\n```python\nimport os; print('HIDDEN STATEMENT')\r# load the data\n```\n"
	for _, o := range []termOptions{{TTY: true, Color: true, Width: 100}, {}} {
		var buf bytes.Buffer
		tm := newTerminalWith(&buf, io.Discard, o)
		out := feed(tm, append(chunks("coder", text, 7), agents.NewText("coder", text))...)
		plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(out, "")
		assert.Contains(t, plain, "HIDDEN STATEMENT", "tty=%v", o.TTY)
		assert.Contains(t, plain, "# load the data", "tty=%v", o.TTY)
		assert.NotContains(t, plain, "\r#", "tty=%v", o.TTY)
	}
}
