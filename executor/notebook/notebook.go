// Package notebook reads and writes Jupyter notebooks (nbformat 4) and turns
// executor results into notebook outputs.
package notebook

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentteam/agentteam/executor"
)

// Cell types.
const (
	Code     = "code"
	Markdown = "markdown"
	Raw      = "raw"
)

// MaxSize bounds the notebooks Read accepts.
const MaxSize = 512 << 20

// ErrInvalid is wrapped by every error about a malformed notebook.
var ErrInvalid = errors.New("invalid notebook")

// Notebook is an nbformat 4 notebook.
type Notebook struct {
	Cells         []*Cell        `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

// Cell is one notebook cell. Source is kept as one string; it is written as
// a list of lines, as Jupyter does.
type Cell struct {
	ID             string         `json:"id,omitempty"`
	CellType       string         `json:"cell_type"`
	Source         string         `json:"-"`
	Metadata       map[string]any `json:"metadata"`
	Outputs        []Output       `json:"outputs,omitempty"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	Attachments    map[string]any `json:"attachments,omitempty"`
}

// Output is one nbformat output.
type Output struct {
	OutputType     string         `json:"output_type"`
	Name           string         `json:"name,omitempty"`
	Text           string         `json:"-"`
	Data           map[string]any `json:"data,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	EName          string         `json:"ename,omitempty"`
	EValue         string         `json:"evalue,omitempty"`
	Traceback      []string       `json:"traceback,omitempty"`
}

// New returns an empty notebook for a python3 kernel.
func New() *Notebook {
	return &Notebook{
		Cells: []*Cell{},
		Metadata: map[string]any{
			"kernelspec": map[string]any{
				"name":         "python3",
				"display_name": "Python 3 (ipykernel)",
				"language":     "python",
			},
			"language_info": map[string]any{
				"name":           "python",
				"file_extension": ".py",
				"mimetype":       "text/x-python",
			},
		},
		NBFormat:      4,
		NBFormatMinor: 5,
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddCode appends a code cell.
func (nb *Notebook) AddCode(source string) *Cell {
	c := &Cell{ID: newID(), CellType: Code, Source: source, Metadata: map[string]any{}, Outputs: []Output{}}
	nb.Cells = append(nb.Cells, c)
	return c
}

// AddMarkdown appends a markdown cell.
func (nb *Notebook) AddMarkdown(source string) *Cell {
	c := &Cell{ID: newID(), CellType: Markdown, Source: source, Metadata: map[string]any{}}
	nb.Cells = append(nb.Cells, c)
	return c
}

// SetResult replaces the cell's outputs and execution count with those of
// an execution.
func (c *Cell) SetResult(r *executor.Result) {
	if r == nil {
		return
	}
	c.Outputs = Outputs(r.Outputs)
	if r.ExecutionCount > 0 {
		n := r.ExecutionCount
		c.ExecutionCount = &n
	} else {
		c.ExecutionCount = nil
	}
	if r.Status != executor.StatusOK && r.Status != executor.StatusError && r.Message != "" {
		// Timeouts, cancellation and kernel deaths leave no error output:
		// say what happened in the notebook too.
		c.Outputs = append(c.Outputs, Output{OutputType: "stream", Name: "stderr", Text: "[agentteam] " + r.Message + "\n"})
	}
}

// Outputs converts executor outputs to nbformat outputs.
func Outputs(outs []executor.Output) []Output {
	res := make([]Output, 0, len(outs))
	for _, o := range outs {
		switch o.Type {
		case executor.OutputStream:
			name := o.Name
			if name != "stderr" {
				name = "stdout"
			}
			res = append(res, Output{OutputType: "stream", Name: name, Text: o.Text})
		case executor.OutputExecuteResult, executor.OutputDisplayData:
			out := Output{OutputType: string(o.Type), Data: cloneData(o.Data), Metadata: o.Metadata}
			if out.Data == nil {
				out.Data = map[string]any{}
			}
			if out.Metadata == nil {
				out.Metadata = map[string]any{}
			}
			if o.Type == executor.OutputExecuteResult {
				n := o.ExecutionCount
				out.ExecutionCount = &n
				if n <= 0 {
					out.ExecutionCount = nil
				}
			}
			res = append(res, out)
		case executor.OutputError:
			tb := o.Traceback
			if tb == nil {
				tb = []string{}
			}
			res = append(res, Output{OutputType: "error", EName: o.EName, EValue: o.EValue, Traceback: tb})
		}
	}
	return res
}

func cloneData(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}

// ToExecutor converts nbformat outputs back to executor outputs.
func (o Output) ToExecutor() executor.Output {
	out := executor.Output{Type: executor.OutputType(o.OutputType), Name: o.Name, Text: o.Text,
		Data: o.Data, Metadata: o.Metadata, EName: o.EName, EValue: o.EValue, Traceback: o.Traceback}
	if o.ExecutionCount != nil {
		out.ExecutionCount = *o.ExecutionCount
	}
	return out
}

// splitLines splits s into lines that keep their "\n", as nbformat stores
// multi-line strings.
func splitLines(s string) []string {
	lines := []string{}
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// multiline decodes a string or a list of strings.
func multiline(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []string
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("expected a string or a list of strings")
	}
	return strings.Join(parts, ""), nil
}

// textMimes are written as lists of lines; others (json, base64 images) as
// they are.
func isTextMime(mime string) bool {
	return strings.HasPrefix(mime, "text/") || mime == "image/svg+xml" ||
		(mime != "application/json" && strings.HasPrefix(mime, "application/") && strings.Contains(mime, "javascript"))
}

func (c *Cell) MarshalJSON() ([]byte, error) {
	type plain Cell
	aux := struct {
		*plain
		Source []string `json:"source"`
	}{(*plain)(c), splitLines(c.Source)}
	if c.CellType == Code {
		// Code cells always carry outputs and execution_count (null).
		type codeCell struct {
			ID             string         `json:"id,omitempty"`
			CellType       string         `json:"cell_type"`
			ExecutionCount *int           `json:"execution_count"`
			Metadata       map[string]any `json:"metadata"`
			Outputs        []Output       `json:"outputs"`
			Source         []string       `json:"source"`
		}
		outs := c.Outputs
		if outs == nil {
			outs = []Output{}
		}
		md := c.Metadata
		if md == nil {
			md = map[string]any{}
		}
		return json.Marshal(codeCell{c.ID, c.CellType, c.ExecutionCount, md, outs, aux.Source})
	}
	if aux.plain.Metadata == nil {
		aux.plain.Metadata = map[string]any{}
	}
	aux.plain.Outputs = nil
	aux.plain.ExecutionCount = nil
	return json.Marshal(aux)
}

func (c *Cell) UnmarshalJSON(b []byte) error {
	type plain Cell
	aux := struct {
		*plain
		Source json.RawMessage `json:"source"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	s, err := multiline(aux.Source)
	if err != nil {
		return fmt.Errorf("cell source: %w", err)
	}
	c.Source = s
	return nil
}

