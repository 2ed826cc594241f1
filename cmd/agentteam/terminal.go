package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/chroma/v2/quick"
	"github.com/charmbracelet/glamour"
	"github.com/charmbracelet/glamour/styles"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/redact"
	"github.com/agentteam/agentteam/solve"
)

// terminal shows a run as it happens, for a person: each speaker under its
// own label and colour, the model's markdown rendered and its code
// highlighted, kernel output as it arrives (truncated), errors in red, a
// spinner while waiting, and a summary with the stop reason in plain words.
// --json prints one JSON event per line instead; --quiet only the final
// answer.
//
// Everything untrusted (model text, kernel output, the task) is passed
// through sanitizeText before it is rendered, so the only escape sequences
// that reach the terminal are the colours added here. With NO_COLOR there
// are none; when stdout is not a terminal the text is printed as it is
// (sanitized), without spinners.
//
// The renderer does not care where events come from: show adapts an
// agents.Message to the methods speak, said, running, output, executed and
// stopped.
type terminal struct {
	out, err io.Writer
	json     bool
	quiet    bool
	tty      bool // stdout is a terminal: spinners, rendered markdown
	color    bool // colours (a terminal without NO_COLOR)
	width    int
	red      *redact.Redactor
	outw     *redact.Writer // out and err, secrets removed
	rawOut   io.Writer      // what outw writes to
	errw     *redact.Writer
	enc      *json.Encoder

	mu       sync.Mutex
	speaker  string    // whose streamed text is being printed
	md       *mdStream // the speaker's text not yet rendered
	lineOut  bool      // the last thing written ended a line
	shown    int       // output characters shown for the current execution
	lines    map[string]*lineBuffer
	spin     *spinner
	gap      bool        // a blank line is due before the next segment of the turn
	thinking *lineBuffer // the speaker's reasoning not yet shown
	thought  bool        // the speaker's reasoning was streamed

	glam    *glamour.TermRenderer
	profile termenv.Profile
	label   map[string]lipgloss.Style
	errS    lipgloss.Style
	warnS   lipgloss.Style
	dimS    lipgloss.Style
}

// stopKeyword ends a run when the coder or planner says it; it is never
// shown.
const stopKeyword = "TERMINATE"

const maxShownOutput = 4000

// speakerColors: one colour per speaker (ANSI colour numbers, so that they
// hold on 16-colour terminals).
var speakerColors = map[string]string{
	"task":     "15",
	"planner":  "13",
	"coder":    "14",
	"executor": "12",
	"summary":  "10",
	"error":    "9",
}

// newTerminal writes to out and errw through red: every byte shown has
// its secrets removed, also a secret split across writes.
func newTerminal(out, errw io.Writer, asJSON, quiet bool, red *redact.Redactor) *terminal {
	tty, width := false, 80
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			width = w
		}
	} else if w, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && w > 0 {
		width = w
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	color := tty && !noColor && os.Getenv("TERM") != "dumb"
	return newTerminalWith(out, errw, termOptions{JSON: asJSON, Quiet: quiet, TTY: tty, Color: color, Width: width, Redactor: red})
}

// termOptions say what the terminal can do; newTerminal finds them out.
type termOptions struct {
	JSON, Quiet bool
	TTY         bool // spinners and rendered markdown
	Color       bool
	Width       int
	Secrets     []string
	// Redactor removes secrets from all output; Secrets are added to it.
	Redactor *redact.Redactor
}

