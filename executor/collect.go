package executor

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// DefaultMaxOutputBytes is the text kept per execution when a Collector is
// given no cap: the head and the tail of each long output, the middle
// replaced by a marker.
const DefaultMaxOutputBytes = 64 << 10

// maxOutputs bounds the number of outputs kept for one execution; further
// outputs are dropped and the result marked truncated.
const maxOutputs = 2000

// IOPub rate-limit notices printed by Jupyter servers on stderr when they drop
// output.
var iopubNotice = regexp.MustCompile(`IOPub (data|message) rate exceeded`)

// CollectorConfig configures a Collector.
type CollectorConfig struct {
	// OutputDir is where images and html are saved; "" means don't save.
	OutputDir string
	// FilePrefix starts the names of saved files (e.g. the kernel id and
	// the execution number), making them unique and stable.
	FilePrefix string
	// MaxOutputBytes caps the text kept per output (head and tail); zero
	// means DefaultMaxOutputBytes, negative means no cap.
	MaxOutputBytes int
	// OnOutput, when set, is called with every output as it is added (stream
	// chunks one by one, before merging).
	OnOutput func(Output)
}

// Collector builds a Result from kernel outputs as they arrive: it merges
// consecutive stream chunks, applies clear_output and update_display_data,
// keeps at most the configured text (head and tail) so that a huge output
// never fills memory, saves rich outputs to files, and strips ANSI codes from
// tracebacks. It is not safe for concurrent use.
type Collector struct {
	cfg        CollectorConfig
	res        Result
	streams    []*capText // per output index; nil for non-streams
	clearWait  bool
	dropped    bool
	seq        int
	rateNotice bool
}

// NewCollector returns an empty Collector.
func NewCollector(cfg CollectorConfig) *Collector {
	if cfg.MaxOutputBytes == 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return &Collector{cfg: cfg}
}

func (c *Collector) emit(o Output) {
	if c.cfg.OnOutput != nil {
		c.cfg.OnOutput(o)
	}
}

// applyPendingClear runs a clear_output(wait=True) that was waiting for the
// next output.
func (c *Collector) applyPendingClear() {
	if c.clearWait {
		c.clearWait = false
		c.clear()
	}
}

func (c *Collector) clear() {
	c.res.Outputs = nil
	c.streams = nil
}

func (c *Collector) add(o Output, st *capText) bool {
	if len(c.res.Outputs) >= maxOutputs {
		c.dropped = true
		c.res.Truncated = true
		return false
	}
	c.res.Outputs = append(c.res.Outputs, o)
	c.streams = append(c.streams, st)
	return true
}

// Stream adds a chunk of stdout or stderr.
func (c *Collector) Stream(name, text string) {
	c.applyPendingClear()
	if iopubNotice.MatchString(text) {
		c.rateNotice = true
		c.res.Truncated = true
	}
	c.emit(Output{Type: OutputStream, Name: name, Text: text})
	n := len(c.res.Outputs)
	if n > 0 && c.streams[n-1] != nil && c.res.Outputs[n-1].Name == name {
		c.streams[n-1].write(text)
		return
	}
	st := newCapText(c.cfg.MaxOutputBytes)
	st.write(text)
	c.add(Output{Type: OutputStream, Name: name}, st)
}

// Rich adds an execute_result or display_data output. Files are saved when
// an output directory is configured.
func (c *Collector) Rich(typ OutputType, data, metadata map[string]any, displayID string, executionCount int) {
	c.applyPendingClear()
	o := Output{Type: typ, Data: c.capData(data), Metadata: metadata, DisplayID: displayID, ExecutionCount: executionCount}
	c.saveFiles(&o)
	c.emit(o)
	c.add(o, nil)
}

// UpdateDisplay replaces, in place, every output shown with displayID.
func (c *Collector) UpdateDisplay(displayID string, data, metadata map[string]any) {
	if displayID == "" {
		return
	}
	o := Output{Type: OutputDisplayData, Data: c.capData(data), Metadata: metadata, DisplayID: displayID}
	c.saveFiles(&o)
	c.emit(o)
	for i := range c.res.Outputs {
		if c.res.Outputs[i].DisplayID == displayID && c.streams[i] == nil {
			prev := c.res.Outputs[i]
			o.Type = prev.Type
			o.ExecutionCount = prev.ExecutionCount
			c.res.Outputs[i] = o
		}
	}
}

// Clear handles clear_output: with wait, the outputs are cleared when the
// next output arrives; otherwise at once. Saved files stay listed in the
// result.
func (c *Collector) Clear(wait bool) {
	if wait {
		c.clearWait = true
		return
	}
	c.clearWait = false
	c.clear()
}

// Error adds an error output; ANSI escape codes are stripped from the
// traceback.
func (c *Collector) Error(ename, evalue string, traceback []string) {
	c.applyPendingClear()
	tb := make([]string, len(traceback))
	for i, l := range traceback {
		tb[i] = StripANSI(l)
	}
	o := Output{Type: OutputError, EName: ename, EValue: StripANSI(evalue), Traceback: tb}
	c.emit(o)
	c.add(o, nil)
	e := o
	c.res.Error = &e
	c.res.Status = StatusError
}

