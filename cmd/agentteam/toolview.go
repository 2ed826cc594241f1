package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/agentteam/agentteam/agents"
)

// toolCalls shows the tools a speaker calls: the code of run_python and
// run_shell like a fenced block, other calls as one line.
func (t *terminal) toolCalls(m *agents.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.quiet {
		return
	}
	if t.speaker != m.Source || t.md == nil {
		t.header(m.Source)
		t.md = &mdStream{}
		t.render(t.md.feed(m.Content))
	}
	t.flushThinking()
	// What was streamed so far comes first; the response that follows
	// must not print it again.
	t.render(t.md.finish())
	t.md = &mdStream{}
	for _, c := range m.ToolCalls {
		t.endLine()
		if b, ok := agents.CodeToolBlock(c); ok {
			t.write(t.dimS.Render("→ "+t.clean(c.Name)) + "\n")
			t.renderCode(b.Language, b.Code)
			continue
		}
		line := "→ " + c.Name + "(" + truncateRunes(c.Arguments, 200) + ")"
		t.write(t.dimS.Render(t.clean(strings.ReplaceAll(line, "\n", " "))) + "\n")
	}
}

// ask prints a question for the person at the terminal (stderr in --json
// and --quiet modes).
func (t *terminal) ask(prompt string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopSpin()
	prompt = t.clean(prompt)
	if t.json || t.quiet {
		io.WriteString(t.err, prompt)
		return
	}
	t.endLine()
	t.write(t.warnS.Render(prompt))
	t.lineOut = false
}

// lineReader reads answers from the terminal, one line each, giving up when
// ctx ends.
type lineReader struct {
	once  sync.Once
	in    io.Reader
	lines chan string
	err   error
}

func newLineReader(in io.Reader) *lineReader { return &lineReader{in: in, lines: make(chan string)} }

func (l *lineReader) read(ctx context.Context) (string, error) {
	l.once.Do(func() {
		go func() {
			sc := bufio.NewScanner(l.in)
			for sc.Scan() {
				l.lines <- sc.Text()
			}
			l.err = sc.Err()
			if l.err == nil {
				l.err = io.EOF
			}
			close(l.lines)
		}()
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case s, ok := <-l.lines:
		if !ok {
			return "", fmt.Errorf("reading the answer: %w", l.err)
		}
		return s, nil
	}
}

// inputFunc asks the person at the terminal (solve --interactive).
func inputFunc(ui *terminal, lr *lineReader) agents.InputFunc {
	return func(ctx context.Context, question string) (string, error) {
		ui.ask("\n" + strings.TrimSpace(question) + "\nyour answer> ")
		return lr.read(ctx)
	}
}

// approveFunc asks before each code block runs (solve --approve): y runs
// it; n, an empty line or any other text refuses, the text being the
// reason given to the coder.
func approveFunc(ui *terminal, lr *lineReader) agents.ApprovalFunc {
	return func(ctx context.Context, blocks []agents.CodeBlock) (bool, string) {
		var b strings.Builder
		b.WriteString("\nRun this code?\n")
		for _, bl := range blocks {
			lang := bl.Language
			if lang == "" {
				lang = "python"
			}
			fmt.Fprintf(&b, "--- %s\n%s\n", lang, strings.TrimRight(bl.Code, "\n"))
		}
		b.WriteString("---\n[y]es, or [n]o or a reason to refuse> ")
		ui.ask(b.String())
		ans, err := lr.read(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return false, "the run was stopped"
			}
			return false, "no answer from the user (" + err.Error() + ")"
		}
		switch a := strings.TrimSpace(ans); strings.ToLower(a) {
		case "y", "yes":
			return true, ""
		case "", "n", "no":
			return false, "the user refused to run it"
		default:
			return false, "the user refused to run it: " + a
		}
	}
}
