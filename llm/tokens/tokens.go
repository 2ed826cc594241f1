// Package tokens counts the tokens of a text for a model: exactly, with the
// model's own BPE vocabulary (embedded, nothing is downloaded), for the
// OpenAI families whose tokenizer is public (GPT-3.5/4: cl100k_base; GPT-4o,
// GPT-4.1, GPT-5, o-series: o200k_base); with cl100k_base for Llama 3,
// whose vocabulary extends it (so its count is an upper bound); and with a
// conservative character-class estimate for every other model, which
// errs towards too many tokens rather than too few.
package tokens

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Counter counts tokens.
type Counter interface {
	// Count returns the number of tokens of s.
	Count(s string) int
	// Exact reports whether the count comes from the model's tokenizer
	// (or an upper bound from a superset vocabulary), not an estimate.
	Exact() bool
	// Name names the method ("o200k_base", "cl100k_base", "estimate").
	Name() string
}

// PerMessage is the overhead of one chat message (role, separators) in the
// chat templates of the common families, rounded up.
const PerMessage = 8

// ForModel returns the counter for a model name (case-insensitive; a
// provider prefix such as "openai/" or "meta-llama/" is ignored).
func ForModel(model string) Counter {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case hasAnyPrefix(m, "gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss"):
		return bpe(tokenizer.O200kBase)
	case hasAnyPrefix(m, "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada"):
		return bpe(tokenizer.Cl100kBase)
	case hasAnyPrefix(m, "llama-3", "llama3", "meta-llama-3"):
		return bpe(tokenizer.Cl100kBase)
	}
	return Estimate{}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

type bpeCounter struct {
	enc   tokenizer.Encoding
	once  sync.Once
	codec tokenizer.Codec
}

var (
	bpeMu     sync.Mutex
	bpeByName = map[tokenizer.Encoding]*bpeCounter{}
)

func bpe(enc tokenizer.Encoding) Counter {
	bpeMu.Lock()
	defer bpeMu.Unlock()
	c := bpeByName[enc]
	if c == nil {
		c = &bpeCounter{enc: enc}
		bpeByName[enc] = c
	}
	return c
}

func (c *bpeCounter) Count(s string) int {
	if s == "" {
		return 0
	}
	c.once.Do(func() {
		codec, err := tokenizer.Get(c.enc)
		if err == nil {
			c.codec = codec
		}
	})
	if c.codec == nil {
		return classes(s)
	}
	n, err := c.codec.Count(s)
	if err != nil {
		return classes(s)
	}
	return n
}

func (c *bpeCounter) Exact() bool  { return true }
func (c *bpeCounter) Name() string { return string(c.enc) }

// Estimate is a conservative estimate for models whose tokenizer is not
// known here: the larger of the cl100k_base count plus a quarter (current
// open models' BPE vocabularies, such as Qwen's, DeepSeek's and Mistral's
// Tekken, are of that size and count similar text within that margin) and
// a character-class worst case for the older, smaller vocabularies that
// split every digit (Llama 2, Mistral 7B): one token per digit, per
// punctuation mark, per run of blanks or newlines, per non-Latin
// character, and one per four letters.
type Estimate struct{}

func (Estimate) Exact() bool  { return false }
func (Estimate) Name() string { return "estimate" }

// Count implements Counter.
func (Estimate) Count(s string) int {
	return max(classes(s), bpe(tokenizer.Cl100kBase).Count(s)*5/4)
}

func classes(s string) int {
	n, letters := 0, 0
	flush := func() {
		n += (letters + 3) / 4
		letters = 0
	}
	prevSpace, prevNewline := false, false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		space, newline := false, false
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			letters++
		case r == ' ' || r == '\t':
			flush()
			space = true
			if prevSpace {
				n++ // a run of blanks is a token of its own
				space = false
			}
		case r == '\n' || r == '\r':
			flush()
			newline = true
			if !prevNewline {
				n++
			}
		case unicode.IsLetter(r) && r < 0x250:
			letters += 2 // accented Latin letters
		default: // digits, punctuation, symbols, other scripts
			flush()
			n += 1 + size/3
		}
		prevSpace, prevNewline = space, newline
	}
	flush()
	return n
}
