package executor

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// DefaultMaxOutputBytes is the text kept per execution when a Collector is
// given no cap: the head and the tail of each long output, the middle
// replaced by a marker.
const DefaultMaxOutputBytes = 64 << 10

// DefaultMaxMimeBytes is the largest value of one mime type (an image, html,
// an unknown type) kept from one output.
const DefaultMaxMimeBytes = 10 << 20

// DefaultMaxRichBytes is the total of such values kept from one execution.
const DefaultMaxRichBytes = 4 * DefaultMaxMimeBytes

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
	// Scrub, when set, is applied to the bytes of each file saved in
	// OutputDir before it is written (a redactor's, say).
	Scrub func([]byte) []byte
	// FilePrefix starts the names of saved files (e.g. the kernel id and
	// the execution number), making them unique and stable.
	FilePrefix string
	// MaxOutputBytes caps the text kept per output (head and tail); zero
	// means DefaultMaxOutputBytes, negative means no cap.
	MaxOutputBytes int
	// MaxMimeBytes caps each value of a display's mime bundle other than
	// text (images, html, unknown types): a larger value is dropped and the
	// drop noted in Output.Omitted. Zero means DefaultMaxMimeBytes, negative
	// means no cap.
	MaxMimeBytes int64
	// MaxRichBytes caps the total of such values kept from one execution;
	// zero means DefaultMaxRichBytes, negative means no cap.
	MaxRichBytes int64
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
	richBytes  int64 // mime values kept so far
}

