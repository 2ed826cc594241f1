// Package redact removes secrets from text and byte streams.
//
// A Redactor knows a set of secrets (an API key, a Jupyter token, the values
// of secret-looking environment variables) and replaces every occurrence of
// each with Replacement. It finds a secret:
//
//   - as it is;
//   - escaped as in a JSON string (with or without HTML escaping) and as in a
//     URL query;
//   - hex-encoded (lower or upper case);
//   - base64-encoded, standard or URL alphabet, at any byte offset of the
//     encoded data (the part of the encoding that depends only on the
//     secret is removed; the one or two characters at each edge that mix in
//     neighbouring bytes are left).
//
// It does not find a secret transformed in any other way: split by other
// text, base64 wrapped across lines, reversed, compressed or encrypted.
// Code that can read a secret can always smuggle it out in some encoding;
// redaction is a guard against accidents, not against a determined
// adversary (keeping the secret out of the adversary's reach is).
//
// Values shorter than MinLen bytes are not treated as secrets: they are too
// likely to be ordinary words ("ollama", "true"), and replacing them would
// mangle output while protecting little.
//
// Writer redacts a stream: a secret split across two writes is still
// caught, because the end of each write that could start a secret is held
// back until the next write shows whether it does (or until Flush).
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Replacement stands in for every secret removed.
const Replacement = "[REDACTED]"

// MinLen is the shortest value treated as a secret, in bytes.
const MinLen = 8

// SecretSuffixes are the endings of environment variable names (compared
// without regard to case) whose values FromEnv treats as secrets.
var SecretSuffixes = []string{"_KEY", "_TOKEN", "_SECRET", "_PASSWORD"}

// Redactor replaces secrets. The zero value and a nil *Redactor know no
// secrets and pass everything through. It is safe for concurrent use;
// secrets added later apply to Writers made earlier from their next write.
type Redactor struct {
	mu      sync.Mutex
	secrets map[string]bool
	m       atomic.Pointer[matcher]
}

// New returns a Redactor for the given secrets (short and empty ones are
// ignored).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// EnvSecrets returns the values of the variables in environ (as from
// os.Environ) whose names end in one of SecretSuffixes and whose values are
// at least MinLen bytes long.
func EnvSecrets(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || len(val) < MinLen {
			continue
		}
		up := strings.ToUpper(name)
		for _, suf := range SecretSuffixes {
			if strings.HasSuffix(up, suf) {
				out = append(out, val)
				break
			}
		}
	}
	return out
}

// FromEnv returns a Redactor for the secrets in environ (see EnvSecrets)
// plus the extra ones given.
func FromEnv(environ []string, extra ...string) *Redactor {
	return New(append(EnvSecrets(environ), extra...)...)
}

// Add makes the Redactor know more secrets. Empty values and values shorter
// than MinLen are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < MinLen || r.secrets[s] {
			continue
		}
		if r.secrets == nil {
			r.secrets = map[string]bool{}
		}
		r.secrets[s] = true
		changed = true
	}
	if !changed {
		return
	}
	var pats []string
	for s := range r.secrets {
		pats = append(pats, variants(s)...)
	}
	r.m.Store(newMatcher(pats))
}

// With returns a new Redactor that knows r's secrets and the given ones;
// r itself is unchanged (e.g. one per run, adding that run's own token).
func (r *Redactor) With(secrets ...string) *Redactor {
	n := &Redactor{}
	if r != nil {
		r.mu.Lock()
		for s := range r.secrets {
			secrets = append(secrets, s)
		}
		r.mu.Unlock()
	}
	n.Add(secrets...)
	return n
}

// Len is the number of secrets known.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.secrets)
}

func (r *Redactor) matcher() *matcher {
	if r == nil {
		return nil
	}
	return r.m.Load()
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	m := r.matcher()
	if m == nil {
		return s
	}
	out, _ := m.redact([]byte(s), true)
	return string(out)
}

// Bytes returns b with every secret replaced (b itself when there is
// none).
func (r *Redactor) Bytes(b []byte) []byte {
	m := r.matcher()
	if m == nil {
		return b
	}
	out, _ := m.redact(b, true)
	return out
}

// Contains reports whether s holds a secret.
func (r *Redactor) Contains(s []byte) bool {
	m := r.matcher()
	if m == nil {
		return false
	}
	out, _ := m.redact(s, true)
	return !bytes.Equal(out, s)
}

// variants are the forms in which a secret is looked for.
func variants(s string) []string {
	set := map[string]bool{s: true}
	var b bytes.Buffer
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(s)
		q := strings.TrimSuffix(b.String(), "\n")
		set[q[1:len(q)-1]] = true
	}
	set[url.QueryEscape(s)] = true
	set[url.PathEscape(s)] = true
	h := hex.EncodeToString([]byte(s))
	set[h] = true
	set[strings.ToUpper(h)] = true
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := 0; k < 3; k++ {
			if core := base64Core(enc, s, k); len(core) >= MinLen {
				set[core] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// base64Core is the part of the base64 encoding of s, placed k bytes after
// a multiple of 3 in the encoded data, that depends on s alone.
func base64Core(enc *base64.Encoding, s string, k int) string {
	e := enc.EncodeToString(append(make([]byte, k), s...))
	start := (8*k + 5) / 6
	end := 8 * (k + len(s)) / 6
	if end <= start || end > len(e) {
		return ""
	}
	return e[start:end]
}

// Writer redacts what is written through it to an underlying writer.
// Bytes that could be the start of a secret are held back until a later
// write or Flush. It is safe for concurrent use.
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
	err error
}

// Writer returns a Writer that writes to w with secrets replaced. Call
// Flush (or Close) at the end of the stream.
func (r *Redactor) Writer(w io.Writer) *Writer { return &Writer{r: r, w: w} }

// Write redacts p and writes what is safe to write now. It reports len(p)
// on success.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	m := w.r.matcher()
	if m == nil {
		if len(w.buf) > 0 {
			if _, err := w.w.Write(w.buf); err != nil {
				w.err = err
				return 0, err
			}
			w.buf = w.buf[:0]
		}
		if _, err := w.w.Write(p); err != nil {
			w.err = err
			return 0, err
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	out, keep := m.redact(w.buf, false)
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			w.err = err
			return 0, err
		}
	}
	w.buf = append(w.buf[:0], w.buf[len(w.buf)-keep:]...)
	return len(p), nil
}

// Flush writes what was held back (redacted).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	out := w.buf
	if m := w.r.matcher(); m != nil {
		out, _ = m.redact(w.buf, true)
	}
	w.buf = w.buf[:0]
	if _, err := w.w.Write(out); err != nil {
		w.err = err
		return err
	}
	if f, ok := w.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Close flushes; it does not close the underlying writer.
func (w *Writer) Close() error { return w.Flush() }

// WriteString is Write for a string.
func (w *Writer) WriteString(s string) (int, error) { return w.Write([]byte(s)) }
