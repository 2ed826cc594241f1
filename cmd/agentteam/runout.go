package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/team"
)

// runOutput writes a run's outputs as the run goes:
//
//	notebook.ipynb    every executed block with its outputs; plans and the
//	                  coder's prose as markdown cells
//	transcript.jsonl  every message and event (not streaming chunks)
//	report.md         the final answer, with links to the figures and files
//	files/            images the run displayed, and the files its code wrote
//
// The notebook and transcript are rewritten/flushed after every message, so
// an interrupted run loses nothing.
type runOutput struct {
	dir      string
	filesDir string
	secrets  []string

	mu         sync.Mutex
	nb         *notebook.Notebook
	transcript *os.File
	tr         *team.Transcript
	lastAnswer string
	lastSource string
	err        error
}

func newRunOutput(dir string, secrets ...string) (*runOutput, error) {
	filesDir := filepath.Join(dir, "files")
	if err := os.MkdirAll(filesDir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "transcript.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	o := &runOutput{dir: dir, filesDir: filesDir, secrets: secrets, nb: notebook.New(), transcript: f}
	o.tr = team.NewTranscript(&redactWriter{w: f, secrets: secrets})
	return o, nil
}

var fenceRE = regexp.MustCompile("(?ms)^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*(```|~~~)[ \t]*$")

// proseOf is a message without its code blocks (they become code cells).
func proseOf(s string) string {
	s = fenceRE.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "TERMINATE", "")
	return strings.TrimSpace(s)
}

// add records one message or event.
func (o *runOutput) add(m *agents.Message) {
	if m == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tr.Write(m)
	changed := false
	switch m.Kind {
	case agents.KindText:
		if m.Source == agents.SourceUser {
			o.nb.AddMarkdown("## Task\n\n" + redact(m.Content, o.secrets...))
			changed = true
		} else if m.Source == "planner" || m.Source == "coder" {
			if p := proseOf(m.Content); p != "" {
				o.nb.AddMarkdown(fmt.Sprintf("**%s:** %s", m.Source, redact(p, o.secrets...)))
				changed = true
			}
			if m.Source == "coder" {
				o.lastAnswer, o.lastSource = m.Content, m.Source
			}
		}
	case agents.KindCodeExecution:
		for _, ex := range m.Executions {
			src := ex.Block.Code
			if lang, _ := executor.NormalizeLanguage(ex.Block.Language); lang == executor.Shell {
				src = "%%bash\n" + src
			}
			cell := o.nb.AddCode(src)
			cell.SetResult(ex.Result)
			changed = true
		}
	case agents.KindStop:
		o.nb.AddMarkdown("*Stopped: " + m.Content + "*")
		changed = true
	}
	if changed {
		o.flushNotebook()
	}
	_ = o.transcript.Sync()
}

// addInspection records the data inspection that ran before planning.
func (o *runOutput) addInspection(code string, res *executor.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nb.AddMarkdown("## Data inspection\n\nRun by agentteam before planning; its output was given to the planner.")
	o.nb.AddCode(code).SetResult(res)
	o.flushNotebook()
}

func (o *runOutput) flushNotebook() {
	if err := notebook.WriteFile(filepath.Join(o.dir, "notebook.ipynb"), o.nb); err != nil && o.err == nil {
		o.err = err
	}
}

// collectFiles copies every file the code wrote in the kernel's working
// directory (not the inputs) into files/.
func (o *runOutput) collectFiles(ctx context.Context, sess *session.Session, inputs map[string]bool) []string {
	files, err := sess.ListFiles(ctx)
	if err != nil {
		return nil
	}
	var got []string
	for _, f := range files {
		if inputs[f.Path] || strings.HasPrefix(f.Path, ".") {
			continue
		}
		data, err := sess.Download(ctx, f.Path)
		if err != nil {
			continue
		}
		dst := filepath.Join(o.filesDir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			continue
		}
		if os.WriteFile(dst, data, 0o644) == nil {
			got = append(got, f.Path)
		}
	}
	sort.Strings(got)
	return got
}

// summary of a finished (or stopped) run, for report.md.
type runSummary struct {
	Task       string
	StopReason string
	Finished   bool
	Turns      int
	Tokens     int
	Duration   time.Duration
	Model      string
	Replay     bool
}

// finalAnswer is the coder's last message without code and TERMINATE.
func (o *runOutput) finalAnswer() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return proseOf(o.lastAnswer)
}

// writeReport writes report.md and closes the transcript.
func (o *runOutput) writeReport(s runSummary) error {
	answer := o.finalAnswer()
	var b strings.Builder
	fmt.Fprintf(&b, "# agentteam report\n\n**Task:** %s\n\n", oneLineText(s.Task))
	if s.Replay {
		b.WriteString("> This run replayed recorded model answers (`--model replay:…`); no model was called.\n\n")
	}
	b.WriteString("## Final answer\n\n")
	if answer == "" {
		b.WriteString("_The run ended without a final answer._\n\n")
	} else {
		b.WriteString(answer + "\n\n")
	}
	var figures, others []string
	_ = filepath.WalkDir(o.filesDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(o.dir, p)
		rel = filepath.ToSlash(rel)
		switch strings.ToLower(filepath.Ext(p)) {
		case ".png", ".jpg", ".jpeg", ".svg", ".gif":
			figures = append(figures, rel)
		default:
			others = append(others, rel)
		}
		return nil
	})
	sort.Strings(figures)
	sort.Strings(others)
	if len(figures) > 0 {
		b.WriteString("## Figures\n\n")
		for _, f := range figures {
			fmt.Fprintf(&b, "![%s](%s)\n\n", filepath.Base(f), f)
		}
	}
	if len(others) > 0 {
		b.WriteString("## Files\n\n")
		for _, f := range others {
			fmt.Fprintf(&b, "- [%s](%s)\n", strings.TrimPrefix(f, "files/"), f)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Run\n\n")
	fmt.Fprintf(&b, "- Stop reason: %s\n- Turns: %d\n- Tokens: %d\n- Time: %s\n- Model: %s\n- Notebook: [notebook.ipynb](notebook.ipynb)\n- Transcript: [transcript.jsonl](transcript.jsonl)\n",
		s.StopReason, s.Turns, s.Tokens, s.Duration.Round(time.Millisecond), s.Model)
	err := os.WriteFile(filepath.Join(o.dir, "report.md"), []byte(redact(b.String(), o.secrets...)), 0o644)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flushNotebook()
	if cerr := o.transcript.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = o.err
	}
	if err == nil {
		err = o.tr.Err()
	}
	return err
}

func oneLineText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

var _ io.Writer = (*redactWriter)(nil)
