package solve

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/redact"
	"github.com/agentteam/agentteam/team"
)

// Header describes a run for the top of its notebook and report.
type Header struct {
	Task string
	// Inputs are the input files, as named in the kernel's directory.
	Inputs []string
	Model  string
	Replay bool
	// Sandboxed is true when the kernel runs in the embedded sandbox;
	// Where says where it runs ("an embedded sandboxed jupyter-server").
	Sandboxed bool
	Where     string
	Version   string
	Started   time.Time
	// Unsandboxed is true when the embedded kernel was asked to run
	// without its sandbox; the report, the transcript and the notebook say
	// so.
	Unsandboxed bool
	// SandboxNotes say where the sandbox's limits were weaker than
	// configured (on a host without root); the report and the notebook's
	// metadata list them.
	SandboxNotes []string
}

// OutputConfig configures NewOutputWith. Zero values are defaults.
type OutputConfig struct {
	// Redactor removes secrets from every byte the Output writes (nil:
	// none known).
	Redactor *redact.Redactor
	// MaxFileBytes bounds each file CollectFiles copies into files/, and
	// MaxFilesBytes all of them (0: session.DefaultMaxFileBytes and
	// session.DefaultMaxTotalBytes; negative: no bound).
	MaxFileBytes, MaxFilesBytes int64
}

// Output writes a run's outputs into a directory as the run goes:
//
//	notebook.ipynb    the title, the data inspection, the plan, every step's
//	                  code with its outputs, the reflections
//	transcript.jsonl  every message and event (not streaming chunks)
//	report.md         the final answer (or why there is none) with links to
//	                  the figures and files
//	files/            figures the run displayed and files its code wrote
//
// The notebook and transcript are written after every message, so an
// interrupted run loses nothing; a cell that was running when the run
// stopped is kept with the outputs it had, marked interrupted. Any caller
// can feed it events (Add) and close it with a Summary (Close). Its methods
// are safe for concurrent use.
type Output struct {
	dir      string
	filesDir string
	red      *redact.Redactor
	cfg      OutputConfig

	mu          sync.Mutex
	hdr         Header
	nb          *notebook.Notebook
	transcript  *os.File
	trw         *redact.Writer
	tr          *team.Transcript
	skipped     []session.Skipped
	step        int               // code cells so far
	asked       bool              // an agent asked the user, whose answer is next
	pending     []*notebook.Cell  // cells of the step that is running
	pendingOut  []executor.Output // outputs of the running block
	pendingCode []string          // the code of the pending cells
	running     int               // index of the running block in pending
	lastCode    string
	lastResult  *executor.Result
	answer      string // the last text from an agent that said TERMINATE
	figures     []string
	seenFig     map[[32]byte]bool
	flushed     time.Time // last notebook write
	err         error
	closed      bool
}

// NewOutput creates dir (and dir/files) and starts the transcript and
// notebook. Every secret (in the forms package redact knows) is replaced
// by [REDACTED] in every file.
func NewOutput(dir string, hdr Header, secrets ...string) (*Output, error) {
	return NewOutputWith(dir, hdr, OutputConfig{Redactor: redact.New(secrets...)})
}

// NewOutputWith is NewOutput with a redactor and limits.
func NewOutputWith(dir string, hdr Header, cfg OutputConfig) (*Output, error) {
	filesDir := filepath.Join(dir, "files")
	if err := os.MkdirAll(filesDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "transcript.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if hdr.Started.IsZero() {
		hdr.Started = time.Now()
	}
	if hdr.Version == "" {
		hdr.Version = Version
	}
	o := &Output{dir: dir, filesDir: filesDir, red: cfg.Redactor, cfg: cfg, hdr: hdr, nb: notebook.New(), transcript: f,
		seenFig: map[[32]byte]bool{}}
	o.trw = o.red.Writer(f)
	o.tr = team.NewTranscript(o.trw)
	// The transcript starts with a record of the run.
	rec, _ := json.Marshal(map[string]any{"event": "run", "task": hdr.Task, "model": hdr.Model, "replay": hdr.Replay,
		"sandboxed": hdr.Sandboxed, "unsandboxed": hdr.Unsandboxed, "kernel": hdr.Where, "version": hdr.Version,
		"started": hdr.Started.UTC().Format(time.RFC3339)})
	_, _ = o.trw.Write(append(rec, '\n'))
	_ = o.trw.Flush()
	o.nb.AddMarkdown(o.redact(titleCell(hdr)))
	o.setMetadata(nil, "")
	o.flushNotebook()
	return o, nil
}