func newTerminalWith(out, errw io.Writer, o termOptions) *terminal {
	red := o.Redactor
	if red == nil {
		red = redact.New()
	}
	red.Add(o.Secrets...)
	t := &terminal{red: red, outw: red.Writer(out), errw: red.Writer(errw), json: o.JSON, quiet: o.Quiet, lineOut: true,
		lines: map[string]*lineBuffer{}, tty: o.TTY, color: o.Color && o.TTY, width: max(o.Width, 20)}
	t.out, t.err, t.rawOut = t.outw, t.errw, out
	r := lipgloss.NewRenderer(out)
	t.profile = termenv.Ascii
	if t.color {
		t.profile = r.ColorProfile()
		if t.profile == termenv.Ascii {
			t.profile = termenv.ANSI
		}
	}
	r.SetColorProfile(t.profile)
	t.label = map[string]lipgloss.Style{}
	for name, c := range speakerColors {
		t.label[name] = r.NewStyle().Bold(true).Foreground(lipgloss.Color(c))
	}
	t.errS = r.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
	t.warnS = r.NewStyle().Foreground(lipgloss.Color("11"))
	t.dimS = r.NewStyle().Faint(true)
	if t.tty {
		t.glam = newMarkdownRenderer(t.color, t.profile, t.width)
	}
	t.enc = json.NewEncoder(t.out)
	return t
}

// newMarkdownRenderer renders prose for the terminal: glamour's dark style
// (or its plain one without colour), no margin, wrapped to the width.
func newMarkdownRenderer(color bool, profile termenv.Profile, width int) *glamour.TermRenderer {
	style := styles.ASCIIStyleConfig
	if color {
		style = styles.DarkStyleConfig
		if lightBackground() {
			style = styles.LightStyleConfig
		}
	}
	zero := uint(0)
	style.Document.Margin = &zero
	style.Document.BlockPrefix, style.Document.BlockSuffix = "", ""
	style.Document.Color = nil
	r, err := glamour.NewTermRenderer(
		glamour.WithStyles(style),
		glamour.WithColorProfile(profile),
		glamour.WithWordWrap(min(width, 100)-1),
	)
	if err != nil {
		return nil
	}
	return r
}

// write prints text that is already safe (sanitized, or agentteam's own),
// with secrets removed.
func (t *terminal) write(s string) {
	if s == "" {
		return
	}
	t.stopSpin()
	io.WriteString(t.out, s)
	t.lineOut = strings.HasSuffix(s, "\n")
}

// endLine makes sure what follows starts on a new line.
func (t *terminal) endLine() {
	if !t.lineOut {
		t.write("\n")
	}
}

// clean makes untrusted text safe to print: secrets out, then every control
// sequence.
func (t *terminal) clean(s string) string {
	return sanitizeText(t.red.String(s))
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
	s = t.clean(s)
	if t.quiet {
		io.WriteString(t.err, s+"\n")
		return
	}
	t.endLine()
	t.write(t.warnS.Render(s) + "\n")
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
	s = t.clean(s)
	if t.tty {
		t.startSpin(s)
		return
	}
	t.endLine()
	t.write(t.dimS.Render("… "+s) + "\n")
}

func (t *terminal) startSpin(what string) {
	t.stopSpin()
	t.endLine()
	if n := t.width - 3; len([]rune(what)) > n {
		what = string([]rune(what)[:n-1]) + "…"
	}
	t.spin = startSpinner(t.out, what)
}

func (t *terminal) stopSpin() {
	if t.spin != nil {
		t.spin.stop()
		t.spin = nil
	}
}

// show renders one message or event of a run.
func (t *terminal) show(m *agents.Message) {
	if t.json {
		t.mu.Lock()
		t.enc.Encode(map[string]any{"event": "message", "message": m})
		t.mu.Unlock()
		return
	}
	switch m.Kind {
	case agents.KindChunk:
		t.speak(m.Source, m.Content)
	case agents.KindText:
		t.said(m.Source, m.Content, m.Reasoning)
	case agents.KindCodeGeneration:
		t.running()
	case agents.KindOutput:
		if m.Output != nil {
			t.output(*m.Output)
		}
	case agents.KindCodeExecution:
		for _, ex := range m.Executions {
			if r := ex.Result; r != nil {
				t.executed(r.Status, r.Message)
			}
		}
	case agents.KindStop:
		t.stopped(m.Content)
	case agents.KindReasoning:
		t.think(m.Source, m.Reasoning+m.Content)
	case agents.KindToolCall:
		// The code of run_python/run_shell calls is shown like fenced code.
		t.toolCalls(m)
	case agents.KindToolResult:
		for _, r := range m.ToolResults {
			t.aside(m.Source, "← "+r.Name+": "+truncateRunes(r.Content, 500), r.IsError)
		}
	case agents.KindHandoff:
		if m.Target == agents.SourceUser {
			t.aside(m.Source, "→ asks you: "+m.Content, false)
		} else {
			t.aside(m.Source, "→ hands over to "+m.Target, false)
		}
	}
}

