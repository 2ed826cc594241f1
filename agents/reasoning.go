package agents

import "strings"

// Reasoning models (DeepSeek-R1, QwQ, Qwen3, gpt-oss behind vLLM, Ollama or
// llama.cpp) either send their reasoning in a field of its own (see
// llm.Chunk.Reasoning) or inline in the content between <think> and
// </think> (also <thinking>, <reasoning>). Reasoning is kept in the
// transcript and shown, but it is never searched for code, never executed
// and never sent back to the model as history.

var reasoningTags = []struct{ open, close string }{
	{"<think>", "</think>"},
	{"<thinking>", "</thinking>"},
	{"<reasoning>", "</reasoning>"},
}

// maxTagLen is the longest tag: a stream holds back at most this much text
// that might be the start of a tag.
const maxTagLen = len("</reasoning>")

// SplitReasoning separates the reasoning blocks of a model reply from its
// content. An opening tag counts at the start of the text or of a line
// (after blanks), so a tag quoted inside code or prose mid-line is content;
// a closing tag without an opening one (servers whose chat template opens
// the block in the prompt) makes everything before it reasoning; a block
// never closed (a reply cut off while reasoning) is reasoning to the end.
func SplitReasoning(text string) (content, reasoning string) {
	var s ReasoningSplitter
	c1, r1 := s.Feed(text)
	c2, r2 := s.Flush()
	content, reasoning = c1+c2, r1+r2
	if reasoning == "" {
		for _, t := range reasoningTags {
			if i := strings.Index(content, t.close); i >= 0 && !strings.Contains(content[:i], t.open) {
				return strings.TrimLeft(content[i+len(t.close):], "\n"), strings.TrimSpace(content[:i])
			}
		}
	}
	return content, reasoning
}

// ReasoningSplitter splits streamed content into content and reasoning as
// it arrives, holding back only what could be the start of a tag.
type ReasoningSplitter struct {
	inside    int    // 1 + index into reasoningTags while in a block
	pending   string // held back: may be the start of a tag
	lineStart bool   // pending starts at the start of a line
	started   bool
	skipNL    bool // drop the newlines right after a closing tag
}

// Feed takes the next piece of streamed content and returns what is now
// known to be content and reasoning.
func (s *ReasoningSplitter) Feed(piece string) (content, reasoning string) {
	if !s.started {
		s.started = true
		s.lineStart = true
	}
	text := s.pending + piece
	s.pending = ""
	var c, r strings.Builder
	lineStart := s.lineStart
	for len(text) > 0 {
		if s.inside > 0 {
			tag := reasoningTags[s.inside-1].close
			if i := strings.Index(text, tag); i >= 0 {
				r.WriteString(text[:i])
				text = text[i+len(tag):]
				s.inside = 0
				s.skipNL = true // a blank line usually follows the block
				lineStart = true
				continue
			}
			keep := partialSuffix(text, tag)
			r.WriteString(text[:len(text)-keep])
			s.pending = text[len(text)-keep:]
			break
		}
		if s.skipNL {
			text = strings.TrimLeft(text, "\n")
			if text == "" {
				break
			}
			s.skipNL = false
		}
		// Outside: look for an opening tag at a line start.
		i, which := s.findOpen(text, lineStart)
		if which >= 0 {
			c.WriteString(text[:i])
			text = text[i+len(reasoningTags[which].open):]
			s.inside = which + 1
			continue
		}
		// Hold back a possible partial opening tag at a line start.
		keep := 0
		if ls := lastLineStart(text, lineStart); ls >= 0 {
			rest := text[ls:]
			trimmed := strings.TrimLeft(rest, " \t")
			if len(trimmed) < maxTagLen && isTagPrefix(trimmed) {
				keep = len(rest)
			}
		}
		out := text[:len(text)-keep]
		c.WriteString(out)
		if len(out) > 0 {
			lineStart = strings.HasSuffix(out, "\n")
		}
		s.pending = text[len(text)-keep:]
		break
	}
	s.lineStart = lineStart
	return c.String(), r.String()
}

// Flush returns what was held back at the end of the stream.
func (s *ReasoningSplitter) Flush() (content, reasoning string) {
	p := s.pending
	s.pending = ""
	if s.inside > 0 {
		return "", p
	}
	return p, ""
}

// InReasoning reports whether the stream is inside a reasoning block.
func (s *ReasoningSplitter) InReasoning() bool { return s.inside > 0 }

// findOpen finds the first opening tag at a line start in text.
func (s *ReasoningSplitter) findOpen(text string, lineStart bool) (int, int) {
	pos := 0
	atStart := lineStart
	for pos <= len(text) {
		if atStart {
			j := pos
			for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
				j++
			}
			for k, t := range reasoningTags {
				if strings.HasPrefix(text[j:], t.open) {
					return j, k
				}
			}
		}
		nl := strings.IndexByte(text[pos:], '\n')
		if nl < 0 {
			break
		}
		pos += nl + 1
		atStart = true
	}
	return -1, -1
}

// lastLineStart is the index where the last line of text starts, or -1
// when text has no line start (one unfinished line that did not begin at a
// line start).
func lastLineStart(text string, lineStart bool) int {
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		return i + 1
	}
	if lineStart {
		return 0
	}
	return -1
}

func isTagPrefix(s string) bool {
	if s == "" {
		return true
	}
	for _, t := range reasoningTags {
		if strings.HasPrefix(t.open, s) {
			return true
		}
	}
	return false
}

// partialSuffix is the length of the longest suffix of text that is a
// proper prefix of tag.
func partialSuffix(text, tag string) int {
	for n := min(len(tag)-1, len(text)); n > 0; n-- {
		if strings.HasSuffix(text, tag[:n]) {
			return n
		}
	}
	return 0
}