// SetSandboxNotes records where the sandbox's limits are weaker than
// configured, for the report and the notebook's metadata.
func (o *Output) SetSandboxNotes(notes []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hdr.SandboxNotes = append([]string(nil), notes...)
	o.setMetadata(nil, "")
	o.flushNotebook()
}

// Dir is the output directory.
func (o *Output) Dir() string { return o.dir }

// FilesDir is the directory of figures and collected files.
func (o *Output) FilesDir() string { return o.filesDir }

func (o *Output) redact(s string) string { return o.red.String(s) }

func titleCell(h Header) string {
	var b strings.Builder
	b.WriteString("# agentteam: " + EscapeMarkdown(firstLine(h.Task, 120)) + "\n\n")
	b.WriteString("**Task:**\n\n" + quoteBlock(EscapeMarkdown(h.Task)) + "\n\n")
	if len(h.Inputs) > 0 {
		var in []string
		for _, f := range h.Inputs {
			in = append(in, "`"+strings.ReplaceAll(f, "`", "'")+"`")
		}
		b.WriteString("**Input files:** " + strings.Join(in, ", ") + "  \n")
	}
	model := h.Model
	if h.Replay {
		model += " (replayed answers; no model was called)"
	}
	fmt.Fprintf(&b, "**Model:** %s  \n**Date:** %s  \n", EscapeMarkdown(model), h.Started.UTC().Format("2006-01-02 15:04 UTC"))
	sandbox := "no"
	if h.Sandboxed {
		sandbox = "yes"
	}
	where := ""
	if h.Where != "" {
		where = " (" + EscapeMarkdown(h.Where) + ")"
	}
	fmt.Fprintf(&b, "**Sandboxed kernel:** %s%s\n", sandbox, where)
	if h.Unsandboxed {
		b.WriteString("\n" + unsandboxedNote + "\n")
	}
	return b.String()
}

func quoteBlock(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string, max int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	return Truncate(s, max)
}

// AddInspection records the data inspection that ran before planning: its
// code (hidden in the notebook) and its output, preformatted.
func (o *Output) AddInspection(code string, res *executor.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nb.AddMarkdown("## The data\n\nWhat agentteam found in the input files before planning (the planner was given this).")
	c := o.nb.AddCode(code)
	c.Metadata["jupyter"] = map[string]any{"source_hidden": true}
	c.Metadata["agentteam"] = map[string]any{"role": "inspection"}
	if res != nil {
		c.SetResult(o.redactResult(res))
	}
	o.flushNotebook()
}

// redactResult is r: the notebook is redacted as a whole when written.
func (o *Output) redactResult(r *executor.Result) *executor.Result { return r }