// think shows a piece of a model's reasoning as it streams: dimmed, by
// whole lines, before the reply.
func (t *terminal) think(source, piece string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet || piece == "" {
		return
	}
	if t.speaker != source {
		t.header(source)
	}
	t.thought = true
	if t.thinking == nil {
		t.thinking = &lineBuffer{}
	}
	t.printThought(t.thinking.add(piece))
	if t.tty && t.spin == nil {
		t.startSpin(source + " is thinking")
	}
}

func (t *terminal) printThought(text string) {
	text = strings.Trim(dropKeyword(t.clean(text)), "\n")
	if strings.TrimSpace(text) == "" {
		return
	}
	t.endLine()
	for _, l := range strings.Split(text, "\n") {
		t.write(t.dimS.Render("  "+l) + "\n")
	}
	t.gap = true
}

// flushThinking ends a reasoning before the reply.
func (t *terminal) flushThinking() {
	if t.thinking != nil {
		t.printThought(t.thinking.flush())
		t.thinking = nil
	}
}

// aside shows one line about what an agent did (a tool call, a handoff).
func (t *terminal) aside(source, line string, isErr bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	if t.speaker != source {
		t.header(source)
	}
	t.flushThinking()
	t.endLine()
	st := t.dimS
	if isErr {
		st = t.errS
	}
	t.write(st.Render(t.clean(strings.ReplaceAll(line, "\n", " "))) + "\n")
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// speak shows a piece of a speaker's streaming text.
func (t *terminal) speak(source, chunk string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	if t.speaker != source {
		t.header(source)
	}
	if t.md == nil {
		t.md = &mdStream{}
	}
	t.flushThinking()
	t.render(t.md.feed(chunk))
	if t.tty && t.spin == nil {
		t.startSpin(source + " is writing")
	}
}

// said shows a speaker's whole message (the end of what it streamed).
func (t *terminal) said(source, content, reasoning string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	switch source {
	case agents.SourceUser:
		t.header("task")
		t.write(t.clean(strings.TrimRight(content, "\n")) + "\n")
		t.speaker = ""
		t.waitFor("planner")
		return
	case "executor":
		t.flushOutput()
		if t.speaker != "executor" {
			t.header("executor")
		}
		if t.shown == 0 {
			t.write(t.dimS.Render(t.clean(strings.TrimSpace(content))) + "\n")
		}
		t.speaker = ""
		t.waitFor("")
		return
	}
	if t.speaker != source {
		t.header(source)
	}
	t.flushThinking()
	if !t.thought && reasoning != "" {
		t.printThought(reasoning) // not streamed
	}
	if t.md == nil {
		// Not streamed (e.g. a replay without chunks): all of it at once.
		t.md = &mdStream{}
		t.render(t.md.feed(content))
	}
	t.render(t.md.finish())
	t.md = nil
	t.speaker = ""
	t.waitFor("")
}

// running: the coder's code goes to the kernel.
func (t *terminal) running() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	t.header("executor")
	t.shown = 0
	if t.tty {
		t.startSpin("running in the kernel")
	}
}

// executed: the kernel finished a block; a status other than ok is shown
// as an error.
func (t *terminal) executed(status executor.Status, message string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	t.stopSpin()
	t.flushOutput()
	if message != "" && status != executor.StatusOK {
		t.endLine()
		t.write(t.errS.Render("✗ "+string(status)+": "+t.clean(message)) + "\n")
	}
}

// stopped: the team's own stop message is not shown (it names the stop
// keyword); the summary says how the run ended, once.
func (t *terminal) stopped(string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
}

