package jupyter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/agentteam/agentteam/executor"
)

// The decoder reads one kernel message (a JSON text frame) from a stream in
// one pass. It decodes only the fields this client uses and caps long strings
// while it reads them, so that a frame of any size costs bounded memory:
//   - stream text, tracebacks, text/* mime values and other strings keep
//     their head and tail (the middle is counted and dropped);
//   - other mime values (images, html, unknown types) are kept whole up to
//     their cap, and dropped whole (and counted) past it;
//   - fields this client does not use (code, buffers, ...) are skipped
//     unread.
//
// Fields may come in any order: content before header is fine, since what is
// kept of content depends on field names, not on the message type.

// decodeLimits are the caps the decoder applies.
type decodeLimits struct {
	// text: bytes kept (head and tail) of one string of text; <0: no cap.
	text int
	// mime: bytes kept of one non-text mime value; <0: no cap.
	mime int64
}

// Caps on what may never matter: header fields and small strings.
const (
	maxHeaderString = 1 << 10 // msg_id, msg_type, session, ...: head only
	maxDepth        = 64      // nesting of generic values (metadata, application/json)
	maxElements     = 1 << 16 // elements of one generic container
)

// content holds the content fields of every message type this client reads.
type content struct {
	ExecutionState string // status
	ExecutionCount int    // execute_input, execute_result, execute_reply
	Name           string // stream
	Text           executor.Cut
	Data           map[string]any // display_data, execute_result, update_display_data
	Omitted        []string       // mime values dropped over their cap
	Metadata       map[string]any
	DisplayID      string // transient.display_id
	Wait           bool   // clear_output
	Status         string // execute_reply
	EName, EValue  string
	Traceback      []string
}

var errSyntax = errors.New("malformed kernel message")

// decoder is reused for every frame of one websocket.
type decoder struct {
	r   io.Reader
	buf []byte
	pos int
	end int
	eof bool
	err error
	lim decodeLimits
	tmp []byte // scratch for short strings
	// quote is the index in buf of the next '"' at or after pos (end when
	// there is none before end), valid while quoteEnd == end.
	quote, quoteEnd int
	// size is the frame's length when known (-1 otherwise), read the bytes
	// read from it so far: a string cannot be longer than what is left.
	size, read int64
	cut        cutSink
	full       fullSink
}

func newDecoder(lim decodeLimits) *decoder {
	return &decoder{buf: make([]byte, 64<<10), lim: lim}
}

// decode reads one message from r. On error the rest of r is not read.
func (d *decoder) decode(r io.Reader, m *message) (err error) {
	return d.decodeSized(r, -1, m)
}

// decodeSized is decode for a frame whose length is known (size >= 0).
func (d *decoder) decodeSized(r io.Reader, size int64, m *message) (err error) {
	d.size, d.read = size, 0
	d.r, d.pos, d.end, d.eof, d.err, d.quoteEnd = r, 0, 0, false, nil, -1
	defer func() { d.r = nil }()
	*m = message{}
	if !d.expect('{') {
		return d.fail()
	}
	first := true
	for {
		c, ok := d.peekNonSpace()
		if !ok {
			return d.fail()
		}
		if c == '}' {
			d.pos++
			break
		}
		if !first && !d.expect(',') {
			return d.fail()
		}
		first = false
		key, ok := d.key()
		if !ok {
			return d.fail()
		}
		switch key {
		case "header":
			ok = d.header(&m.Header)
		case "parent_header":
			ok = d.header(&m.ParentHeader)
		case "channel":
			m.Channel, ok = d.shortString(maxHeaderString)
		case "content":
			ok = d.content(&m.Content)
		default:
			ok = d.skip(0)
		}
		if !ok {
			return d.fail()
		}
	}
	// Trailing space only.
	if c, ok := d.peekNonSpace(); ok {
		_ = c
		return d.fail()
	}
	if d.err != nil {
		return d.err
	}
	return nil
}

