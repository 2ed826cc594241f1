package executor

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollectorMergesConsecutiveStreams(t *testing.T) {
	var seen []Output
	c := NewCollector(CollectorConfig{OnOutput: func(o Output) { seen = append(seen, o) }})
	c.Stream("stdout", "a")
	c.Stream("stdout", "b\n")
	c.Stream("stderr", "warn\n")
	c.Stream("stdout", "c\n")
	r := c.Result()
	require.Len(t, r.Outputs, 3)
	assert.Equal(t, "ab\n", r.Outputs[0].Text)
	assert.Equal(t, "stderr", r.Outputs[1].Name)
	assert.Equal(t, "c\n", r.Outputs[2].Text)
	assert.Len(t, seen, 4, "OnOutput sees every chunk")
	assert.Equal(t, StatusOK, r.Status)
	assert.False(t, r.Truncated)
}

func TestCollectorClearOutputAndDisplayUpdates(t *testing.T) {
	c := NewCollector(CollectorConfig{})
	c.Stream("stdout", "old\n")
	c.Clear(false)
	c.Stream("stdout", "kept\n")
	c.Clear(true)
	assert.Len(t, c.Result().Outputs, 1, "clear_output(wait=True) waits for the next output")
	c.Rich(OutputDisplayData, Display{Data: map[string]any{"text/plain": "0%"}, DisplayID: "p"})
	c.Stream("stdout", "x\n")
	c.UpdateDisplay(Display{DisplayID: "p", Data: map[string]any{"text/plain": "100%"}})
	c.UpdateDisplay(Display{DisplayID: "unknown", Data: map[string]any{"text/plain": "?"}})
	r := c.Result()
	require.Len(t, r.Outputs, 2)
	assert.Equal(t, "100%", r.Outputs[0].Data["text/plain"])
	assert.Equal(t, OutputDisplayData, r.Outputs[0].Type)
	assert.Equal(t, "100%\nx", r.Text())
}

func TestCollectorErrorStripsANSI(t *testing.T) {
	c := NewCollector(CollectorConfig{})
	c.Error("ValueError", "bad \x1b[31mvalue\x1b[0m", []string{"\x1b[0;31m---------\x1b[0m", "\x1b[1;32mValueError\x1b[0m: bad"})
	r := c.Result()
	assert.Equal(t, StatusError, r.Status)
	require.NotNil(t, r.Error)
	assert.Equal(t, "bad value", r.Error.EValue)
	assert.Equal(t, []string{"---------", "ValueError: bad"}, r.Error.Traceback)
	assert.Equal(t, "ValueError: bad value\n---------\nValueError: bad", r.Text())
}

func TestCapTextKeepsHeadAndTail(t *testing.T) {
	c := NewCollector(CollectorConfig{MaxOutputBytes: 100})
	for i := 0; i < 1000; i++ {
		c.Stream("stdout", "line "+strings.Repeat("é", 3)+"\n")
	}
	c.Stream("stdout", "THE END\n")
	r := c.Result()
	require.Len(t, r.Outputs, 1)
	txt := r.Outputs[0].Text
	assert.True(t, r.Truncated)
	assert.True(t, strings.HasPrefix(txt, "line ééé\n"))
	assert.True(t, strings.HasSuffix(txt, "THE END\n"))
	assert.Contains(t, txt, "bytes of output truncated]")
	assert.True(t, utf8.ValidString(txt))
	assert.Less(t, len(txt), 200)

	s, cut := TruncateText(strings.Repeat("x", 50), 100)
	assert.False(t, cut)
	assert.Len(t, s, 50)
	s, cut = TruncateText(strings.Repeat("a", 60)+strings.Repeat("b", 60), 100)
	assert.True(t, cut)
	assert.Equal(t, strings.Repeat("a", 50)+"\n... [20 bytes of output truncated] ...\n"+strings.Repeat("b", 50), s)
}

