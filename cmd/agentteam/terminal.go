package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/charmbracelet/lipgloss"
	"golang.org/x/term"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/redact"
	"github.com/agentteam/agentteam/solve"
)

// terminal shows a run as it happens: each message under its agent's name
// as it streams, code highlighted, kernel output (truncated), a spinner while
// waiting (on a terminal only), and a summary. --json prints one JSON event
// per line instead; --quiet only the final answer.
type terminal struct {
	out, err io.Writer
	json     bool
	quiet    bool
	tty      bool
	outw     *redact.Writer // out and err, secrets removed
	errw     *redact.Writer
	enc      *json.Encoder

	mu        sync.Mutex
	speaker   string // whose streamed text is being printed
	inCode    bool
	lineStart bool
	shown     int // output characters shown for the current execution
	spin      *spinner

	name, code, dim, warn lipgloss.Style
}

const maxShownOutput = 4000

// newTerminal writes to out and errw through red: every byte shown has
// its secrets removed, also when one is split across writes.
func newTerminal(out, errw io.Writer, asJSON, quiet bool, red *redact.Redactor) *terminal {
	t := &terminal{json: asJSON, quiet: quiet, lineStart: true, outw: red.Writer(out), errw: red.Writer(errw)}
	t.out, t.err = t.outw, t.errw
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		t.tty = true
	}
	r := lipgloss.NewRenderer(out)
	t.name = r.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	t.code = r.NewStyle().Foreground(lipgloss.Color("10"))
	t.dim = r.NewStyle().Faint(true)
	t.warn = r.NewStyle().Foreground(lipgloss.Color("11"))
	t.enc = json.NewEncoder(t.out)
	return t
}

func (t *terminal) write(s string) {
	io.WriteString(t.out, s)
}

// flush writes what the redactor held back (the start of what might have
// been a secret).
func (t *terminal) flush() {
	_ = t.outw.Flush()
	_ = t.errw.Flush()
}

// note prints a line for people (stderr in --json and --quiet modes).
func (t *terminal) note(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	if t.json {
		t.enc.Encode(map[string]any{"event": "note", "text": s})
		return
	}
	w := t.out
	if t.quiet {
		w = t.err
	}
	io.WriteString(w, t.warn.Render(s)+"\n")
}

// status shows what is being waited for.
func (t *terminal) status(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.json {
		t.enc.Encode(map[string]any{"event": "status", "text": s})
		return
	}
	if t.quiet {
		return
	}
	t.stopSpin()
	if t.tty {
		t.spin = startSpinner(t.out, s)
		return
	}
	t.write(t.dim.Render("… "+s) + "\n")
}

func (t *terminal) stopSpin() {
	if t.spin != nil {
		t.spin.stop()
		t.spin = nil
	}
}

// show renders one message or event.
func (t *terminal) show(m *agents.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.json {
		t.enc.Encode(map[string]any{"event": "message", "message": m})
		return
	}
	if t.quiet {
		return
	}
	switch m.Kind {
	case agents.KindChunk:
		t.stopSpin()
		if t.speaker != m.Source {
			t.header(m.Source)
		}
		t.streamText(m.Content)
	case agents.KindText:
		if m.Source == agents.SourceUser {
			t.header("task")
			t.write(m.Content + "\n")
			t.speaker = ""
			t.waitFor("planner")
			return
		}
		if m.Source == "executor" {
			if t.speaker != "executor" {
				t.header("executor")
				if t.shown == 0 {
					t.write(t.dim.Render(strings.TrimSpace(m.Content)) + "\n")
				}
			}
			t.speaker = ""
			t.waitFor("")
			return
		}
		if t.speaker != m.Source {
			// Not streamed (e.g. a replay without chunks): print it whole.
			t.header(m.Source)
			t.streamText(m.Content)
		}
		if !t.lineStart {
			t.write("\n")
			t.lineStart = true
		}
		t.speaker = ""
		t.inCode = false
		t.waitFor("")
	case agents.KindCodeGeneration:
		t.stopSpin()
		t.header("executor")
		t.shown = 0
		if t.tty {
			t.spin = startSpinner(t.out, "running in the kernel")
		}
	case agents.KindOutput:
		if m.Output != nil {
			t.stopSpin()
			t.output(*m.Output)
		}
	case agents.KindCodeExecution:
		t.stopSpin()
		for _, ex := range m.Executions {
			if r := ex.Result; r != nil && r.Message != "" && r.Status != executor.StatusOK {
				t.write(t.warn.Render("["+string(r.Status)+"] "+r.Message) + "\n")
			}
		}
	case agents.KindStop:
		t.stopSpin()
		t.write("\n" + t.dim.Render("stopped: "+m.Content) + "\n")
	}
}