// SetExecutionCount records the kernel's execution counter.
func (c *Collector) SetExecutionCount(n int) {
	if n > 0 {
		c.res.ExecutionCount = n
	}
}

// Result returns the result built so far. Status is StatusError when an error
// output arrived, StatusOK otherwise; callers override it for timeouts and
// faults.
func (c *Collector) Result() *Result {
	r := c.res
	r.Outputs = make([]Output, len(c.res.Outputs))
	copy(r.Outputs, c.res.Outputs)
	for i, st := range c.streams {
		if st != nil {
			r.Outputs[i].Text = st.String()
			if st.dropped() > 0 {
				r.Truncated = true
			}
		}
	}
	if r.Status == "" {
		r.Status = StatusOK
	}
	if r.Error != nil {
		e := *r.Error
		r.Error = &e
	}
	r.Files = append([]string(nil), c.res.Files...)
	if c.rateNotice && r.Message == "" {
		r.Message = "the server dropped output over its IOPub rate limit; output is incomplete"
	}
	return &r
}

// capData truncates long text values in a mime bundle (binary images are
// kept whole: they are saved to files).
func (c *Collector) capData(data map[string]any) map[string]any {
	if c.cfg.MaxOutputBytes < 0 {
		return data
	}
	for k, v := range data {
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(k, "text/") || len(s) <= c.cfg.MaxOutputBytes {
			continue
		}
		if k == "text/html" && c.cfg.OutputDir != "" {
			continue // saved whole to a file
		}
		t, _ := TruncateText(s, c.cfg.MaxOutputBytes)
		data[k] = t
		c.res.Truncated = true
	}
	return data
}

func (c *Collector) saveFiles(o *Output) {
	if c.cfg.OutputDir == "" {
		return
	}
	c.seq++
	prefix := c.cfg.FilePrefix
	if prefix == "" {
		prefix = "output"
	}
	files, err := SaveOutputFiles(c.cfg.OutputDir, fmt.Sprintf("%s-%d", prefix, c.seq), o.Data)
	if err != nil {
		c.Stream("stderr", "could not save output: "+err.Error()+"\n")
	}
	if len(files) > 0 {
		o.Files = files
		c.res.Files = append(c.res.Files, files...)
	}
}

// capText keeps the head and the tail of a text that may be far longer than
// its cap, counting what it dropped in between.
type capText struct {
	max       int // <0: unlimited
	head      strings.Builder
	tail      []byte
	tailTotal int64 // bytes written past the head
}

func newCapText(max int) *capText { return &capText{max: max} }

func (t *capText) write(s string) {
	if t.max < 0 {
		t.head.WriteString(s)
		return
	}
	half := t.max / 2
	if room := half - t.head.Len(); room > 0 && t.tailTotal == 0 {
		n := min(room, len(s))
		t.head.WriteString(s[:n])
		s = s[n:]
	}
	if s == "" {
		return
	}
	keep := t.max - half
	t.tailTotal += int64(len(s))
	if len(s) >= keep {
		t.tail = append(t.tail[:0], s[len(s)-keep:]...)
		return
	}
	t.tail = append(t.tail, s...)
	if len(t.tail) > 2*keep {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-keep:]...)
	}
}

// dropped is the number of bytes left out.
func (t *capText) dropped() int64 {
	if t.max < 0 {
		return 0
	}
	keep := int64(t.max - t.max/2)
	if t.tailTotal <= keep && int64(len(t.tail)) == t.tailTotal {
		return 0
	}
	return t.tailTotal - min(keep, int64(len(t.tail)))
}

func (t *capText) String() string {
	d := t.dropped()
	if d == 0 {
		return t.head.String() + string(t.tail)
	}
	tail := t.tail[len(t.tail)-int(t.tailTotal-d):]
	// Start the tail on a character boundary.
	for i := 0; i < 3 && len(tail) > 0 && !utf8.RuneStart(tail[0]); i++ {
		tail = tail[1:]
	}
	return strings.ToValidUTF8(t.head.String(), "") + truncMarker(d) + string(tail)
}

func truncMarker(n int64) string {
	return fmt.Sprintf("\n... [%d bytes of output truncated] ...\n", n)
}

// TruncateText cuts s to at most about max bytes, keeping its head and tail
// with a marker in between saying how much was left out. It reports whether
// it cut anything. max <= 0 means no cap.
func TruncateText(s string, max int) (string, bool) {
	if max <= 0 || len(s) <= max {
		return s, false
	}
	t := newCapText(max)
	t.write(s)
	return t.String(), true
}

// ansiRE matches ANSI escape sequences: CSI and OSC sequences, two-byte
// escapes, and what is left of a sequence cut short (at the end of a chunk)
// or a lone ESC.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b\[[0-9;?]*[ -/]*$|\x1b\][^\x07\x1b]*$|\x1b`)

// StripANSI removes ANSI escape sequences (colours, cursor movement) from s.
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansiRE.ReplaceAllString(s, "")
}
