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
	errShown := false
	for _, o := range r.Outputs {
		if o.Type == OutputError {
			errShown = true
		}
		b.WriteString(o.text())
	}
	if r.Error != nil && !errShown {
		b.WriteString(r.Error.text())
	}
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

// text renders one output for a model.
func (o Output) text() string {
	switch o.Type {
	case OutputStream:
		return o.Text
	case OutputError:
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s\n", o.EName, o.EValue)
		if len(o.Traceback) > 0 {
			tb := StripANSI(strings.Join(o.Traceback, "\n"))
			b.WriteString(tb)
			if !strings.HasSuffix(tb, "\n") {
				b.WriteString("\n")
			}
		}
		return b.String()
	case OutputExecuteResult, OutputDisplayData:
		var b strings.Builder
		plain := mimeString(o.Data["text/plain"])
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