func (o Output) MarshalJSON() ([]byte, error) {
	type plain Output
	data := o.Data
	if data != nil {
		data = make(map[string]any, len(o.Data))
		for k, v := range o.Data {
			if s, ok := v.(string); ok && isTextMime(k) {
				data[k] = splitLines(s)
			} else {
				data[k] = v
			}
		}
	}
	p := plain(o)
	p.Data = data
	switch o.OutputType {
	case "stream":
		return json.Marshal(struct {
			OutputType string   `json:"output_type"`
			Name       string   `json:"name"`
			Text       []string `json:"text"`
		}{"stream", o.Name, splitLines(o.Text)})
	case "execute_result":
		if p.Metadata == nil {
			p.Metadata = map[string]any{}
		}
		if p.Data == nil {
			p.Data = map[string]any{}
		}
		return json.Marshal(struct {
			OutputType     string         `json:"output_type"`
			ExecutionCount *int           `json:"execution_count"`
			Data           map[string]any `json:"data"`
			Metadata       map[string]any `json:"metadata"`
		}{"execute_result", o.ExecutionCount, p.Data, p.Metadata})
	case "display_data":
		if p.Metadata == nil {
			p.Metadata = map[string]any{}
		}
		if p.Data == nil {
			p.Data = map[string]any{}
		}
		return json.Marshal(struct {
			OutputType string         `json:"output_type"`
			Data       map[string]any `json:"data"`
			Metadata   map[string]any `json:"metadata"`
		}{"display_data", p.Data, p.Metadata})
	case "error":
		tb := o.Traceback
		if tb == nil {
			tb = []string{}
		}
		return json.Marshal(struct {
			OutputType string   `json:"output_type"`
			EName      string   `json:"ename"`
			EValue     string   `json:"evalue"`
			Traceback  []string `json:"traceback"`
		}{"error", o.EName, o.EValue, tb})
	}
	return json.Marshal(p)
}

