package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// sanitizeText makes untrusted text (kernel output, model text, task text)
// safe to write to a terminal. Nothing in it can drive the terminal:
//
//   - colour sequences (CSI … m) are removed, so the only colours on screen
//     are agentteam's own;
//   - every other escape sequence is shown visibly: ESC becomes "^[", so
//     "\x1b]52;c;…\x07" (write the clipboard) is printed as "^[]52;c;…^G",
//     "\x1b[2J" (clear the screen) as "^[[2J";
//   - other control characters are shown in caret notation (^G, ^H, ^?), C1
//     controls (U+0080–U+009F, which some terminals read as CSI or OSC) and
//     bidirectional overrides as <U+XXXX>, bytes that are not UTF-8 as U+FFFD;
//   - a carriage return inside a line keeps only what follows the last one,
//     so progress bars (pip, tqdm) collapse to their last state.
//
// Newlines and tabs are kept.
func sanitizeText(s string) string {
	if isPlain(s) {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if strings.IndexByte(s, '\r') >= 0 {
		s = collapseCR(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0x1b {
			if n := sgrLen(s[i:]); n > 0 {
				i += n
				continue
			}
			b.WriteString("^[")
			i++
			continue
		}
		if c < 0x80 {
			switch {
			case c == '\n' || c == '\t':
				b.WriteByte(c)
			case c < 0x20:
				b.WriteByte('^')
				b.WriteByte(c + 0x40)
			case c == 0x7f:
				b.WriteString("^?")
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case r >= 0x80 && r <= 0x9f, isBidiControl(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s needs no change: printable ASCII, newlines,
// tabs, and UTF-8 without C1 controls or bidi overrides.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return plainUTF8(s[i:])
		}
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func plainUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || isBidiControl(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// sgrLen returns the length of a complete colour sequence (ESC [ params m)
// at the start of s, or 0.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != 0x1b || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s) && i < 64; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// collapseCR keeps, in each line, what follows its last carriage return
// (a trailing one is ignored: "50%\r" stays "50%").
func collapseCR(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		t := strings.TrimRight(l, "\r")
		if j := strings.LastIndexByte(t, '\r'); j >= 0 {
			t = t[j+1:]
		}
		lines[i] = t
	}
	return strings.Join(lines, "\n")
}

// lineBuffer holds a stream's unfinished last line, so that a progress bar
// drawn with carriage returns across many outputs is shown once, in its
// last state, when its line ends (or when the stream is flushed).
type lineBuffer struct{ partial strings.Builder }

// add returns the complete lines in text (with their newlines), keeping the
// rest for later.
func (l *lineBuffer) add(text string) string {
	l.partial.WriteString(text)
	all := l.partial.String()
	i := strings.LastIndexByte(all, '\n')
	rest := all[i+1:]
	// Keep only the last state of a progress bar that has not ended yet.
	if j := strings.LastIndexByte(strings.TrimRight(rest, "\r"), '\r'); j >= 0 {
		rest = rest[j+1:]
	}
	l.partial.Reset()
	if len(rest) > maxPartialLine {
		return all[:i+1] + rest + "\n"
	}
	l.partial.WriteString(rest)
	if i < 0 {
		return ""
	}
	return all[:i+1]
}

// maxPartialLine is the longest unfinished line held back.
const maxPartialLine = 16 << 10

// flush returns what is left.
func (l *lineBuffer) flush() string {
	s := l.partial.String()
	l.partial.Reset()
	return s
}
