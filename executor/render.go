package executor

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// NoOutput is what Text renders for an execution that printed nothing.
const NoOutput = "(no output)"

// Text renders the result for a model: stdout and stderr, the text/plain form
// of results and displays, errors as "Name: value" with the ANSI-free
// traceback, the names of saved files, and a note when the execution timed
// out, was cancelled, lost state or was truncated. An execution without any
// output renders as "(no output)".
func (r *Result) Text() string {
	if r == nil {
		return NoOutput
	}
	var b strings.Builder
	b.WriteString(r.outputs())
	if b.Len() == 0 && r.Message == "" && r.Status == StatusOK {
		return NoOutput
	}
	if b.Len() == 0 {
		b.WriteString(NoOutput + "\n")
	}
	var notes []string
	if r.Truncated && !strings.Contains(b.String(), "output truncated]") {
		notes = append(notes, "output truncated")
	}
	if r.Message != "" {
		notes = append(notes, r.Message)
	} else {
		switch r.Status {
		case StatusTimeout:
			notes = append(notes, "execution timed out")
		case StatusCancelled:
			notes = append(notes, "execution cancelled")
		case StatusKernelDied:
			notes = append(notes, "kernel died; all variables and imports are lost")
		}
	}
	if r.StateLost && r.Status != StatusKernelDied && !strings.Contains(r.Message, "state") {
		notes = append(notes, "kernel state was lost: variables and imports defined earlier are gone")
	}
	s := b.String()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	for _, n := range notes {
		s += "[" + n + "]\n"
	}
	return strings.TrimRight(s, "\n")
}

// OutputsText renders just the outputs (and the error) for a model, with
// OutputText, and "[output truncated]" when text was cut; "" when there was
// none. Text adds how the execution ended.
func (r *Result) OutputsText() string {
	if r == nil {
		return ""
	}
	s := r.outputs()
	if r.Truncated && !strings.Contains(s, "output truncated]") {
		s += "[output truncated]\n"
	}
	return s
}

func (r *Result) outputs() string {
	var b strings.Builder
	errShown := false
	for _, o := range r.Outputs {
		if o.Type == OutputError {
			errShown = true
		}
		b.WriteString(OutputText(o))
	}
	if r.Error != nil && !errShown {
		b.WriteString(OutputText(*r.Error))
	}
	return b.String()
}

// OutputText renders one output as text, for a model or a log: stream text,
// errors as "Name: value" with the ANSI-free traceback, and the text/plain
// form of results and displays with a note naming rich types or the files
// they were saved to. It is the one renderer of outputs as text.
func OutputText(o Output) string {
	switch o.Type {
	case OutputStream:
		return o.Text
	case OutputError:
		var b strings.Builder
		tb := strings.TrimRight(StripANSI(strings.Join(o.Traceback, "\n")), "\n")
		// A Python traceback ends with "Name: value"; say it first only
		// when the traceback does not.
		head := o.EName + ": " + o.EValue
		if tb == "" || !strings.HasSuffix(strings.TrimSpace(tb), strings.TrimSpace(head)) {
			b.WriteString(head + "\n")
		}
		if tb != "" {
			b.WriteString(tb + "\n")
		}
		return b.String()
	case OutputExecuteResult, OutputDisplayData:
		var b strings.Builder
		plain := MimeString(o.Data["text/plain"])
		var rich []string
		for k := range o.Data {
			if k != "text/plain" {
				rich = append(rich, k)
			}
		}
		sort.Strings(rich)
		// A figure's repr ("<Figure size ...>") says nothing the file name
		// does not.
		if plain != "" && !(len(o.Files) > 0 && strings.HasPrefix(plain, "<Figure")) {
			b.WriteString(plain)
			b.WriteString("\n")
		}
		if len(o.Files) > 0 {
			names := make([]string, len(o.Files))
			for i, f := range o.Files {
				names[i] = f
			}
			fmt.Fprintf(&b, "[%s saved to %s]\n", kinds(o.Files), strings.Join(names, ", "))
		} else if plain == "" && len(rich) > 0 {
			fmt.Fprintf(&b, "[%s output]\n", strings.Join(rich, ", "))
		}
		for _, n := range o.Omitted {
			fmt.Fprintf(&b, "[%s]\n", n)
		}
		return b.String()
	}
	return ""
}

func kinds(files []string) string {
	var k []string
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".html":
			k = append(k, "html")
		default:
			k = append(k, "image")
		}
	}
	if len(k) == 1 {
		return k[0]
	}
	return "outputs"
}
