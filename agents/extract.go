package agents

import "strings"

// ExtractCodeBlocks returns the fenced code blocks of a markdown text in
// order. Fences are ``` or ~~~ (three or more), optionally indented; the
// block ends at a closing fence of the same character at least as long. The
// language is the first word of the info string ("" when untagged). The
// opening fence's indentation is removed from the code lines. A fence that is
// never closed yields no block (the text was probably cut off); use
// ExtractCodeBlocksDetail to learn about it. It never panics.
func ExtractCodeBlocks(text string) []CodeBlock {
	blocks, _ := ExtractCodeBlocksDetail(text)
	return blocks
}

// ExtractCodeBlocksDetail is ExtractCodeBlocks that also reports whether a
// fence was left unterminated at the end of the text.
func ExtractCodeBlocksDetail(text string) (blocks []CodeBlock, unterminated bool) {
	for _, seg := range Segments(text) {
		switch {
		case seg.Code && seg.Closed:
			blocks = append(blocks, seg.Block)
		case seg.Code:
			return blocks, true
		}
	}
	return blocks, false
}

// Segment is a piece of a markdown text: prose, or a fenced code block
// with its fence lines.
type Segment struct {
	// Text is the piece as written (fences included), without its final
	// line break.
	Text string
	// Code is true for a fenced block; Block is its language and code, and
	// Closed says whether its closing fence was found (an unterminated
	// block runs to the end of the text).
	Code   bool
	Block  CodeBlock
	Closed bool
}

// Segments splits a markdown text into prose and fenced code blocks, in
// order, by the rules of ExtractCodeBlocks. It is the one fence parser:
// code extraction, prose without code, and escaping of prose all use it.
func Segments(text string) []Segment {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	var segs []Segment
	var prose []string
	flush := func() {
		if len(prose) > 0 {
			segs = append(segs, Segment{Text: strings.Join(prose, "\n")})
			prose = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		indent, ch, n, info, ok := openingFence(lines[i])
		if !ok {
			prose = append(prose, lines[i])
			continue
		}
		var code []string
		closed := false
		j := i + 1
		for ; j < len(lines); j++ {
			if isClosingFence(lines[j], ch, n) {
				closed = true
				break
			}
			code = append(code, stripIndent(lines[j], indent))
		}
		flush()
		end := min(j+1, len(lines))
		segs = append(segs, Segment{Text: strings.Join(lines[i:end], "\n"), Code: true, Closed: closed,
			Block: CodeBlock{Language: firstWord(info), Code: strings.Join(code, "\n")}})
		i = j
	}
	flush()
	return segs
}

// StripCodeBlocks returns text without its fenced code blocks (an
// unterminated one runs to the end), its prose trimmed.
func StripCodeBlocks(text string) string {
	var parts []string
	for _, seg := range Segments(text) {
		if !seg.Code {
			parts = append(parts, seg.Text)
		}
	}
	return strings.TrimSpace(strings.Join(parts, "\n"))
}

// openingFence parses a fence line: indentation (spaces/tabs), the fence
// character, its run length and the info string.
func openingFence(line string) (indent string, ch byte, n int, info string, ok bool) {
	rest := strings.TrimLeft(line, " \t")
	indent = line[:len(line)-len(rest)]
	if len(rest) < 3 || (rest[0] != '`' && rest[0] != '~') {
		return "", 0, 0, "", false
	}
	ch = rest[0]
	for n < len(rest) && rest[n] == ch {
		n++
	}
	if n < 3 {
		return "", 0, 0, "", false
	}
	info = strings.TrimSpace(rest[n:])
	if ch == '`' && strings.ContainsRune(info, '`') {
		// ```inline``` code on one line is not a fence.
		return "", 0, 0, "", false
	}
	return indent, ch, n, info, true
}

func isClosingFence(line string, ch byte, n int) bool {
	rest := strings.TrimSpace(line)
	if len(rest) < n {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] != ch {
			return false
		}
	}
	return true
}

// stripIndent removes the opening fence's indentation (or as much of it as
// the line has).
func stripIndent(line, indent string) string {
	i := 0
	for i < len(indent) && i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return line[i:]
}

// firstWord returns the language tag of an info string: "python" for
// "python title=x", "py" for "{py}" or ".py".
func firstWord(info string) string {
	info = strings.TrimLeft(info, "{.")
	if i := strings.IndexAny(info, " \t{}"); i >= 0 {
		info = info[:i]
	}
	return info
}
