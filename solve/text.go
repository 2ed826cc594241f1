package solve

import (
	"strings"

	"github.com/agentteam/agentteam/agents"
)

// stopWord is what an agent says when the task is done.
const stopWord = "TERMINATE"

// Prose is an agent's message without its code blocks (they become code
// cells) and without the stop word.
func Prose(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(agents.StripCodeBlocks(s), stopWord, ""))
}

// EscapeMarkdown makes text that is data (a task, a file name, an error)
// show as itself in a markdown cell: no math, no HTML, no emphasis, no
// links, no headings.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '$', '#', '|', '~', '{', '}', '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// EscapeProse keeps a model's markdown (emphasis, lists, code spans) but
// stops it from turning into math or HTML: "$" and "<" outside code spans
// and code blocks are escaped.
func EscapeProse(s string) string {
	var b strings.Builder
	for i, seg := range agents.Segments(s) {
		if i > 0 {
			b.WriteByte('\n')
		}
		if seg.Code {
			b.WriteString(seg.Text)
			continue
		}
		for k, line := range strings.Split(seg.Text, "\n") {
			if k > 0 {
				b.WriteByte('\n')
			}
			escapeProseLine(&b, line)
		}
	}
	return b.String()
}

// escapeProseLine writes one line of prose with "$" and "<" escaped outside
// code spans. A run of n backticks opens a code span only where a run of
// exactly n closes it on the line; otherwise markdown shows it as it is,
// and escaping goes on after it.
func escapeProseLine(b *strings.Builder, line string) {
	for j := 0; j < len(line); {
		c := line[j]
		switch c {
		case '`':
			n := backtickRun(line, j)
			end := closingRun(line, j+n, n)
			if end < 0 {
				end = j + n
			}
			b.WriteString(line[j:end])
			j = end
			continue
		case '$':
			b.WriteString(`\$`)
		case '<':
			b.WriteString("&lt;")
		default:
			b.WriteByte(c)
		}
		j++
	}
}

// backtickRun is the length of the run of backticks at s[i:].
func backtickRun(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

// closingRun returns the end of the first run of exactly n backticks at or
// after s[from:], or -1.
func closingRun(s string, from, n int) int {
	for i := from; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		m := backtickRun(s, i)
		if m == n {
			return i + m
		}
		i += m
	}
	return -1
}

// Truncate shortens s to at most max bytes (on a rune boundary), ending it
// with "…" when it was cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