// NewCollector returns an empty Collector.
func NewCollector(cfg CollectorConfig) *Collector {
	if cfg.MaxOutputBytes == 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.MaxMimeBytes == 0 {
		cfg.MaxMimeBytes = DefaultMaxMimeBytes
	}
	if cfg.MaxRichBytes == 0 {
		cfg.MaxRichBytes = DefaultMaxRichBytes
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

// Cut is a text that may have been cut while it was read: its Head, then
// Omitted bytes left out, then its Tail.
type Cut struct {
	Head    string
	Omitted int64
	Tail    string
}

// String is the text with a marker in place of what was left out.
func (t Cut) String() string {
	if t.Omitted <= 0 {
		return t.Head + t.Tail
	}
	return t.Head + truncMarker(t.Omitted) + t.Tail
}

// Stream adds a chunk of stdout or stderr.
func (c *Collector) Stream(name, text string) {
	c.StreamCut(name, Cut{Head: text})
}

// StreamCut adds a chunk of stdout or stderr that may have been cut while it
// was read.
func (c *Collector) StreamCut(name string, text Cut) {
	c.applyPendingClear()
	if iopubNotice.MatchString(text.Head) || iopubNotice.MatchString(text.Tail) {
		c.rateNotice = true
		c.res.Truncated = true
	}
	c.emit(Output{Type: OutputStream, Name: name, Text: text.String()})
	n := len(c.res.Outputs)
	if n > 0 && c.streams[n-1] != nil && c.res.Outputs[n-1].Name == name {
		c.streams[n-1].writeCut(text)
		return
	}
	st := newCapText(c.cfg.MaxOutputBytes)
	st.writeCut(text)
	c.add(Output{Type: OutputStream, Name: name}, st)
}

// Display is the content of an execute_result, display_data or
// update_display_data message.
type Display struct {
	Data     map[string]any
	Metadata map[string]any
	// DisplayID is the transient display_id, if any.
	DisplayID string
	// ExecutionCount is set for execute_result.
	ExecutionCount int
	// Omitted notes mime values already dropped (over their cap) while the
	// message was read.
	Omitted []string
}

// Rich adds an execute_result or display_data output. Files are saved when
// an output directory is configured.
func (c *Collector) Rich(typ OutputType, d Display) {
	c.applyPendingClear()
	o := Output{Type: typ, Metadata: d.Metadata, DisplayID: d.DisplayID, ExecutionCount: d.ExecutionCount}
	o.Data, o.Omitted = c.capData(d.Data, d.Omitted)
	c.saveFiles(&o)
	c.emit(o)
	c.add(o, nil)
}

// UpdateDisplay replaces, in place, every output shown with d.DisplayID.
func (c *Collector) UpdateDisplay(d Display) {
	if d.DisplayID == "" {
		return
	}
	o := Output{Type: OutputDisplayData, Metadata: d.Metadata, DisplayID: d.DisplayID}
	o.Data, o.Omitted = c.capData(d.Data, d.Omitted)
	c.saveFiles(&o)
	c.emit(o)
	for i := range c.res.Outputs {
		if c.res.Outputs[i].DisplayID == d.DisplayID && c.streams[i] == nil {
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

// capData cuts long text values of a mime bundle to their head and tail,
// and drops other values (images, html, unknown types) over the per-value
// cap or past the execution's budget, noting each drop.
func (c *Collector) capData(data map[string]any, omitted []string) (map[string]any, []string) {
	for k, v := range data {
		s, isString := v.(string)
		if isString && strings.HasPrefix(k, "text/") && k != "text/html" {
			if c.cfg.MaxOutputBytes >= 0 && len(s) > c.cfg.MaxOutputBytes {
				data[k], _ = TruncateText(s, c.cfg.MaxOutputBytes)
				c.res.Truncated = true
			}
			continue
		}
		size := int64(len(s))
		if !isString {
			size = approxSize(v, 0)
		}
		switch {
		case c.cfg.MaxMimeBytes >= 0 && size > c.cfg.MaxMimeBytes:
			omitted = append(omitted, fmt.Sprintf("%q output of %d bytes dropped (over the %d-byte cap)", k, size, c.cfg.MaxMimeBytes))
		case c.cfg.MaxRichBytes >= 0 && c.richBytes+size > c.cfg.MaxRichBytes:
			omitted = append(omitted, fmt.Sprintf("%q output of %d bytes dropped (this execution's outputs passed %d bytes)", k, size, c.cfg.MaxRichBytes))
		default:
			c.richBytes += size
			if k == "text/html" && c.cfg.OutputDir == "" && c.cfg.MaxOutputBytes >= 0 && len(s) > c.cfg.MaxOutputBytes {
				data[k], _ = TruncateText(s, c.cfg.MaxOutputBytes) // not saved to a file: cut
				c.res.Truncated = true
			}
			continue
		}
		delete(data, k)
	}
	if len(omitted) > 0 {
		sort.Strings(omitted)
		c.res.Truncated = true
	}
	return data, omitted
}

// approxSize is about the size of a decoded JSON value as JSON text.
func approxSize(v any, depth int) int64 {
	if depth > 100 {
		return 0
	}
	switch x := v.(type) {
	case string:
		return int64(len(x)) + 2
	case map[string]any:
		n := int64(2)
		for k, e := range x {
			n += int64(len(k)) + 4 + approxSize(e, depth+1)
		}
		return n
	case []any:
		n := int64(2)
		for _, e := range x {
			n += 1 + approxSize(e, depth+1)
		}
		return n
	}
	return 8
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
	files, err := SaveOutputFiles(c.cfg.OutputDir, fmt.Sprintf("%s-%d", prefix, c.seq), o.Data, c.cfg.Scrub)
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
	headDone  bool  // the head is complete (full, or cut short by a gap)
}

func newCapText(max int) *capText { return &capText{max: max} }

// writeCut writes a text whose middle was already left out.
func (t *capText) writeCut(c Cut) {
	t.write(c.Head)
	if c.Omitted > 0 {
		if t.max < 0 {
			t.head.WriteString(truncMarker(c.Omitted))
		} else {
			t.skip(c.Omitted)
		}
	}
	t.write(c.Tail)
}

// skip accounts for n bytes left out after what was written: the head ends
// there, and the tail starts afresh after them.
func (t *capText) skip(n int64) {
	t.headDone = true
	t.tailTotal += n
	t.tail = t.tail[:0]
}

func (t *capText) write(s string) {
	if t.max < 0 {
		t.head.WriteString(s)
		return
	}
	half := t.max / 2
	if room := half - t.head.Len(); room > 0 && !t.headDone {
		n := min(room, len(s))
		t.head.WriteString(s[:n])
		s = s[n:]
	}
	if s == "" {
		return
	}
	t.headDone = true
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
