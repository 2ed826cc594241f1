package notebook_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/notebook"
)

// FuzzRead: Read never panics, and what it accepts survives a write and a
// second read unchanged.
func FuzzRead(f *testing.F) {
	for _, s := range []string{
		`{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}`,
		`{"cells":[{"cell_type":"code","execution_count":1,"id":"a","metadata":{},"outputs":[{"output_type":"stream","name":"stdout","text":["a\n","b"]}],"source":["x = 1\n","x"]}],"metadata":{},"nbformat":4,"nbformat_minor":4}`,
		`{"cells":[{"cell_type":"markdown","metadata":{},"source":"# t"},{"cell_type":"raw","metadata":{},"source":""}],"metadata":{"kernelspec":{"name":"python3"}},"nbformat":4,"nbformat_minor":2}`,
		`{"cells":[{"cell_type":"code","metadata":{},"outputs":[{"output_type":"display_data","data":{"image/png":"iVBOR\n","text/plain":["<F>"]},"metadata":{}},{"output_type":"error","ename":"E","evalue":"v","traceback":["t"]}],"source":""}],"metadata":{},"nbformat":4,"nbformat_minor":5}`,
		`{"cells":[{"cell_type":"code","outputs":[{"output_type":"execute_result","data":{"application/json":{"k":[1,{"z":null}]}},"execution_count":null}],"source":[]}],"nbformat":4}`,
		`{"nbformat":3}`,
		`{"cells":[null],"nbformat":4}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nb, err := notebook.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var first bytes.Buffer
		require.NoError(t, notebook.Write(&first, nb))
		again, err := notebook.Read(bytes.NewReader(first.Bytes()))
		require.NoError(t, err, "a written notebook reads back: %s", first.String())
		var second bytes.Buffer
		require.NoError(t, notebook.Write(&second, again))
		require.Equal(t, first.String(), second.String(), "write/read/write is stable")
	})
}