func (o *Output) UnmarshalJSON(b []byte) error {
	type plain Output
	aux := struct {
		*plain
		Text json.RawMessage            `json:"text"`
		Data map[string]json.RawMessage `json:"data"`
	}{plain: (*plain)(o)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	t, err := multiline(aux.Text)
	if err != nil {
		return fmt.Errorf("output text: %w", err)
	}
	o.Text = t
	if aux.Data != nil {
		o.Data = make(map[string]any, len(aux.Data))
		for k, raw := range aux.Data {
			if k == "application/json" || strings.HasSuffix(k, "+json") {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					return fmt.Errorf("output data %s: %w", k, err)
				}
				o.Data[k] = v
				continue
			}
			s, err := multiline(raw)
			if err != nil {
				return fmt.Errorf("output data %s: %w", k, err)
			}
			o.Data[k] = s
		}
	}
	return nil
}

// Read decodes a notebook. It accepts nbformat 4 (any minor version) and
// rejects anything else with an error wrapping ErrInvalid.
func Read(r io.Reader) (*Notebook, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrInvalid, MaxSize>>20)
	}
	var head struct {
		NBFormat *int `json:"nbformat"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if head.NBFormat == nil {
		return nil, fmt.Errorf("%w: no nbformat version", ErrInvalid)
	}
	if *head.NBFormat != 4 {
		return nil, fmt.Errorf("%w: nbformat %d is not supported (only 4; convert it with `jupyter nbconvert --to notebook`)", ErrInvalid, *head.NBFormat)
	}
	var nb Notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	seen := map[string]bool{}
	for i, c := range nb.Cells {
		if c == nil {
			return nil, fmt.Errorf("%w: cell %d is null", ErrInvalid, i)
		}
		switch c.CellType {
		case Code, Markdown, Raw:
		default:
			return nil, fmt.Errorf("%w: cell %d has unknown type %q", ErrInvalid, i, c.CellType)
		}
		if c.ID == "" || seen[c.ID] {
			c.ID = newID()
		}
		seen[c.ID] = true
	}
	if nb.Metadata == nil {
		nb.Metadata = map[string]any{}
	}
	if nb.NBFormatMinor < 5 {
		// Cell ids are part of 4.5; we always write them.
		nb.NBFormatMinor = 5
	}
	return &nb, nil
}

// ReadFile reads a notebook file.
func ReadFile(path string) (*Notebook, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	nb, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb, nil
}

// Write encodes the notebook as Jupyter does (one-space indent, sorted
// keys).
func Write(w io.Writer, nb *Notebook) error {
	// Round-trip through a generic value so keys come out sorted.
	b, err := json.Marshal(nb)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// WriteFile writes the notebook atomically (a temporary file renamed over
// path), so a reader never sees half a notebook.
func WriteFile(path string, nb *Notebook) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := Write(f, nb); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// CodeCells returns the code cells in order.
func (nb *Notebook) CodeCells() []*Cell {
	var cells []*Cell
	for _, c := range nb.Cells {
		if c.CellType == Code {
			cells = append(cells, c)
		}
	}
	return cells
}
