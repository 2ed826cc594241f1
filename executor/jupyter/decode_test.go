package jupyter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// frame builds a kernel message the way jupyter-server sends it.
func frame(t testing.TB, msgType, channel string, content any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"header":        map[string]any{"msg_id": "m-" + msgType, "msg_type": msgType, "session": "s", "username": "u", "date": "2026-01-01T00:00:00Z", "version": "5.3"},
		"msg_id":        "m-" + msgType,
		"msg_type":      msgType,
		"parent_header": map[string]any{"msg_id": "parent", "msg_type": "execute_request"},
		"metadata":      map[string]any{},
		"content":       content,
		"buffers":       []any{},
		"channel":       channel,
	})
	require.NoError(t, err)
	return b
}

func decodeFrame(t testing.TB, lim decodeLimits, data []byte) *message {
	t.Helper()
	var m message
	require.NoError(t, newDecoder(lim).decode(bytes.NewReader(data), &m))
	return &m
}

var noCaps = decodeLimits{text: -1, mime: -1}

func TestDecodeFields(t *testing.T) {
	m := decodeFrame(t, noCaps, frame(t, "stream", "iopub", map[string]any{"name": "stdout", "text": "héllo \u001b[31m\"q\"\\ \U0001F600\n"}))
	assert.Equal(t, "stream", m.Header.MsgType)
	assert.Equal(t, "m-stream", m.Header.MsgID)
	assert.Equal(t, "parent", m.ParentHeader.MsgID)
	assert.Equal(t, "iopub", m.Channel)
	assert.Equal(t, "stdout", m.Content.Name)
	assert.Equal(t, executor.Cut{Head: "héllo \u001b[31m\"q\"\\ \U0001F600\n"}, m.Content.Text)

	m = decodeFrame(t, noCaps, frame(t, "execute_reply", "shell", map[string]any{"status": "error", "execution_count": 7, "ename": "E", "evalue": "v", "traceback": []string{"a", "b"}, "user_expressions": map[string]any{"x": []any{1, 2}}}))
	assert.Equal(t, "error", m.Content.Status)
	assert.Equal(t, 7, m.Content.ExecutionCount)
	assert.Equal(t, "E", m.Content.EName)
	assert.Equal(t, []string{"a", "b"}, m.Content.Traceback)

	m = decodeFrame(t, noCaps, frame(t, "display_data", "iopub", map[string]any{
		"data":      map[string]any{"text/plain": "<x>", "application/json": map[string]any{"a": []any{1.5, true, nil, "s"}}},
		"metadata":  map[string]any{"image/png": map[string]any{"width": 640}},
		"transient": map[string]any{"display_id": "d1"},
	}))
	assert.Equal(t, map[string]any{"text/plain": "<x>", "application/json": map[string]any{"a": []any{1.5, true, nil, "s"}}}, m.Content.Data)
	assert.Equal(t, map[string]any{"image/png": map[string]any{"width": 640.0}}, m.Content.Metadata)
	assert.Equal(t, "d1", m.Content.DisplayID)

	m = decodeFrame(t, noCaps, frame(t, "clear_output", "iopub", map[string]any{"wait": true}))
	assert.True(t, m.Content.Wait)
}

// Fields may come in any order, and surrogate pairs and escapes decode as
// encoding/json decodes them.
func TestDecodeOrderAndEscapes(t *testing.T) {
	data := []byte(` {"content": {"text": "a\ud83d\ude00b\u00e9\/\t\ud800x", "name": "stderr"}, "channel": "iopub",
		"header": {"msg_type": "stream", "msg_id": "1", "extra": [1, {"x": null}]}, "parent_header": {"msg_id": "p"}} `)
	m := decodeFrame(t, noCaps, data)
	var want struct {
		Content struct{ Text string } `json:"content"`
	}
	require.NoError(t, json.Unmarshal(data, &want))
	assert.Equal(t, want.Content.Text, m.Content.Text.Head)
	assert.Equal(t, "stderr", m.Content.Name)
	assert.Equal(t, "stream", m.Header.MsgType)
	assert.Equal(t, "p", m.ParentHeader.MsgID)
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, s := range []string{``, `[]`, `{`, `{"header":}`, `{"content":{"text":"abc}}`, `{"content":{"text":"\x"}}`, `{} x`, `{"a":1.}`, `{"a":01}`, `{"a":tru}`} {
		var m message
		err := newDecoder(noCaps).decode(strings.NewReader(s), &m)
		assert.ErrorIs(t, err, errSyntax, "%q", s)
	}
}