// Add records one event: messages go to the transcript, and the notebook
// follows the conversation.
func (o *Output) Add(ev Event) {
	if ev.Type != EventMessage || ev.Message == nil {
		return
	}
	m := ev.Message
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.tr.Write(m)
	_ = o.trw.Flush()
	changed := false
	switch m.Kind {
	case agents.KindText:
		if m.Source == agents.SourceUser && o.asked {
			o.asked = false
			o.nb.AddMarkdown(o.redact("**user:** " + EscapeProse(m.Content)))
			changed = true
			break
		}
		if m.Source == agents.SourceUser || m.Source == "executor" {
			break
		}
		if strings.Contains(m.Content, stopWord) {
			o.answer = m.Content
		}
		if p := Prose(m.Content); p != "" {
			head := "**" + EscapeMarkdown(m.Source) + ":** "
			if m.Source == "planner" {
				head = "### Plan\n\n"
				if o.step > 0 {
					head = "### Reflection\n\n"
				}
			}
			o.nb.AddMarkdown(o.redact(head + EscapeProse(p)))
			changed = true
		}
	case agents.KindCodeGeneration:
		if m.Metadata["retry"] != "" {
			// A corrected block: it gets its cell with its result.
			break
		}
		o.pending, o.pendingOut, o.running = nil, nil, 0
		o.pendingCode = nil
		for _, b := range m.Blocks {
			c := o.nb.AddCode(cellSource(b))
			o.pending = append(o.pending, c)
			o.pendingCode = append(o.pendingCode, b.Code)
		}
		o.step++
		o.lastCode = ""
		if len(m.Blocks) > 0 {
			o.lastCode = m.Blocks[0].Code
		}
		changed = true
	case agents.KindOutput:
		if m.Output != nil && len(o.pending) > 0 && m.Metadata["retry"] == "" {
			// The running cell (the block that printed it) shows its
			// output so far. A chatty cell sends many outputs: convert
			// each once, and rewrite the notebook at most every
			// outputFlushEvery.
			i := o.running
			if b, err := strconv.Atoi(m.Metadata["block"]); err == nil && b >= 0 && b < len(o.pending) {
				i = b
			}
			if i != o.running {
				o.running, o.pendingOut = i, nil
				o.lastCode = o.pendingCode[i]
			}
			o.pendingOut = append(o.pendingOut, *m.Output)
			c := o.pending[i]
			c.Outputs = append(c.Outputs, notebook.Outputs(o.redactOutputs([]executor.Output{*m.Output}))...)
			changed = time.Since(o.flushed) >= outputFlushEvery
		}
	case agents.KindCodeExecution:
		cells := o.pending
		o.pending, o.pendingOut = nil, nil
		for i, ex := range m.Executions {
			var c *notebook.Cell
			if i < len(cells) && cells[i].Source == cellSource(ex.Block) {
				c = cells[i]
			} else {
				c = o.nb.AddCode(cellSource(ex.Block))
			}
			c.SetResult(o.redactResult(ex.Result))
			o.saveFigures(ex)
			o.lastCode, o.lastResult = ex.Block.Code, ex.Result
		}
		// Blocks that were not run (an earlier one failed) stay as code
		// without outputs, marked.
		for i := len(m.Executions); i < len(cells); i++ {
			cells[i].Metadata["agentteam"] = map[string]any{"not_run": true}
		}
		changed = true
	case agents.KindToolCall:
		// Calls of other tools than the code tools (whose code becomes a
		// code cell) are shown as markdown.
		var parts []string
		for _, c := range m.ToolCalls {
			if _, ok := agents.CodeToolBlock(c); !ok {
				parts = append(parts, agents.ToolCallMarkdown(c))
			}
		}
		if len(parts) > 0 {
			o.nb.AddMarkdown(o.redact("**" + EscapeMarkdown(m.Source) + "** calls tools:\n\n" + strings.Join(parts, "\n\n")))
			changed = true
		}
	case agents.KindToolResult:
		var parts []string
		for _, r := range m.ToolResults {
			parts = append(parts, agents.ToolResultMarkdown(r))
		}
		if len(parts) > 0 {
			o.nb.AddMarkdown(o.redact(strings.Join(parts, "\n\n")))
			changed = true
		}
	case agents.KindHandoff:
		if p := Prose(m.Content); p != "" {
			o.nb.AddMarkdown(o.redact("**" + EscapeMarkdown(m.Source) + " asks " + EscapeMarkdown(m.Target) + ":** " + EscapeProse(p)))
			changed = true
		}
		o.asked = m.Target == agents.SourceUser
	case agents.KindStop:
		if m.Source == "executor" {
			o.nb.AddMarkdown("*" + EscapeMarkdown(m.Content) + "*")
			changed = true
		}
	}
	if changed {
		o.flushNotebook()
	}
	_ = o.transcript.Sync()
}

