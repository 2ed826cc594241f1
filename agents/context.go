package agents

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/tokens"
)

// Context window management of an Assistant.
//
// When a window is set, every request is made to fit it minus the answer
// budget. The system prompt and the task messages are always sent whole;
// the newest turns come next. When the window is tight:
//
//  1. older execution outputs shrink (head and tail, with a marker saying
//     what was cut), then older messages of others, first to 2,000
//     characters, then to 300;
//  2. then the oldest turns fold into one deterministic note naming the
//     steps elided and the variables still in the kernel;
//  3. as a last resort, for this request only, the newest messages are
//     clipped.
//
// Shrinking and folding are recorded, and only ever grow: the messages sent
// stay the same from one turn to the next (so endpoints with prompt caching
// keep hitting their cache) until the window forces the next step, and a
// fold goes well below the limit so that it does not happen every turn.

// entry is one message of an assistant's model context.
type entry struct {
	llm.Message
	// Task: a task message (from the user), always sent whole.
	Task bool `json:"task,omitempty"`
	// Output: a code executor's reply.
	Output bool `json:"output,omitempty"`
	// Shrink: 0 whole, 1 clipped to shrink1 characters without images, 2
	// clipped to shrink2 characters.
	Shrink int `json:"shrink,omitempty"`

	counts [3]int // token counts per shrink level, 0 = not counted yet
}

const (
	shrink1 = 2000
	shrink2 = 300
	// keepNewest entries are never shrunk or folded.
	keepNewest = 2
	// imageTokens is what one image is assumed to cost (OpenAI counts 765
	// for a 1024×1024 image in high detail; Qwen-VL about 1,300).
	imageTokens = 1500
	// shrinkTarget and foldTarget: shrinking goes down to this share of the
	// budget, folding to that.
	shrinkTarget = 0.75
	foldTarget   = 0.5
)

// message returns the entry as sent at its shrink level.
func (e *entry) message() llm.Message {
	m := e.Message
	switch e.Shrink {
	case 1:
		m.Content = clipMiddle(m.Content, shrink1, "to fit the context window")
		m.Images = nil
	case 2:
		m.Content = clipMiddle(m.Content, shrink2, "to fit the context window")
		m.Images = nil
	}
	return m
}

func (e *entry) tokens(tc tokens.Counter) int {
	if e.counts[e.Shrink] == 0 {
		m := e.message()
		e.counts[e.Shrink] = tc.Count(m.Content) + tokens.PerMessage + len(m.Images)*imageTokens
		for _, c := range m.ToolCalls {
			e.counts[e.Shrink] += tc.Count(c.Name) + tc.Count(c.Arguments) + tokens.PerMessage
		}
	}
	return e.counts[e.Shrink]
}