// A 5 MiB stream message is cut while it is read: the decoder keeps its
// head and tail and allocates far less than the message's size.
func TestDecodeCutsStreamWhileReading(t *testing.T) {
	text := strings.Repeat(strings.Repeat("y", 99)+"\n", 5<<20/100)
	data := frame(t, "stream", "iopub", map[string]any{"name": "stdout", "text": "HEAD" + text + "TAIL"})
	dec := newDecoder(decodeLimits{text: 1000, mime: 10 << 20})
	var m message
	require.NoError(t, dec.decode(bytes.NewReader(data), &m))
	c := m.Content.Text
	assert.True(t, strings.HasPrefix(c.Head, "HEAD"))
	assert.True(t, strings.HasSuffix(c.Tail, "TAIL"))
	assert.Equal(t, 500, len(c.Head))
	assert.Equal(t, 500, len(c.Tail))
	assert.Equal(t, int64(len(text)+8-1000), c.Omitted)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, dec.decode(bytes.NewReader(data), &m))
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<10), "bytes allocated to decode a 5 MiB stream message")
}

func TestDecodeMimeCaps(t *testing.T) {
	small := base64.StdEncoding.EncodeToString(make([]byte, 600))
	big := base64.StdEncoding.EncodeToString(make([]byte, 3000))
	data := frame(t, "display_data", "iopub", map[string]any{"data": map[string]any{
		"image/png":              small,
		"image/jpeg":             big,
		"application/x-unknown":  strings.Repeat("z", 5000),
		"application/vnd.custom": map[string]any{"rows": []any{strings.Repeat("r", 3000)}},
		"text/plain":             strings.Repeat("p", 5000),
		"text/html":              strings.Repeat("h", 1500),
	}})
	m := decodeFrame(t, decodeLimits{text: 100, mime: 2000}, data)
	d := m.Content.Data
	assert.Equal(t, small, d["image/png"], "under the cap: kept whole")
	assert.Equal(t, strings.Repeat("h", 1500), d["text/html"], "html is kept whole under the mime cap")
	assert.NotContains(t, d, "image/jpeg")
	assert.NotContains(t, d, "application/x-unknown")
	assert.NotContains(t, d, "application/vnd.custom")
	assert.Len(t, m.Content.Omitted, 3)
	assert.Contains(t, strings.Join(m.Content.Omitted, "\n"), `"image/jpeg" output of 4000 bytes dropped (over the 2000-byte cap)`)
	plain := d["text/plain"].(string)
	assert.Contains(t, plain, "[4900 bytes of output truncated]")
	assert.Less(t, len(plain), 200)

	// The collector shows what was dropped.
	col := executor.NewCollector(executor.CollectorConfig{})
	(&execution{col: col}).handle(m)
	text := col.Result().Text()
	assert.Contains(t, text, `["image/jpeg" output of 4000 bytes dropped (over the 2000-byte cap)]`)
	assert.True(t, col.Result().Truncated)
}

// The collector's per-execution budget drops rich values past it.
func TestCollectorRichBudget(t *testing.T) {
	col := executor.NewCollector(executor.CollectorConfig{MaxMimeBytes: 1000, MaxRichBytes: 2500})
	for i := 0; i < 4; i++ {
		col.Rich(executor.OutputDisplayData, executor.Display{Data: map[string]any{"image/png": strings.Repeat("A", 1000), "text/plain": "<img>"}})
	}
	res := col.Result()
	require.Len(t, res.Outputs, 4)
	kept := 0
	for _, o := range res.Outputs {
		if _, ok := o.Data["image/png"]; ok {
			kept++
		} else {
			assert.Contains(t, o.Omitted[0], "this execution's outputs passed 2500 bytes")
		}
	}
	assert.Equal(t, 2, kept)
	assert.True(t, res.Truncated)
}