func (o *Output) redactOutputs(outs []executor.Output) []executor.Output {
	r := o.redactResult(&executor.Result{Outputs: outs})
	return r.Outputs
}

func cellSource(b agents.CodeBlock) string {
	if lang, _ := executor.NormalizeLanguage(strings.TrimSpace(b.Language)); lang == executor.Shell {
		return "%%bash\n" + b.Code
	}
	return b.Code
}

var savefigRE = regexp.MustCompile(`\.savefig\s*\(|\.write_image\s*\(`)

// saveFigures writes the images a step displayed into files/ as
// stepNN-figM.png, unless the step's code saved its figures itself.
func (o *Output) saveFigures(ex agents.CodeExecution) {
	if ex.Result == nil || savefigRE.MatchString(ex.Block.Code) {
		return
	}
	n := 0
	for _, out := range ex.Result.Outputs {
		if out.Type != executor.OutputDisplayData && out.Type != executor.OutputExecuteResult {
			continue
		}
		img := map[string]any{}
		for _, mime := range []string{"image/png", "image/jpeg", "image/svg+xml"} {
			if v, ok := out.Data[mime]; ok {
				img[mime] = v
				break
			}
		}
		if len(img) == 0 {
			continue
		}
		// The same figure shown twice (display() and the end-of-cell
		// show of the inline backend) is one figure.
		sum := sha256.Sum256([]byte(fmt.Sprint(img)))
		if o.seenFig[sum] {
			continue
		}
		o.seenFig[sum] = true
		n++
		if f := o.saveImage(fmt.Sprintf("step%02d-fig%d", o.step, n), img); f != "" {
			o.figures = append(o.figures, f)
		}
	}
}

// imageTypes are the figure types saved to files/, with their extensions.
var imageTypes = []struct{ mime, ext string }{{"image/png", ".png"}, {"image/jpeg", ".jpg"}, {"image/svg+xml", ".svg"}}

// saveImage writes the one image in img into files/ as base+extension,
// secrets removed, and returns its path ("" when nothing was written).
func (o *Output) saveImage(base string, img map[string]any) string {
	for _, t := range imageTypes {
		v, ok := img[t.mime]
		if !ok {
			continue
		}
		var data []byte
		s := executor.MimeString(v)
		if t.mime == "image/svg+xml" {
			data = []byte(s)
		} else {
			var err error
			if data, err = executor.DecodeBase64(s); err != nil {
				return ""
			}
		}
		p := filepath.Join(o.filesDir, base+t.ext)
		if err := os.WriteFile(p, o.red.Bytes(data), 0o644); err != nil {
			return ""
		}
		return p
	}
	return ""
}

// markPending keeps the cells that were running when the run stopped, with
// every output they had, marked interrupted.
func (o *Output) markPending(why string) {
	if len(o.pending) == 0 {
		return
	}
	// Blocks before the running one ran to the end; their cells have
	// their outputs already.
	c := o.pending[o.running]
	c.Outputs = notebook.Outputs(o.redactOutputs(o.pendingOut))
	c.Outputs = append(c.Outputs, notebook.Output{OutputType: "stream", Name: "stderr",
		Text: o.redact("[agentteam] interrupted: " + why + "\n")})
	c.Metadata["agentteam"] = map[string]any{"interrupted": true}
	for _, rest := range o.pending[o.running+1:] {
		rest.Metadata["agentteam"] = map[string]any{"not_run": true}
	}
	o.lastResult = &executor.Result{Status: executor.StatusCancelled, Outputs: append([]executor.Output(nil), o.pendingOut...), Interrupted: true}
	o.pending, o.pendingOut = nil, nil
}