func (t *terminal) waitFor(next string) {
	if t.tty {
		what := "waiting for the model"
		if next != "" {
			what = next + " is thinking"
		}
		t.spin = startSpinner(t.out, what)
	}
}

func (t *terminal) header(name string) {
	t.stopSpin()
	if !t.lineStart {
		t.write("\n")
	}
	t.write("\n" + t.name.Render("── "+name+" ──") + "\n")
	t.speaker = name
	t.lineStart = true
	t.inCode = false
}

// streamText prints model text, colouring fenced code.
func (t *terminal) streamText(s string) {
	for s != "" {
		i := strings.IndexByte(s, '\n')
		piece := s
		if i >= 0 {
			piece = s[:i+1]
		}
		s = s[len(piece):]
		if t.lineStart && strings.HasPrefix(strings.TrimSpace(piece), "```") {
			t.inCode = !t.inCode
			t.write(t.dim.Render(strings.TrimRight(piece, "\n")))
			if strings.HasSuffix(piece, "\n") {
				t.write("\n")
			}
		} else if t.inCode {
			t.write(t.code.Render(strings.TrimRight(piece, "\n")))
			if strings.HasSuffix(piece, "\n") {
				t.write("\n")
			}
		} else {
			t.write(piece)
		}
		t.lineStart = strings.HasSuffix(piece, "\n")
	}
}

// output prints kernel output as it arrives, up to maxShownOutput
// characters per execution.
func (t *terminal) output(o executor.Output) {
	text := ""
	switch o.Type {
	case executor.OutputStream:
		text = o.Text
	case executor.OutputError:
		text = o.EName + ": " + o.EValue + "\n"
	case executor.OutputExecuteResult, executor.OutputDisplayData:
		if s, ok := o.Data["text/plain"].(string); ok {
			text = s + "\n"
		}
		for _, f := range o.Files {
			text += "[saved " + f + "]\n"
		}
	}
	if text == "" || t.shown > maxShownOutput {
		return
	}
	if t.shown+len(text) > maxShownOutput {
		text = text[:maxShownOutput-t.shown] + "\n… (more output in the notebook)\n"
	}
	t.shown += len(text)
	if o.Type == executor.OutputError || o.Name == "stderr" {
		t.write(t.warn.Render(strings.TrimRight(text, "\n")) + "\n")
	} else {
		t.write(text)
	}
	t.lineStart = strings.HasSuffix(text, "\n")
}

func (t *terminal) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	t.flush()
}

// event renders one event of a run.
func (t *terminal) event(ev solve.Event) {
	if t.json {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopSpin()
		t.enc.Encode(ev)
		return
	}
	switch ev.Type {
	case solve.EventStatus:
		t.status(ev.Text)
	case solve.EventNote:
		t.note(ev.Text)
	case solve.EventMessage:
		t.show(ev.Message)
	case solve.EventSummary:
		t.summary(ev.Summary)
	}
}

// summary closes the run: the final answer and where everything is.
func (t *terminal) summary(s *solve.Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	if t.quiet {
		if s.FinalAnswer != "" {
			t.write(s.FinalAnswer + "\n")
		}
		return
	}
	t.write("\n" + t.name.Render("── summary ──") + "\n")
	tokens := "none"
	if s.Usage != nil {
		tokens = strconv.Itoa(s.Usage.Total())
	}
	fmt.Fprintf(t.out,
		"stop reason: %s\nturns: %d   tokens: %s   time: %s\noutputs: %s (notebook.ipynb, report.md, transcript.jsonl, files/)\n",
		s.Reason, s.Turns, tokens, s.Duration.Round(100*time.Millisecond), s.OutputDir)
	if len(s.Files) > 0 {
		names := make([]string, len(s.Files))
		for i, f := range s.Files {
			names[i] = termName(f)
		}
		t.write("files written by the code: " + strings.Join(names, ", ") + "\n")
	}
	if len(s.Skipped) > 0 {
		t.write(t.warn.Render(fmt.Sprintf("%d files not copied into files/ (too large, links, ...): see report.md", len(s.Skipped))) + "\n")
	}
	if s.Replay {
		t.write(t.warn.Render("(replayed answers: no model was called)") + "\n")
	}
}

// termName shows a file name written by kernel code on the terminal:
// quoted, with escapes, when it holds anything but printable characters.
func termName(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' || r == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}

// spinner animates a waiting line on a terminal.
type spinner struct {
	stopCh chan struct{}
	done   chan struct{}
}

func startSpinner(w io.Writer, what string) *spinner {
	s := &spinner{stopCh: make(chan struct{}), done: make(chan struct{})}
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s %s", frames[i%len(frames)], what)
			select {
			case <-s.stopCh:
				fmt.Fprintf(w, "\r\x1b[2K")
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *spinner) stop() {
	close(s.stopCh)
	<-s.done
}
