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
		inCode := false
		for _, r := range seg.Text {
			switch {
			case r == '`':
				inCode = !inCode
				b.WriteRune(r)
			case r == '\n':
				inCode = false
				b.WriteRune(r)
			case inCode:
				b.WriteRune(r)
			case r == '$':
				b.WriteString(`\$`)
			case r == '<':
				b.WriteString("&lt;")
			default:
				b.WriteRune(r)
			}
		}
	}
	return b.String()
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