func (o *Output) setMetadata(s *Summary, _ string) {
	md := map[string]any{
		"model":     o.hdr.Model,
		"replay":    o.hdr.Replay,
		"version":   o.hdr.Version,
		"sandboxed": o.hdr.Sandboxed,
		"started":   o.hdr.Started.UTC().Format(time.RFC3339),
	}
	if o.hdr.Unsandboxed {
		md["sandbox_disabled"] = true
	}
	if len(o.hdr.SandboxNotes) > 0 {
		md["sandbox_notes"] = o.hdr.SandboxNotes
	}
	if s != nil {
		md["stop_cause"] = string(s.Cause)
		md["stop_reason"] = o.redact(s.Reason)
		md["turns"] = s.Turns
		md["duration_seconds"] = s.Duration.Seconds()
		if s.Usage != nil {
			md["usage"] = map[string]any{"prompt_tokens": s.Usage.PromptTokens, "completion_tokens": s.Usage.CompletionTokens,
				"cached_tokens": s.Usage.CachedTokens, "reasoning_tokens": s.Usage.ReasoningTokens}
		}
		if s.Cost != nil {
			md["cost"] = *s.Cost
		}
	}
	o.nb.Metadata["agentteam"] = md
}

// outputFlushEvery bounds how often output of a running cell rewrites the
// notebook.
const outputFlushEvery = time.Second

// flushNotebook writes the notebook, secrets removed, atomically (a
// temporary file renamed over it).
func (o *Output) flushNotebook() {
	o.flushed = time.Now()
	if err := o.writeNotebook(); err != nil && o.err == nil {
		o.err = err
	}
}

func (o *Output) writeNotebook() error {
	path := filepath.Join(o.dir, "notebook.ipynb")
	f, err := os.CreateTemp(o.dir, ".notebook.ipynb.*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	w := o.red.Writer(f)
	err = notebook.Write(w, o.nb)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// collector is what CollectFiles uses of a kernel when it has it: a
// bounded, link-safe copy (*session.Session has it).
type collector interface {
	Collect(ctx context.Context, cfg session.CollectConfig) (*session.Collected, error)
}

// CollectFiles copies every file the code wrote in the kernel's working
// directory into files/, except the inputs and hidden files, secrets
// removed and within the limits (see OutputConfig), and returns their
// relative paths. What it skipped, and why, goes into report.md.
func (o *Output) CollectFiles(ctx context.Context, k Kernel, inputs map[string]bool) []string {
	cfg := session.CollectConfig{
		MaxFileBytes:  o.cfg.MaxFileBytes,
		MaxTotalBytes: o.cfg.MaxFilesBytes,
		Skip:          func(rel string) bool { return inputs[rel] },
		Create:        o.createFile,
		Remove: func(rel string) {
			if p, err := o.filePath(rel); err == nil {
				os.Remove(p)
			}
		},
	}
	var got *session.Collected
	var err error
	if c, ok := k.(collector); ok {
		got, err = c.Collect(ctx, cfg)
	} else {
		got, err = collectByDownload(ctx, k, cfg)
	}
	if got == nil {
		return nil
	}
	var paths []string
	for _, f := range got.Files {
		paths = append(paths, f.Path)
	}
	o.mu.Lock()
	o.skipped = append(o.skipped, got.Skipped...)
	if err != nil {
		o.skipped = append(o.skipped, session.Skipped{Path: "(the rest)", Reason: "collecting stopped: " + o.redact(err.Error())})
	}
	o.mu.Unlock()
	sort.Strings(paths)
	return paths
}

// filePath is where a collected file goes: below files/, or an error for
// a name that would leave it.
func (o *Output) filePath(rel string) (string, error) {
	c := path.Clean(rel)
	if rel == "" || path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsRune(c, 0) {
		return "", fmt.Errorf("%q is not a relative path", rel)
	}
	return filepath.Join(o.filesDir, filepath.FromSlash(c)), nil
}

// createFile opens files/rel for writing through the redactor.
func (o *Output) createFile(rel string) (io.WriteCloser, error) {
	p, err := o.filePath(rel)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, 0o644)
	if err != nil {
		return nil, err
	}
	return &redactedFile{w: o.red.Writer(f), f: f}, nil
}

type redactedFile struct {
	w *redact.Writer
	f *os.File
}

func (r *redactedFile) Write(p []byte) (int, error) { return r.w.Write(p) }
func (r *redactedFile) Close() error {
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// collectByDownload collects from a kernel without Collect: by listing and
// Download, skipping by the listed sizes.
func collectByDownload(ctx context.Context, k Kernel, cfg session.CollectConfig) (*session.Collected, error) {
	files, err := k.ListFiles(ctx)
	if err != nil {
		return nil, err
	}
	per, total := cfg.MaxFileBytes, cfg.MaxTotalBytes
	if per == 0 {
		per = session.DefaultMaxFileBytes
	}
	if total == 0 {
		total = session.DefaultMaxTotalBytes
	}
	res := &session.Collected{}
	for _, f := range files {
		rel := path.Clean(f.Path)
		if cfg.Skip(rel) || strings.HasPrefix(rel, ".") {
			continue
		}
		switch {
		case per > 0 && f.Size > per:
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: f.Size, Reason: session.ReasonTooLarge})
			continue
		case total > 0 && res.Bytes+f.Size > total:
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: f.Size, Reason: session.ReasonTotal})
			continue
		}
		data, err := k.Download(ctx, rel)
		if err != nil {
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: f.Size, Reason: session.ReasonUnreadable + ": " + err.Error()})
			continue
		}
		if (per > 0 && int64(len(data)) > per) || (total > 0 && res.Bytes+int64(len(data)) > total) {
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: int64(len(data)), Reason: session.ReasonTooLarge})
			continue
		}
		w, err := cfg.Create(rel)
		if err != nil {
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: f.Size, Reason: "could not be written: " + err.Error()})
			continue
		}
		_, werr := w.Write(data)
		if cerr := w.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			cfg.Remove(rel)
			res.Skipped = append(res.Skipped, session.Skipped{Path: rel, Size: f.Size, Reason: "could not be written: " + werr.Error()})
			continue
		}
		res.Bytes += int64(len(data))
		res.Files = append(res.Files, session.FileInfo{Path: rel, Size: int64(len(data)), ModTime: f.ModTime})
	}
	return res, nil
}