// clipMiddle keeps the head and the tail of s within max bytes (at rune
// boundaries), with a marker saying how much was cut and why.
func clipMiddle(s string, max int, why string) string {
	if len(s) <= max {
		return s
	}
	head := max * 2 / 3
	tail := max - head
	for head > 0 && !utf8Start(s[head]) {
		head--
	}
	t := len(s) - tail
	for t < len(s) && !utf8Start(s[t]) {
		t++
	}
	lines := strings.Count(s[head:t], "\n")
	return fmt.Sprintf("%s\n[… %d characters (%d lines) cut %s …]\n%s", s[:head], t-head, lines, why, s[t:])
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// ContextError says a request cannot fit the context window even with only
// the system prompt and the task. It wraps llm.ErrContextTooLong.
type ContextError struct {
	Need, Window, Answer int
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("the system prompt and the task alone need about %d tokens, more than the context window of %d tokens less %d for the answer",
		e.Need, e.Window, e.Answer)
}

func (e *ContextError) Unwrap() error { return llm.ErrContextTooLong }

// window is the context manager of one assistant.
type window struct {
	size   int // tokens; 0: no management
	answer int // tokens reserved for the answer
	tc     tokens.Counter
	// vars, when set, lists the variables in the kernel (for fold notes).
	vars func(ctx context.Context) []string

	folded int    // entries [0, folded) that are not tasks are folded
	note   string // the fold note
}

// budget is what the prompt may use.
func (w *window) budget() int {
	return w.size - w.answer - w.size/50 - 16
}

// build returns the messages to send and their token count.
func (w *window) build(system string, h []entry, clip map[int]int) ([]llm.Message, int) {
	out := make([]llm.Message, 0, len(h)+2)
	total := 0
	if system != "" {
		out = append(out, llm.Message{Role: llm.RoleSystem, Content: system})
		total += w.tc.Count(system) + tokens.PerMessage
	}
	folded := min(w.folded, len(h))
	for i := range h[:folded] {
		if h[i].Task {
			out = append(out, h[i].message())
			total += h[i].tokens(w.tc)
		}
	}
	if w.note != "" && folded > 0 {
		out = append(out, llm.Message{Role: llm.RoleUser, Name: "context", Content: w.note})
		total += w.tc.Count(w.note) + tokens.PerMessage
	}
	for i := folded; i < len(h); i++ {
		m := h[i].message()
		if n, ok := clip[i]; ok {
			m.Content = clipMiddle(m.Content, n, "to fit the context window (this request only)")
			m.Images = nil
			out = append(out, m)
			total += w.tc.Count(m.Content) + tokens.PerMessage
			continue
		}
		out = append(out, m)
		total += h[i].tokens(w.tc)
	}
	return out, total
}

// fit returns the messages of a request that fits the window, shrinking
// and folding h as needed.
func (w *window) fit(ctx context.Context, system string, h []entry) ([]llm.Message, error) {
	budget := w.budget()
	msgs, total := w.build(system, h, nil)
	if total <= budget {
		return msgs, nil
	}
	// 1. Shrink older outputs, then older messages of others, well below
	// the limit (so that it does not happen again next turn).
	last := len(h) - keepNewest
	target := int(float64(budget) * shrinkTarget)
	for level := 1; level <= 2 && total > target; level++ {
		for _, outputsOnly := range []bool{true, false} {
			for i := w.folded; i < last && total > target; i++ {
				e := &h[i]
				if e.Task || e.Shrink >= level || (outputsOnly && !e.Output) {
					continue
				}
				before := e.tokens(w.tc)
				e.Shrink = level
				total += e.tokens(w.tc) - before
			}
		}
	}
	if total <= target {
		msgs, _ = w.build(system, h, nil)
		return msgs, nil
	}
	// 2. Fold the oldest turns, well below the limit.
	if last > w.folded {
		target = int(float64(budget) * foldTarget)
		var names []string
		fromKernel := false
		if w.vars != nil {
			names = w.vars(ctx)
			fromKernel = names != nil
		}
		n := w.folded
		for n < last {
			n++
			// Tool results go with the call they answer.
			for n < len(h) && h[n].Role == llm.RoleTool {
				n++
			}
			w.folded = n
			w.note = foldNote(h[:n], names, fromKernel)
			if _, t := w.build(system, h, nil); t <= target {
				break
			}
		}
		msgs, total = w.build(system, h, nil)
		if total <= budget {
			return msgs, nil
		}
	}
	// 3. Clip the newest messages, for this request only.
	clip := map[int]int{}
	for size := shrink1; ; size /= 2 {
		for i := w.folded; i < len(h); i++ {
			if !h[i].Task {
				clip[i] = size
			}
		}
		msgs, total = w.build(system, h, clip)
		if total <= budget {
			return msgs, nil
		}
		if size < 100 {
			break
		}
	}
	return nil, &ContextError{Need: total, Window: w.size, Answer: w.answer}
}

// foldNote describes the folded entries deterministically. names are the
// kernel's variables when fromKernel; else the names the folded code
// defined are listed.
func foldNote(folded []entry, names []string, fromKernel bool) string {
	steps, msgs := 0, 0
	for _, e := range folded {
		if e.Task {
			continue
		}
		msgs++
		if e.Output {
			steps++
		}
	}
	var b strings.Builder
	b.WriteString("[Context note: to fit the context window, ")
	switch {
	case steps == 1:
		fmt.Fprintf(&b, "step 1 (its code and output, %d messages) is elided here; it ran.", msgs)
	case steps > 1:
		fmt.Fprintf(&b, "steps 1–%d (their code and outputs, %d messages) are elided here; they ran.", steps, msgs)
	default:
		fmt.Fprintf(&b, "the first %d messages of the conversation are elided here.", msgs)
	}
	if !fromKernel {
		names = assignedNames(folded)
		if len(names) > 0 {
			b.WriteString(" Names they defined: ")
		}
	} else if len(names) > 0 {
		b.WriteString(" Variables now in the kernel: ")
	}
	if len(names) > 60 {
		names = append(names[:60:60], "…")
	}
	b.WriteString(strings.Join(names, ", "))
	if len(names) > 0 {
		b.WriteString(".")
	}
	b.WriteString("]")
	return b.String()
}

var (
	assignRe = regexp.MustCompile(`(?m)^([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*=[^=]`)
	defRe    = regexp.MustCompile(`(?m)^(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)`)
	importRe = regexp.MustCompile(`(?m)^(?:from\s+\S+\s+)?import\s+(.+)$`)
)

// assignedNames finds the top-level names the code blocks of folded
// messages defined (a fallback when the kernel cannot be asked).
func assignedNames(folded []entry) []string {
	seen := map[string]bool{}
	for _, e := range folded {
		if e.Role != llm.RoleAssistant && e.Output {
			continue
		}
		for _, b := range ExtractCodeBlocks(e.Content) {
			for _, m := range assignRe.FindAllStringSubmatch(b.Code, -1) {
				for _, n := range strings.Split(m[1], ",") {
					seen[strings.TrimSpace(n)] = true
				}
			}
			for _, m := range defRe.FindAllStringSubmatch(b.Code, -1) {
				seen[m[1]] = true
			}
			for _, m := range importRe.FindAllStringSubmatch(b.Code, -1) {
				for _, part := range strings.Split(m[1], ",") {
					f := strings.Fields(part)
					if len(f) == 3 && f[1] == "as" {
						seen[f[2]] = true
					} else if len(f) == 1 {
						seen[strings.Split(f[0], ".")[0]] = true
					}
				}
			}
		}
	}
	var names []string
	for n := range seen {
		if n != "" && !strings.HasPrefix(n, "_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