func (t *terminal) waitFor(next string) {
	if t.tty {
		what := "waiting for the model"
		if next != "" {
			what = next + " is thinking"
		}
		t.startSpin(what)
	}
}

// header starts a speaker's turn: its label in its colour.
func (t *terminal) header(name string) {
	t.stopSpin()
	t.flushOutput()
	t.flushThinking()
	if t.md != nil {
		t.render(t.md.finish())
		t.md = nil
	}
	t.endLine()
	st, ok := t.label[name]
	if !ok {
		st = t.label["executor"]
	}
	label := t.clean(name)
	if t.color {
		t.write("\n" + st.Render("▌ "+label) + "\n")
	} else {
		t.write("\n── " + label + " ──\n")
	}
	t.speaker = name
	t.gap = false
	t.thought = false
}

// render prints finished segments of a speaker's text: prose as markdown,
// code highlighted.
//
// Segments are separated by one blank line, written before the next one,
// so that a speaker's turn never ends with blank lines.
func (t *terminal) render(segs []mdSegment) {
	for _, s := range segs {
		if s.code {
			if strings.TrimSpace(s.text) != "" {
				t.gapLine()
				t.renderCode(s.lang, s.text)
				t.gap = true
			}
			continue
		}
		text := strings.Trim(dropKeyword(t.clean(s.text)), "\n")
		if strings.TrimSpace(text) == "" {
			continue
		}
		t.gapLine()
		t.gap = true
		if t.glam != nil {
			if r, err := t.glam.Render(neutralizeEntities(text)); err == nil {
				t.write(tidyRendered(keepOnlySGR(r)) + "\n")
				continue
			}
		}
		t.write(text + "\n")
	}
}

// gapLine separates a segment from the one before it in the same turn.
func (t *terminal) gapLine() {
	t.endLine()
	if t.gap {
		t.write("\n")
		t.gap = false
	}
}

func (t *terminal) renderCode(lang, code string) {
	// Python runs a carriage return in code as a line break: show it as
	// one, rather than letting it hide what came before it on the line.
	code = t.clean(strings.ReplaceAll(strings.ReplaceAll(code, "\r\n", "\n"), "\r", "\n"))
	if strings.TrimSpace(code) == "" {
		return
	}
	if !strings.HasSuffix(code, "\n") {
		code += "\n"
	}
	t.endLine()
	if !t.tty {
		t.write("```" + t.clean(lang) + "\n" + code + "```\n")
		return
	}
	if lang == "" {
		lang = "python"
	}
	formatter := map[termenv.Profile]string{termenv.TrueColor: "terminal16m", termenv.ANSI256: "terminal256", termenv.ANSI: "terminal16"}[t.profile]
	if formatter != "" {
		var b strings.Builder
		theme := "monokai"
		if lightBackground() {
			theme = "monokailight"
		}
		if err := quick.Highlight(&b, code, lang, formatter, theme); err == nil {
			code = keepOnlySGR(b.String())
		}
	}
	gutter := t.dimS.Render("│") + " "
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		t.write(gutter + l + t.reset() + "\n")
	}
}

// reset ends any colour left open (after highlighted code).
func (t *terminal) reset() string {
	if t.color {
		return "\x1b[0m"
	}
	return ""
}

// output prints kernel output as it arrives, up to maxShownOutput
// characters per execution; lines of a stream are printed when they end.
func (t *terminal) output(o executor.Output) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	t.stopSpin()
	switch o.Type {
	case executor.OutputStream:
		lb := t.lines[o.Name]
		if lb == nil {
			lb = &lineBuffer{}
			t.lines[o.Name] = lb
		}
		t.printOutput(o.Name, lb.add(o.Text))
	case executor.OutputError:
		t.flushOutput()
		t.printOutput("error", o.EName+": "+o.EValue+"\n")
	case executor.OutputExecuteResult, executor.OutputDisplayData:
		t.flushOutput()
		t.printOutput("stdout", executor.OutputText(o))
	}
	if t.tty && t.spin == nil {
		t.startSpin("running in the kernel")
	}
}