func TestCollectorKeepsMemoryBoundedOnHugeOutput(t *testing.T) {
	c := NewCollector(CollectorConfig{MaxOutputBytes: 64 << 10})
	chunk := strings.Repeat("y", 8<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < (100<<20)/len(chunk); i++ { // 100 MB
		c.Stream("stdout", chunk)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	r := c.Result()
	assert.True(t, r.Truncated)
	assert.Less(t, len(r.Outputs[0].Text), 70<<10)
	assert.True(t, strings.Contains(r.Outputs[0].Text, "\n... [104792064 bytes of output truncated] ...\n"), "marker counts the dropped bytes")
	assert.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(8<<20))
}

func TestCollectorDetectsIOPubRateLimit(t *testing.T) {
	c := NewCollector(CollectorConfig{})
	c.Stream("stdout", "lots\n")
	c.Stream("stderr", "IOPub data rate exceeded.\nThe Jupyter server will temporarily stop sending output\n")
	r := c.Result()
	assert.True(t, r.Truncated)
	assert.Contains(t, r.Message, "IOPub rate limit")
	assert.Contains(t, r.Text(), "[output truncated]")
	assert.Contains(t, r.Text(), "IOPub rate limit")
}

func TestCollectorSavesRichOutputs(t *testing.T) {
	dir := t.TempDir()
	c := NewCollector(CollectorConfig{OutputDir: dir, FilePrefix: "k1-3"})
	png := []byte("\x89PNG\r\n\x1a\nfake")
	c.Rich(OutputDisplayData, Display{Data: map[string]any{
		"image/png":  base64.StdEncoding.EncodeToString(png) + "\n",
		"text/plain": "<Figure size 640x480 with 1 Axes>",
	}})
	c.Rich(OutputExecuteResult, Display{Data: map[string]any{
		"text/html":     "<table></table>",
		"image/svg+xml": "<svg/>",
		"image/jpeg":    base64.StdEncoding.EncodeToString([]byte("jpg")),
		"text/plain":    "table",
	}, ExecutionCount: 3})
	r := c.Result()
	want := []string{
		filepath.Join(dir, "k1-3-1.png"),
		filepath.Join(dir, "k1-3-2.jpg"), filepath.Join(dir, "k1-3-2.svg"), filepath.Join(dir, "k1-3-2.html"),
	}
	assert.Equal(t, want, r.Files)
	assert.Equal(t, want[:1], r.Outputs[0].Files)
	b, err := os.ReadFile(want[0])
	require.NoError(t, err)
	assert.Equal(t, png, b)
	b, err = os.ReadFile(want[3])
	require.NoError(t, err)
	assert.Equal(t, "<table></table>", string(b))
	txt := r.Text()
	assert.NotContains(t, txt, "<Figure")
	assert.Contains(t, txt, "[image saved to "+want[0]+"]")
	assert.Contains(t, txt, "table\n[outputs saved to ")

	// Without an output directory nothing is saved and the types are named.
	c = NewCollector(CollectorConfig{})
	c.Rich(OutputDisplayData, Display{Data: map[string]any{"image/png": "AAAA"}})
	assert.Empty(t, c.Result().Files)
	assert.Equal(t, "[image/png output]", c.Result().Text())

	// Bad base64 is reported, not fatal.
	c = NewCollector(CollectorConfig{OutputDir: dir})
	c.Rich(OutputDisplayData, Display{Data: map[string]any{"image/png": "%%%"}})
	assert.Contains(t, c.Result().Text(), "could not save output")
}

func TestResultText(t *testing.T) {
	assert.Equal(t, "(no output)", (&Result{Status: StatusOK}).Text())
	assert.Equal(t, "(no output)", (*Result)(nil).Text())
	r := &Result{Status: StatusTimeout, Interrupted: true, Message: "timed out after 1s; kernel interrupted, state kept",
		Outputs: []Output{{Type: OutputStream, Name: "stdout", Text: "partial\n"}}}
	assert.Equal(t, "partial\n[timed out after 1s; kernel interrupted, state kept]", r.Text())
	r = &Result{Status: StatusKernelDied, StateLost: true}
	assert.Equal(t, "(no output)\n[kernel died; all variables and imports are lost]", r.Text())
	r = &Result{Status: StatusOK, StateLost: true, Outputs: []Output{{Type: OutputStream, Text: "hi\n"}}}
	assert.Contains(t, r.Text(), "hi\n[kernel state was lost")
	r = &Result{Status: StatusError, Error: &Output{Type: OutputError, EName: "ExecutionAborted", EValue: "aborted"}}
	assert.Equal(t, "ExecutionAborted: aborted", r.Text())
}

func TestStripANSI(t *testing.T) {
	assert.Equal(t, "plain", StripANSI("plain"))
	assert.Equal(t, "red bold", StripANSI("\x1b[31mred\x1b[0m \x1b[1;32mbold\x1b[0m"))
	assert.Equal(t, "title", StripANSI("\x1b]0;x\x07title"))
}