func (d *decoder) fail() error {
	if d.err != nil {
		return d.err
	}
	return errSyntax
}

// fill reads more input, keeping buf[pos:end]; false at the end of input.
func (d *decoder) fill() bool {
	if d.eof || d.err != nil {
		return false
	}
	if d.pos > 0 {
		n := copy(d.buf, d.buf[d.pos:d.end])
		d.pos, d.end = 0, n
	}
	d.quoteEnd = -1
	if d.end == len(d.buf) {
		d.buf = append(d.buf, make([]byte, len(d.buf))...)
	}
	for {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		d.read += int64(n)
		if err == io.EOF {
			d.eof = true
			return n > 0
		}
		if err != nil {
			d.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// ensure makes n bytes available at pos; false if the input ends first.
func (d *decoder) ensure(n int) bool {
	for d.end-d.pos < n {
		if !d.fill() {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *decoder) peekNonSpace() (byte, bool) {
	for {
		for d.pos < d.end {
			if c := d.buf[d.pos]; !isSpace(c) {
				return c, true
			}
			d.pos++
		}
		if !d.fill() {
			return 0, false
		}
	}
}

func (d *decoder) expect(c byte) bool {
	got, ok := d.peekNonSpace()
	if !ok || got != c {
		return false
	}
	d.pos++
	return true
}

// key reads an object key and the colon after it. Long keys are cut (they
// match no field).
func (d *decoder) key() (string, bool) {
	k, ok := d.shortString(256)
	if !ok || !d.expect(':') {
		return "", false
	}
	return k, true
}

// array calls elem for each element of an array, with its index; elem must
// consume the element.
func (d *decoder) array(elem func(n int) bool) bool {
	if !d.expect('[') {
		return false
	}
	for n := 0; ; n++ {
		c, ok := d.peekNonSpace()
		if !ok {
			return false
		}
		if c == ']' {
			d.pos++
			return true
		}
		if n > 0 && !d.expect(',') {
			return false
		}
		if !elem(n) {
			return false
		}
	}
}

// object calls field for each key of an object; field must consume the value.
func (d *decoder) object(field func(key string) bool) bool {
	if !d.expect('{') {
		return false
	}
	for n := 0; ; n++ {
		c, ok := d.peekNonSpace()
		if !ok {
			return false
		}
		if c == '}' {
			d.pos++
			return true
		}
		if n > 0 && !d.expect(',') {
			return false
		}
		key, ok := d.key()
		if !ok || !field(key) {
			return false
		}
	}
}

// isNull consumes a null if one comes next.
func (d *decoder) isNull() bool {
	c, ok := d.peekNonSpace()
	if !ok || c != 'n' {
		return false
	}
	return d.literal("null")
}

// optionalObject reads an object field by field; null, and a value that is
// not an object, are skipped (as encoding/json would leave the target).
func (d *decoder) optionalObject(field func(key string) bool) bool {
	if d.isNull() {
		return true
	}
	if c, ok := d.peekNonSpace(); ok && c != '{' {
		return d.skip(0)
	}
	return d.object(field)
}

func (d *decoder) header(h *msgHeader) bool {
	return d.optionalObject(func(key string) bool {
		var p *string
		switch key {
		case "msg_id":
			p = &h.MsgID
		case "msg_type":
			p = &h.MsgType
		case "session":
			p = &h.Session
		case "username":
			p = &h.Username
		case "date":
			p = &h.Date
		case "version":
			p = &h.Version
		default:
			return d.skip(0)
		}
		s, ok := d.shortString(maxHeaderString)
		*p = s
		return ok
	})
}

func (d *decoder) content(c *content) bool {
	return d.optionalObject(func(key string) bool {
		var ok bool
		switch key {
		case "execution_state":
			c.ExecutionState, ok = d.shortString(maxHeaderString)
		case "status":
			c.Status, ok = d.shortString(maxHeaderString)
		case "name":
			c.Name, ok = d.shortString(maxHeaderString)
		case "execution_count":
			c.ExecutionCount, ok = d.int()
		case "wait":
			c.Wait, ok = d.bool()
		case "text":
			c.Text, ok = d.cutString(d.lim.text)
		case "ename":
			c.EName, ok = d.textString()
		case "evalue":
			c.EValue, ok = d.textString()
		case "traceback":
			c.Traceback, ok = d.stringList()
		case "data":
			c.Data, c.Omitted, ok = d.mimeBundle()
		case "metadata":
			var v any
			v, ok = d.generic(d.lim.mime)
			c.Metadata, _ = v.(map[string]any)
		case "transient":
			ok = d.transient(c)
		default:
			ok = d.skip(0)
		}
		return ok
	})
}

func (d *decoder) transient(c *content) bool {
	return d.optionalObject(func(key string) bool {
		if key != "display_id" {
			return d.skip(0)
		}
		var ok bool
		c.DisplayID, ok = d.shortString(maxHeaderString)
		return ok
	})
}

// textString reads a string of text with the text cap; other kinds of value
// give "".
func (d *decoder) textString() (string, bool) {
	c, ok := d.cutString(d.lim.text)
	return c.String(), ok
}

// stringList reads a list of strings (a traceback), each with the text cap,
// at most maxElements of them.
func (d *decoder) stringList() ([]string, bool) {
	if d.isNull() {
		return nil, true
	}
	if c, ok := d.peekNonSpace(); !ok || c != '[' {
		return nil, d.skip(0)
	}
	var out []string
	ok := d.array(func(n int) bool {
		s, ok := d.textString()
		if ok && n < maxElements {
			out = append(out, s)
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	return out, true
}

// isTextMime reports mime types whose values are text that is cut to its
// head and tail (text/html is kept whole up to the mime cap: it is saved to a
// file).
func isTextMime(k string) bool {
	return strings.HasPrefix(k, "text/") && k != "text/html"
}

// mimeBundle reads a display's data: text types cut to head and tail, every
// other type kept whole up to the mime cap and dropped past it.
func (d *decoder) mimeBundle() (map[string]any, []string, bool) {
	if d.isNull() {
		return nil, nil, true
	}
	if c, ok := d.peekNonSpace(); !ok || c != '{' {
		return nil, nil, d.skip(0)
	}
	data := map[string]any{}
	var omitted []string
	n := 0
	ok := d.object(func(key string) bool {
		n++
		if n > maxElements {
			return d.skip(0)
		}
		c, ok := d.peekNonSpace()
		if !ok {
			return false
		}
		if c == '"' && isTextMime(key) {
			s, ok := d.cutString(d.lim.text)
			data[key] = s.String()
			return ok
		}
		if c == '"' {
			s, size, ok := d.fullString(d.lim.mime)
			if !ok {
				return false
			}
			if size >= 0 {
				omitted = append(omitted, fmt.Sprintf("%q output of %d bytes dropped (over the %d-byte cap)", key, size, d.lim.mime))
				return true
			}
			data[key] = s
			return true
		}
		budget := d.lim.mime
		v, ok := d.generic(budget)
		if !ok {
			return false
		}
		if v == errTooBig {
			omitted = append(omitted, fmt.Sprintf("%q output dropped (over the %d-byte cap)", key, d.lim.mime))
			return true
		}
		data[key] = v
		return true
	})
	return data, omitted, ok
}

// tooBig marks a generic value over its budget.
type tooBig struct{}

var errTooBig any = tooBig{}

// generic reads any JSON value as encoding/json would into an any, with
// strings cut to the text cap. A value whose size passes budget (roughly its
// bytes; <0: no budget) is read to its end but returned as errTooBig.
func (d *decoder) generic(budget int64) (any, bool) {
	g := genericReader{d: d, budget: budget}
	v, ok := g.value(0)
	if !ok {
		return nil, false
	}
	if g.over {
		return errTooBig, true
	}
	return v, true
}

type genericReader struct {
	d      *decoder
	budget int64
	used   int64
	over   bool
}

func (g *genericReader) charge(n int64) {
	g.used += n
	if g.budget >= 0 && g.used > g.budget {
		g.over = true
	}
}

func (g *genericReader) value(depth int) (any, bool) {
	d := g.d
	if depth > maxDepth {
		return nil, false
	}
	c, ok := d.peekNonSpace()
	if !ok {
		return nil, false
	}
	if g.over {
		return nil, d.skip(depth)
	}
	switch c {
	case '{':
		m := map[string]any{}
		n := 0
		ok := d.object(func(key string) bool {
			n++
			g.charge(int64(len(key)) + 16)
			if g.over || n > maxElements {
				return d.skip(depth + 1)
			}
			v, ok := g.value(depth + 1)
			m[key] = v
			return ok
		})
		return m, ok
	case '[':
		a := []any{}
		ok := d.array(func(n int) bool {
			g.charge(16)
			if g.over || n >= maxElements {
				return d.skip(depth + 1)
			}
			v, ok := g.value(depth + 1)
			a = append(a, v)
			return ok
		})
		if !ok {
			return nil, false
		}
		return a, true
	case '"':
		s, ok := d.cutString(d.lim.text)
		g.charge(int64(len(s.Head)+len(s.Tail)) + s.Omitted)
		return s.String(), ok
	case 't', 'f':
		return d.bool()
	case 'n':
		return nil, d.literal("null")
	default:
		return d.number()
	}
}

func (d *decoder) literal(lit string) bool {
	if _, ok := d.peekNonSpace(); !ok || !d.ensure(len(lit)) {
		return false
	}
	if string(d.buf[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}

func (d *decoder) bool() (bool, bool) {
	c, ok := d.peekNonSpace()
	if !ok {
		return false, false
	}
	switch c {
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	}
	return false, d.skip(0) // not a bool: ignored
}

// numberBytes reads the bytes of a number token.
func (d *decoder) numberBytes() ([]byte, bool) {
	d.tmp = d.tmp[:0]
	for {
		for d.pos < d.end {
			c := d.buf[d.pos]
			if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				if len(d.tmp) > 64 {
					return nil, false
				}
				d.tmp = append(d.tmp, c)
				d.pos++
				continue
			}
			return d.tmp, len(d.tmp) > 0
		}
		if !d.fill() {
			return d.tmp, len(d.tmp) > 0
		}
	}
}

func (d *decoder) number() (any, bool) {
	b, ok := d.numberBytes()
	if !ok || !validNumber(b) {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return nil, false
	}
	return f, true
}

// validNumber checks JSON's number grammar.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(b)
}

// int reads an integer field; other kinds of value (and fractions) give 0.
func (d *decoder) int() (int, bool) {
	c, ok := d.peekNonSpace()
	if !ok {
		return 0, false
	}
	if c != '-' && (c < '0' || c > '9') {
		return 0, d.skip(0)
	}
	b, ok := d.numberBytes()
	if !ok || !validNumber(b) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, true
	}
	return n, true
}

// skip consumes one value of any kind without keeping it.
func (d *decoder) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	c, ok := d.peekNonSpace()
	if !ok {
		return false
	}
	switch c {
	case '{':
		return d.object(func(string) bool { return d.skip(depth + 1) })
	case '[':
		return d.array(func(int) bool { return d.skip(depth + 1) })
	case '"':
		return d.readString(discardSink{})
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		b, ok := d.numberBytes()
		return ok && validNumber(b)
	}
}

// shortString reads a string keeping at most max bytes of its head; other
// kinds of value give "".
func (d *decoder) shortString(max int) (string, bool) {
	c, ok := d.peekNonSpace()
	if !ok {
		return "", false
	}
	if c != '"' {
		return "", d.skip(0)
	}
	s := headSink{max: max, b: d.tmp[:0]}
	ok = d.readString(&s)
	d.tmp = s.b[:0]
	return string(s.b), ok
}

// cutString reads a string keeping its head and tail within max bytes (<0:
// all of it); other kinds of value give an empty Cut.
func (d *decoder) cutString(max int) (executor.Cut, bool) {
	c, ok := d.peekNonSpace()
	if !ok {
		return executor.Cut{}, false
	}
	if c != '"' {
		return executor.Cut{}, d.skip(0)
	}
	d.cut.reset(max)
	ok = d.readString(&d.cut)
	return d.cut.result(), ok
}

// fullString reads a string kept whole up to max bytes (<0: no cap). Past
// the cap nothing is kept and size is its length; otherwise size is -1.
func (d *decoder) fullString(max int64) (s string, size int64, ok bool) {
	d.full.reset(max)
	if d.size >= 0 {
		// What is left of the frame bounds the string: one allocation
		// instead of a doubling series of them.
		d.full.hint = d.size - d.read + int64(d.end-d.pos)
	}
	ok = d.readString(&d.full)
	if d.full.over {
		return "", d.full.n, ok
	}
	return d.full.string(), -1, ok
}

// stringSink receives a string's decoded bytes piece by piece.
type stringSink interface{ write(p []byte) }

type discardSink struct{}

func (discardSink) write([]byte) {}

type headSink struct {
	max int
	b   []byte
}

func (s *headSink) write(p []byte) {
	if room := s.max - len(s.b); room > 0 {
		s.b = append(s.b, p[:min(room, len(p))]...)
	}
}

// fullSink keeps a whole string up to max bytes, then nothing.
type fullSink struct {
	hint int64 // an upper bound of the string's length, or -1
	max  int64
	n    int64
	over bool
	b    []byte
}

func (s *fullSink) reset(max int64) { *s = fullSink{max: max, hint: -1} }

func (s *fullSink) write(p []byte) {
	s.n += int64(len(p))
	if s.over {
		return
	}
	if s.max >= 0 && s.n > s.max {
		s.over, s.b = true, nil
		return
	}
	if need := int64(len(s.b) + len(p)); s.hint > 0 && need > int64(cap(s.b)) && need > 64<<10 {
		// A long string: grow once to the bound the frame gives.
		n := s.hint
		if s.max >= 0 {
			n = min(n, s.max)
		}
		if n >= need {
			nb := allocLarge(int(n))[:len(s.b)]
			copy(nb, s.b)
			s.b = nb
		}
		s.hint = 0
	}
	s.b = grow(s.b, p, s.max)
}

// grow appends p to b, doubling b's capacity when it is full but not past
// limit (when limit >= len(b)+len(p)): a long value then costs about twice
// its size in allocations (append's slower growth for large slices costs
// about five times).
func grow(b, p []byte, limit int64) []byte {
	if len(b)+len(p) > cap(b) {
		n := max(2*cap(b), len(b)+len(p), 4<<10)
		if limit >= int64(len(b)+len(p)) && int64(n) > limit {
			n = int(limit)
		}
		nb := make([]byte, len(b), n)
		copy(nb, b)
		b = nb
	}
	return append(b, p...)
}

// string hands the kept bytes over as a string without copying them (the
// sink lets go of them).
func (s *fullSink) string() string {
	b := s.b
	s.b = nil
	if len(b) == 0 {
		return ""
	}
	str := unsafe.String(unsafe.SliceData(b), len(b))
	if !utf8.ValidString(str) {
		str = strings.ToValidUTF8(str, "\uFFFD")
	}
	return str
}

// cutSink keeps the head and the tail of a string within max bytes.
type cutSink struct {
	max   int // <0: all
	head  []byte
	tail  []byte
	total int64 // bytes past the head
}

func (s *cutSink) reset(max int) {
	s.max, s.head, s.tail, s.total = max, nil, s.tail[:0], 0
}

func (s *cutSink) write(p []byte) {
	if s.max < 0 {
		s.head = grow(s.head, p, -1)
		return
	}
	half := s.max / 2
	if room := half - len(s.head); room > 0 && s.total == 0 {
		n := min(room, len(p))
		s.head = append(s.head, p[:n]...)
		p = p[n:]
	}
	if len(p) == 0 {
		return
	}
	keep := s.max - half
	s.total += int64(len(p))
	if len(p) >= keep {
		s.tail = append(s.tail[:0], p[len(p)-keep:]...)
		return
	}
	s.tail = append(s.tail, p...)
	if len(s.tail) > 2*keep {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-keep:]...)
	}
}

func (s *cutSink) result() executor.Cut {
	c := executor.Cut{Head: string(s.head)}
	if s.max < 0 {
		if !utf8.ValidString(c.Head) {
			c.Head = strings.ToValidUTF8(c.Head, "\uFFFD")
		}
		return c
	}
	keep := int64(s.max - s.max/2)
	t := s.tail
	if int64(len(t)) > keep {
		t = t[int64(len(t))-keep:]
	}
	h := s.head
	if s.total > int64(len(t)) {
		// Something was cut: cut on character boundaries.
		for i := 0; i < 3 && len(t) > 0 && !utf8.RuneStart(t[0]); i++ {
			t = t[1:]
		}
		if i := lastRuneStart(h); i >= 0 && !utf8.FullRune(h[i:]) {
			h = h[:i]
		}
		c.Head = string(h)
	}
	c.Tail = string(t)
	c.Omitted = s.total - int64(len(t)) + int64(len(s.head)-len(h))
	if !utf8.ValidString(c.Head) {
		c.Head = strings.ToValidUTF8(c.Head, "\uFFFD")
	}
	if !utf8.ValidString(c.Tail) {
		c.Tail = strings.ToValidUTF8(c.Tail, "\uFFFD")
	}
	return c
}

// readString reads a JSON string (the opening quote is next), passing its
// decoded bytes to sink.
func (d *decoder) readString(sink stringSink) bool {
	if !d.expect('"') {
		return false
	}
	var esc [4]byte
	for {
		if d.pos >= d.end && !d.fill() {
			return false
		}
		seg := d.buf[d.pos:d.end]
		// The next quote is searched for once per buffer, not once per
		// escape.
		if d.quoteEnd != d.end || d.quote < d.pos {
			d.quoteEnd = d.end
			if q := bytes.IndexByte(seg, '"'); q >= 0 {
				d.quote = d.pos + q
			} else {
				d.quote = d.end
			}
		}
		b := d.quote - d.pos
		if bs := bytes.IndexByte(seg[:b], '\\'); bs >= 0 {
			b = bs
		}
		if b > 0 {
			sink.write(seg[:b])
			d.pos += b
		}
		if b == len(seg) {
			continue
		}
		if seg[b] == '"' {
			d.pos++
			return true
		}
		// An escape.
		if !d.ensure(2) {
			return false
		}
		e := d.buf[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			esc[0] = e
		case 'b':
			esc[0] = '\b'
		case 'f':
			esc[0] = '\f'
		case 'n':
			esc[0] = '\n'
		case 'r':
			esc[0] = '\r'
		case 't':
			esc[0] = '\t'
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return false
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if d.ensure(6) && d.buf[d.pos] == '\\' && d.buf[d.pos+1] == 'u' {
					save := d.pos
					d.pos += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							d.pos = save
						}
					} else {
						return false
					}
				}
				r = r2
			}
			n := utf8.EncodeRune(esc[:], r)
			sink.write(esc[:n])
			continue
		default:
			return false
		}
		sink.write(esc[:1])
	}
}

func (d *decoder) hex4() (rune, bool) {
	if !d.ensure(4) {
		return 0, false
	}
	var r rune
	for _, c := range d.buf[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// lastRuneStart is the index of the last byte of b that starts a character
// (looking back at most 3 bytes), or -1.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-4; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}