// flushOutput prints what is left of unfinished output lines.
func (t *terminal) flushOutput() {
	for _, name := range []string{"stdout", "stderr"} {
		if lb := t.lines[name]; lb != nil {
			if s := lb.flush(); s != "" {
				t.printOutput(name, s+"\n")
			}
		}
	}
}

func (t *terminal) printOutput(kind, text string) {
	if text == "" || t.shown > maxShownOutput {
		return
	}
	text = t.clean(text)
	if t.shown+len(text) > maxShownOutput {
		cut := maxShownOutput - t.shown
		for cut > 0 && cut < len(text) && text[cut]&0xC0 == 0x80 {
			cut--
		}
		text = text[:cut] + "\n… (more output in the notebook)\n"
	}
	t.shown += len(text)
	t.endLine()
	switch kind {
	case "error":
		t.write(t.errS.Render("✗ "+strings.TrimRight(text, "\n")) + "\n")
	case "stderr":
		t.write(t.warnS.Render(strings.TrimRight(text, "\n")) + "\n")
	default:
		t.write(text)
	}
}

func (t *terminal) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	t.flushOutput()
	if t.md != nil {
		t.render(t.md.finish())
		t.md = nil
	}
	// What the redactor held back (the start of what might have been a
	// secret, and was not).
	_ = t.outw.Flush()
	_ = t.errw.Flush()
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
		if ev.Message != nil {
			t.show(ev.Message)
		}
	case solve.EventSummary:
		if ev.Summary != nil {
			t.summary(ev.Summary)
		}
	}
}

// stopLine says once, in plain words, how a run ended.
func stopLine(s *solve.Summary) string {
	switch {
	case s.Finished():
		return "finished"
	case s.Cause == solve.Cancelled:
		return "interrupted"
	case s.Reason == "":
		return "stopped"
	}
	return "stopped: " + s.Reason
}

// summary closes the run: how it ended, the figures and where everything
// is. Token counts are the endpoint's own; there are none when no model
// was called.
func (t *terminal) summary(s *solve.Summary) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	if t.quiet {
		if answer := strings.TrimSpace(dropKeyword(t.clean(s.FinalAnswer))); answer != "" {
			t.write(answer + "\n")
		}
		return
	}
	t.header("summary")
	t.speaker = ""
	rs := t.label["summary"]
	if !s.Finished() {
		rs = t.errS
	}
	t.write(rs.Render(t.clean(stopLine(s))) + "\n")
	figs := fmt.Sprintf("turns: %d", s.Turns)
	if s.Usage != nil && !s.Replay && s.Usage.Total() > 0 {
		figs += "   tokens: " + solve.UsageText(*s.Usage)
	}
	if s.Cost != nil && !s.Replay {
		figs += "   cost: " + solve.CostText(*s.Cost)
	}
	figs += "   time: " + s.Duration.Round(100*time.Millisecond).String()
	t.write(figs + "\n")
	if s.OutputDir != "" {
		t.write("outputs: " + t.clean(s.OutputDir) + " (notebook.ipynb, report.md, transcript.jsonl, files/)\n")
	}
	if len(s.Files) > 0 {
		t.write("files written by the code: " + t.clean(strings.Join(s.Files, ", ")) + "\n")
	}
	if len(s.Skipped) > 0 {
		t.write(t.warnS.Render(fmt.Sprintf("%d files not copied into files/ (too large, links, ...): see report.md", len(s.Skipped))) + "\n")
	}
	if s.Replay {
		t.write(t.warnS.Render("(replayed answers: no model was called)") + "\n")
	}
}

// dropKeyword removes the stop keyword from text shown to a person, and
// lines left empty by it.
func dropKeyword(s string) string {
	if !strings.Contains(s, stopKeyword) {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if !strings.Contains(l, stopKeyword) {
			b.WriteString(l)
			continue
		}
		c := reKeyword.ReplaceAllString(l, "")
		if strings.TrimSpace(c) == "" {
			continue
		}
		b.WriteString(c)
	}
	return b.String()
}

