package notebook_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// validate checks a notebook file with the reference nbformat validator.
func validate(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path).CombinedOutput()
	if err != nil && strings.Contains(string(out), "No module named 'nbformat'") && os.Getenv("CI") != "true" {
		t.Skip("python3-nbformat is not installed")
	}
	require.NoError(t, err, string(out))
	assert.Equal(t, "valid\n", string(out))
}

func TestExecutedNotebookValidates(t *testing.T) {
	srv := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: c})
	require.NoError(t, err)
	defer k.Close(ctx)

	nb := notebook.New()
	nb.AddMarkdown("# Plan\n1. print\n2. plot\n")
	sources := []string{
		"print('hello')\nprint('multi\\nline')",
		"x = 41\nx + 1",
		"import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
		"from IPython.display import HTML\nHTML('<b>bold</b>')",
		"1/0",
	}
	for _, src := range sources {
		cell := nb.AddCode(src)
		res, err := k.Execute(ctx, executor.Request{Code: src})
		require.NoError(t, err)
		cell.SetResult(res)
	}
	path := filepath.Join(t.TempDir(), "out.ipynb")
	require.NoError(t, notebook.WriteFile(path, nb))
	validate(t, path)

	back, err := notebook.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, back.Cells, 6)
	assert.Equal(t, notebook.Markdown, back.Cells[0].CellType)
	assert.Equal(t, "# Plan\n1. print\n2. plot\n", back.Cells[0].Source)
	assert.Equal(t, "hello\nmulti\nline\n", back.Cells[1].Outputs[0].Text)
	require.NotNil(t, back.Cells[2].ExecutionCount)
	assert.Equal(t, 2, *back.Cells[2].ExecutionCount)
	assert.Equal(t, "execute_result", back.Cells[2].Outputs[0].OutputType)
	assert.Equal(t, "42", back.Cells[2].Outputs[0].Data["text/plain"])
	var png string
	for _, o := range back.Cells[3].Outputs {
		if s, ok := o.Data["image/png"].(string); ok {
			png = s
		}
	}
	assert.True(t, strings.HasPrefix(png, "iVBOR"), "image/png as base64")
	assert.Contains(t, back.Cells[4].Outputs[0].Data["text/html"], "<b>bold</b>")
	errOut := back.Cells[5].Outputs[0]
	assert.Equal(t, "error", errOut.OutputType)
	assert.Equal(t, "ZeroDivisionError", errOut.EName)
	assert.NotEmpty(t, errOut.Traceback)
}

func TestReadAcceptsJupyterShapes(t *testing.T) {
	src := `{"cells":[{"cell_type":"code","execution_count":null,"metadata":{},"outputs":[],"source":["a = 1\n","b = 2"]},
{"cell_type":"markdown","metadata":{},"source":"# T"},
{"cell_type":"code","execution_count":3,"metadata":{},"outputs":[{"output_type":"stream","name":"stdout","text":["x\n","y\n"]},
 {"output_type":"execute_result","execution_count":3,"metadata":{},"data":{"text/plain":["1\n","2"],"application/json":{"a":[1,2]}}}],"source":"print(1)"}],
"metadata":{},"nbformat":4,"nbformat_minor":2}`
	nb, err := notebook.Read(strings.NewReader(src))
	require.NoError(t, err)
	require.Len(t, nb.Cells, 3)
	assert.Equal(t, "a = 1\nb = 2", nb.Cells[0].Source)
	assert.NotEmpty(t, nb.Cells[0].ID, "ids are added")
	assert.NotEqual(t, nb.Cells[0].ID, nb.Cells[1].ID)
	assert.Equal(t, "x\ny\n", nb.Cells[2].Outputs[0].Text)
	assert.Equal(t, "1\n2", nb.Cells[2].Outputs[1].Data["text/plain"])
	assert.Equal(t, map[string]any{"a": []any{1.0, 2.0}}, nb.Cells[2].Outputs[1].Data["application/json"])
	assert.Len(t, nb.CodeCells(), 2)

	var buf bytes.Buffer
	require.NoError(t, notebook.Write(&buf, nb))
	assert.Contains(t, buf.String(), "\"source\": [\n    \"a = 1\\n\",\n    \"b = 2\"\n   ]")
	again, err := notebook.Read(&buf)
	require.NoError(t, err)
	assert.Equal(t, nb.Cells[2].Outputs, again.Cells[2].Outputs)
	path := filepath.Join(t.TempDir(), "n.ipynb")
	require.NoError(t, notebook.WriteFile(path, again))
	validate(t, path)
}

func TestReadRejectsBadInput(t *testing.T) {
	for name, src := range map[string]string{
		"not json":     "{nope",
		"no version":   `{"cells": []}`,
		"nbformat 3":   `{"nbformat": 3, "worksheets": []}`,
		"bad source":   `{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": 12}]}`,
		"unknown type": `{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "weird", "source": ""}]}`,
		"null cell":    `{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [null]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := notebook.Read(strings.NewReader(src))
			require.Error(t, err)
			assert.ErrorIs(t, err, notebook.ErrInvalid)
		})
	}
}