// FinalAnswer is the final answer (the prose of the last message that
// said the task is done), "" when there is none.
func (o *Output) FinalAnswer() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.redact(Prose(o.answer))
}

// lastStep says in a line what the last step did.
func (o *Output) lastStep() string {
	if o.step == 0 || o.lastCode == "" {
		return ""
	}
	code := firstCodeLine(o.lastCode)
	what := fmt.Sprintf("step %d ran `%s`", o.step, strings.ReplaceAll(code, "`", "'"))
	r := o.lastResult
	if r == nil {
		return what
	}
	switch {
	case r.Status == executor.StatusError && r.Error != nil:
		what += fmt.Sprintf(" and raised %s: %s", r.Error.EName, Truncate(oneLine(r.Error.EValue), 200))
	case r.Status == executor.StatusOK:
		what += " and completed"
		if last := lastOutputLine(r); last != "" {
			what += "; its last output was: " + Truncate(last, 200)
		}
	default:
		what += " and was " + statusWord(r.Status)
		if last := lastOutputLine(r); last != "" {
			what += "; its last output was: " + Truncate(last, 200)
		}
	}
	return what
}

func statusWord(s executor.Status) string {
	switch s {
	case executor.StatusTimeout:
		return "stopped by its time limit"
	case executor.StatusCancelled:
		return "interrupted"
	case executor.StatusKernelDied:
		return "ended by the kernel's death"
	case executor.StatusNotRun:
		return "not run (the kernel never got it)"
	}
	return string(s)
}

func firstCodeLine(code string) string {
	for _, l := range strings.Split(code, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return Truncate(l, 80)
		}
	}
	return "…"
}