// encodingJSONDecode is how messages were decoded before: the frame read
// whole, unmarshalled with its content kept raw, then the content
// unmarshalled again.
func encodingJSONDecode(data []byte) error {
	var m struct {
		Header       msgHeader       `json:"header"`
		ParentHeader msgHeader       `json:"parent_header"`
		Content      json.RawMessage `json:"content"`
		Channel      string          `json:"channel"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var c struct {
		ExecutionState string         `json:"execution_state"`
		Name           string         `json:"name"`
		Text           string         `json:"text"`
		Data           map[string]any `json:"data"`
		Metadata       map[string]any `json:"metadata"`
	}
	return json.Unmarshal(m.Content, &c)
}

// BenchmarkDecode measures decoding one kernel message: a small status, a
// 5 MiB stream (cut to the default 64 KiB) and a 5 MiB PNG display (kept
// whole: under the default 10 MiB cap), with this package's decoder and, for
// comparison, with encoding/json as messages were decoded before.
func BenchmarkDecode(b *testing.B) {
	text := strings.Repeat(strings.Repeat("y", 99)+"\n", 5<<20/100)
	png := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, (5<<20-8)/3)...))
	cases := []struct {
		name string
		data []byte
	}{
		{"status", frame(b, "status", "iopub", map[string]any{"execution_state": "idle"})},
		{"stream-5MiB", frame(b, "stream", "iopub", map[string]any{"name": "stdout", "text": text})},
		{"png-5MiB", frame(b, "display_data", "iopub", map[string]any{"data": map[string]any{"image/png": png, "text/plain": "<png>"}, "metadata": map[string]any{}, "transient": map[string]any{}})},
	}
	lim := decodeLimits{text: executor.DefaultMaxOutputBytes, mime: executor.DefaultMaxMimeBytes}
	for _, tc := range cases {
		b.Run(tc.name+"/decoder", func(b *testing.B) {
			dec := newDecoder(lim)
			r := bytes.NewReader(tc.data)
			var m message
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(tc.data)
				if err := dec.decode(r, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := encodingJSONDecode(tc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// peakHeapDuring reports how far the heap's live objects grew above where
// they were while f ran (sampled every millisecond).
func peakHeapDuring(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	return peakDuring(func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }, f)
}

// peakDuring reports how far read() grew above its value before f while f
// ran, sampled every millisecond after a collection.
func peakDuring(read func() uint64, f func()) uint64 {
	runtime.GC()
	base := read()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// rateUnlimited starts a server for one test without IOPub rate limits (at
// its default the server drops a 5 MiB print).
func rateUnlimited(t *testing.T) *Client {
	t.Helper()
	s := rateUnlimitedServer(t)
	c, err := NewClient(ClientConfig{URL: s.URL, Token: s.Token})
	require.NoError(t, err)
	return c
}

func rateUnlimitedServer(t *testing.T) *jupytertest.Server {
	t.Helper()
	jupytertest.Require(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "config"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config", "jupyter_server_config.json"),
		[]byte(`{"ServerApp": {"iopub_data_rate_limit": 1e12, "iopub_msg_rate_limit": 1e12}}`), 0o600))
	s, err := jupytertest.StartProcess(dir)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// Against a real server: big outputs are capped while they are read, so
// what a cell prints or displays costs this process a bounded amount of
// memory.
func TestBigOutputsCappedWhileReading(t *testing.T) {
	c := rateUnlimited(t)
	k := newKernel(t, func(cfg *KernelConfig) { cfg.Client = c; cfg.OutputDir = "" })
	exec(t, k, "import os, base64\nS = ('y' * 99 + '\\n') * (5 * 2**20 // 100)\n"+
		"BIG = base64.b64encode(os.urandom(15 * 2**20)).decode()\n"+
		"PNG = base64.b64encode(b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(2**20)).decode()")

	var res *executor.Result
	n := peakHeapDuring(func() { res = exec(t, k, "print(S, end='')") })
	require.Len(t, res.Outputs, 1)
	assert.True(t, res.Truncated)
	assert.Contains(t, res.Outputs[0].Text, "bytes of output truncated]")
	assert.LessOrEqual(t, len(res.Outputs[0].Text), executor.DefaultMaxOutputBytes+100)
	t.Logf("heap growth for a 5 MiB print: %d KiB", n>>10)
	assert.Less(t, n, uint64(2<<20), "heap growth for a 5 MiB print")

	// 20 MiB of base64 of an unknown type and as a PNG: both over the
	// 10 MiB cap, dropped with a note; a small PNG next to them is kept.
	n = peakHeapDuring(func() {
		res = exec(t, k, "display({'application/x-blob': BIG, 'text/plain': '<blob>'}, raw=True)\n"+
			"display({'image/png': BIG, 'text/plain': '<big png>'}, raw=True)\n"+
			"display({'image/png': PNG, 'text/plain': '<png>'}, raw=True)")
	})
	require.Len(t, res.Outputs, 3, res.Text())
	assert.NotContains(t, res.Outputs[0].Data, "application/x-blob")
	assert.NotContains(t, res.Outputs[1].Data, "image/png")
	assert.Equal(t, "<big png>", res.Outputs[1].Data["text/plain"])
	assert.Len(t, res.Outputs[2].Data["image/png"], 4*((1<<20+8+2)/3))
	text := res.Text()
	assert.Contains(t, text, `["application/x-blob" output of 20971520 bytes dropped (over the 10485760-byte cap)]`)
	assert.Contains(t, text, `["image/png" output of 20971520 bytes dropped (over the 10485760-byte cap)]`)
	assert.True(t, res.Truncated)
	t.Logf("heap growth for the displays: %d KiB", n>>10)
	assert.Less(t, n, uint64(40<<20), "heap growth for two 20 MiB displays and a 1 MiB one")
}
