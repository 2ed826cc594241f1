package agents

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agentteam/agentteam/executor"
)

// OutputText renders one kernel output as text for a model: stream text,
// the text/plain form of results and displays (or a note naming the rich
// types and saved files), and the traceback of errors.
func OutputText(o executor.Output) string {
	switch o.Type {
	case executor.OutputStream:
		return o.Text
	case executor.OutputError:
		if len(o.Traceback) > 0 {
			return strings.Join(o.Traceback, "\n") + "\n"
		}
		return o.EName + ": " + o.EValue + "\n"
	case executor.OutputExecuteResult, executor.OutputDisplayData:
		if s, ok := o.Data["text/plain"].(string); ok && !hasRich(o.Data) {
			return s + "\n"
		}
		var rich []string
		for k := range o.Data {
			if k != "text/plain" {
				rich = append(rich, k)
			}
		}
		sort.Strings(rich)
		var b strings.Builder
		if s, ok := o.Data["text/plain"].(string); ok && s != "" && !strings.HasPrefix(s, "<Figure") {
			b.WriteString(s)
			b.WriteString("\n")
		}
		if len(rich) > 0 {
			fmt.Fprintf(&b, "[%s output", strings.Join(rich, ", "))
			if len(o.Files) > 0 {
				fmt.Fprintf(&b, " saved to %s", strings.Join(o.Files, ", "))
			}
			b.WriteString("]\n")
		}
		return b.String()
	}
	return ""
}

func hasRich(data map[string]any) bool {
	for k := range data {
		if k != "text/plain" {
			return true
		}
	}
	return false
}

// ResultText renders the outputs of an execution as text for a model.
func ResultText(r *executor.Result) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for _, o := range r.Outputs {
		b.WriteString(OutputText(o))
	}
	if r.Error != nil && !hasErrorOutput(r.Outputs) {
		b.WriteString(OutputText(*r.Error))
	}
	if r.Truncated {
		b.WriteString("[output truncated]\n")
	}
	return b.String()
}

func hasErrorOutput(outs []executor.Output) bool {
	for _, o := range outs {
		if o.Type == executor.OutputError {
			return true
		}
	}
	return false
}

// clip keeps at most max characters of s: its head and tail with a note in
// between.
func clip(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	head := max * 2 / 3
	tail := max - head
	// Do not cut UTF-8 sequences.
	for head > 0 && head < len(s) && s[head]&0xC0 == 0x80 {
		head--
	}
	start := len(s) - tail
	for start < len(s) && s[start]&0xC0 == 0x80 {
		start++
	}
	return s[:head] + fmt.Sprintf("\n[... %d characters cut ...]\n", start-head) + s[start:]
}