func lastOutputLine(r *executor.Result) string {
	var text strings.Builder
	for _, out := range r.Outputs {
		if out.Type == executor.OutputStream {
			text.WriteString(out.Text)
		}
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Close finishes the outputs: it keeps a cell that was still running,
// records the summary in the notebook's metadata, writes report.md and
// closes the transcript. It fills in s.FinalAnswer, s.Step and s.LastStep
// when they are empty. Later calls do nothing.
func (o *Output) Close(s *Summary) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.markPending(s.Reason)
	if s.Cause == Finished && s.FinalAnswer == "" {
		s.FinalAnswer = o.redact(Prose(o.answer))
	}
	if s.Step == 0 {
		s.Step = o.step
	}
	if s.LastStep == "" {
		s.LastStep = o.redact(o.lastStep())
	}
	if s.OutputDir == "" {
		s.OutputDir = o.dir
	}
	if s.Skipped == nil {
		s.Skipped = o.skipped
	}
	if s.Cause != Finished {
		o.nb.AddMarkdown("*Stopped: " + EscapeMarkdown(o.redact(s.Reason)) + "*")
	}
	o.setMetadata(s, "")
	o.flushNotebook()
	o.mu.Unlock()

	err := os.WriteFile(filepath.Join(o.dir, "report.md"), []byte(o.redact(Report(o.hdr, s, o.dir))), 0o644)
	o.mu.Lock()
	defer o.mu.Unlock()
	if cerr := o.transcript.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = o.err
	}
	if err == nil {
		err = o.tr.Err()
	}
	return err
}

// Why says in plain words why a run has no final answer.
func Why(s *Summary) string {
	switch s.Cause {
	case Cancelled, Timeout:
		if s.Step > 0 {
			return fmt.Sprintf("%s at step %d", s.Reason, s.Step)
		}
		return s.Reason
	case "":
		return "the run did not end"
	}
	return s.Reason
}

// unsandboxedNote is said at the top of the report and the notebook of a
// run whose embedded kernel ran without the sandbox.
const unsandboxedNote = "> **Warning:** the kernel ran without the sandbox (turned off in the configuration): its code had the same access to this machine as agentteam itself."

// maxSkippedListed bounds the skipped files report.md lists one by one.
const maxSkippedListed = 200

// EscapeName shows a file name (or other short text from the kernel) as
// itself on one line of markdown: control characters (a newline, an
// escape) are written as Go escapes (\n, \x1b), then markdown is escaped.
func EscapeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029,
			r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return EscapeMarkdown(b.String())
}

// linkPath is a relative path as a markdown link target: every byte that
// is not plainly safe is percent-encoded.
func linkPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(s), "(", "%28")
		parts[i] = strings.ReplaceAll(parts[i], ")", "%29")
	}
	return strings.Join(parts, "/")
}