var reKeyword = regexp.MustCompile(`[ \t]*\b` + stopKeyword + `\b[.!]?`)

// lightBackground reports whether the terminal says (in COLORFGBG, set by
// rxvt, Konsole and others) that its background is light. Asking the
// terminal itself would mean reading its answer from stdin.
func lightBackground() bool {
	v := os.Getenv("COLORFGBG")
	i := strings.LastIndexByte(v, ';')
	if i < 0 {
		return false
	}
	bg, err := strconv.Atoi(v[i+1:])
	return err == nil && (bg == 7 || bg >= 9 && bg <= 15)
}

// tidyRendered drops the padding glamour adds: spaces at the ends of lines
// and blank lines around the text.
func tidyRendered(s string) string {
	s = reTrailingPad.ReplaceAllString(s, "$1")
	return strings.Trim(s, "\n")
}

var reTrailingPad = regexp.MustCompile(`(?m) +((?:\x1b\[[0-9;]*m)*)$`)

// neutralizeEntities stops the markdown renderer from decoding numeric
// character references (&#27; is ESC) into control characters: they are
// shown as written.
func neutralizeEntities(s string) string {
	return strings.ReplaceAll(s, "&#", "&amp;#")
}

// keepOnlySGR is a last line of defence on rendered text: colour sequences
// (agentteam's own) stay, any other escape or control character is made
// visible.
func keepOnlySGR(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := sgrLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		j := i
		for j < len(s) && s[j] != 0x1b {
			j++
		}
		if j == i { // a lone ESC that is not a colour
			b.WriteString("^[")
			j++
		} else {
			b.WriteString(sanitizeText(s[i:j]))
		}
		i = j
	}
	return b.String()
}

// mdSegment is a finished piece of a speaker's text: a paragraph of prose
// or a fenced code block.
type mdSegment struct {
	code bool
	lang string
	text string
}

// mdStream cuts streamed markdown into segments that can be rendered on
// their own: prose paragraphs at blank lines, code blocks at their fences.
type mdStream struct {
	partial string
	prose   strings.Builder
	code    strings.Builder
	inCode  bool
	fence   string
	lang    string
}

func (m *mdStream) feed(s string) []mdSegment {
	m.partial += s
	var out []mdSegment
	for {
		i := strings.IndexByte(m.partial, '\n')
		if i < 0 {
			break
		}
		line := m.partial[:i+1]
		m.partial = m.partial[i+1:]
		out = append(out, m.line(line)...)
	}
	return out
}

func (m *mdStream) line(line string) []mdSegment {
	trimmed := strings.TrimSpace(line)
	if m.inCode {
		if strings.HasPrefix(trimmed, m.fence) && strings.Trim(trimmed, m.fence[:1]) == "" {
			seg := mdSegment{code: true, lang: m.lang, text: m.code.String()}
			m.code.Reset()
			m.inCode = false
			return []mdSegment{seg}
		}
		m.code.WriteString(line)
		return nil
	}
	if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
		out := m.flushProse()
		n := 0
		for n < len(trimmed) && trimmed[n] == trimmed[0] {
			n++
		}
		m.inCode, m.fence, m.lang = true, trimmed[:n], strings.TrimSpace(trimmed[n:])
		return out
	}
	m.prose.WriteString(line)
	if trimmed == "" {
		return m.flushProse()
	}
	return nil
}

func (m *mdStream) flushProse() []mdSegment {
	s := m.prose.String()
	m.prose.Reset()
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return []mdSegment{{text: s}}
}

// finish returns everything left, an unclosed code block as code.
func (m *mdStream) finish() []mdSegment {
	var out []mdSegment
	if m.partial != "" {
		out = m.feed("\n")
	}
	if m.inCode {
		out = append(out, mdSegment{code: true, lang: m.lang, text: m.code.String()})
		m.code.Reset()
		m.inCode = false
	}
	return append(out, m.flushProse()...)
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