// Report is the text of report.md for a run that ended with s; dir is the
// output directory (figures and files are listed from dir/files).
func Report(h Header, s *Summary, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# agentteam report\n\n**Task:**\n\n%s\n\n", quoteBlock(EscapeMarkdown(h.Task)))
	if h.Replay {
		b.WriteString("> This run replayed recorded model answers; no model was called.\n\n")
	}
	if h.Unsandboxed {
		b.WriteString(unsandboxedNote + "\n\n")
	}
	if len(h.SandboxNotes) > 0 {
		b.WriteString("> **Note:** the sandbox kept its limits in a weaker form (no cgroups or mounts for this user): " + EscapeMarkdown(strings.Join(h.SandboxNotes, "; ")) + ".\n\n")
	}
	if s.Cause == Finished && s.FinalAnswer != "" {
		b.WriteString("## Final answer\n\n" + EscapeProse(s.FinalAnswer) + "\n\n")
	} else if s.Cause == Finished {
		b.WriteString("## Final answer\n\nThe team said the task is done but gave no answer in words; see the notebook.\n\n")
	} else {
		b.WriteString("## No final answer\n\n")
		fmt.Fprintf(&b, "The run ended without a final answer: %s.\n\n", EscapeMarkdown(Why(s)))
		if s.LastStep != "" {
			fmt.Fprintf(&b, "The last step: %s.\n\n", EscapeProse(s.LastStep))
		} else {
			b.WriteString("No code had run.\n\n")
		}
	}
	var figures, others []string
	_ = filepath.WalkDir(filepath.Join(dir, "files"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch strings.ToLower(filepath.Ext(p)) {
		case ".png", ".jpg", ".jpeg", ".svg", ".gif":
			figures = append(figures, rel)
		default:
			others = append(others, rel)
		}
		return nil
	})
	sort.Strings(figures)
	sort.Strings(others)
	if len(figures) > 0 {
		b.WriteString("## Figures\n\n")
		for _, f := range figures {
			fmt.Fprintf(&b, "![%s](%s)\n\n", EscapeName(path.Base(f)), linkPath(f))
		}
	}
	if len(others) > 0 {
		b.WriteString("## Files\n\n")
		for _, f := range others {
			fmt.Fprintf(&b, "- [%s](%s)\n", EscapeName(strings.TrimPrefix(f, "files/")), linkPath(f))
		}
		b.WriteString("\n")
	}
	if len(s.Skipped) > 0 {
		b.WriteString("## Files not copied\n\nThe code wrote these, but they are not in files/:\n\n")
		for i, k := range s.Skipped {
			if i == maxSkippedListed {
				fmt.Fprintf(&b, "- … and %d more\n", len(s.Skipped)-i)
				break
			}
			size := ""
			if k.Size > 0 {
				size = fmt.Sprintf(" (%d bytes)", k.Size)
			}
			fmt.Fprintf(&b, "- %s%s: %s\n", EscapeName(k.Path), size, EscapeName(k.Reason))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Run\n\n")
	tokens := "none (no model was called)"
	if s.Usage != nil {
		tokens = UsageText(*s.Usage)
		for _, name := range sortedKeys(s.UsageByAgent) {
			tokens += fmt.Sprintf("\n  - %s: %s", EscapeMarkdown(name), UsageText(s.UsageByAgent[name]))
		}
	}
	if s.Cost != nil {
		tokens += fmt.Sprintf("\n- Cost: %s", CostText(*s.Cost))
	}
	fmt.Fprintf(&b, "- Stopped: %s\n- Steps: %d\n- Turns: %d\n- Tokens: %s\n- Time: %s\n- Model: %s\n- Notebook: [notebook.ipynb](notebook.ipynb)\n- Transcript: [transcript.jsonl](transcript.jsonl)\n",
		EscapeMarkdown(s.Reason), s.Step, s.Turns, tokens, s.Duration.Round(time.Millisecond), EscapeMarkdown(h.Model))
	return b.String()
}

// UsageText says a usage in a line: "1234 (prompt 1000 (800 cached),
// completion 234 (200 reasoning))".
func UsageText(u llm.Usage) string {
	prompt := fmt.Sprintf("prompt %d", u.PromptTokens)
	if u.CachedTokens > 0 {
		prompt += fmt.Sprintf(" (%d cached)", u.CachedTokens)
	}
	completion := fmt.Sprintf("completion %d", u.CompletionTokens)
	if u.ReasoningTokens > 0 {
		completion += fmt.Sprintf(" (%d reasoning)", u.ReasoningTokens)
	}
	est := ""
	if u.Estimated {
		est = "; partly estimated"
	}
	return fmt.Sprintf("%d (%s, %s%s)", u.Total(), prompt, completion, est)
}

// CostText says a cost in the price table's currency, with four decimals
// below one unit.
func CostText(c float64) string {
	if c < 1 {
		return fmt.Sprintf("%.4f", c)
	}
	return fmt.Sprintf("%.2f", c)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// usageOf sums the usage of a run's messages.
func usageOf(total *llm.Usage, m *agents.Message) *llm.Usage {
	if m.Usage == nil || m.Kind == agents.KindChunk {
		return total
	}
	if total == nil {
		total = &llm.Usage{}
	}
	*total = total.Add(*m.Usage)
	return total
}
