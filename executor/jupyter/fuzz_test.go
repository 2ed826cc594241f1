package jupyter

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/executor"
)

// FuzzDecodeMessage feeds arbitrary websocket frames through the decoder and
// the output collector of one execution: nothing may panic, and the result
// must render.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"header":{"msg_id":"1","msg_type":"stream"},"parent_header":{"msg_id":"p"},"channel":"iopub","content":{"name":"stdout","text":"hi\n"}}`,
		`{"header":{"msg_type":"status"},"parent_header":{"msg_id":"p"},"channel":"iopub","content":{"execution_state":"idle"}}`,
		`{"header":{"msg_type":"execute_reply"},"parent_header":{"msg_id":"p"},"channel":"shell","content":{"status":"error","ename":"E","evalue":"\u001b[31mv\u001b[0m","execution_count":3}}`,
		`{"header":{"msg_type":"error"},"content":{"ename":"NameError","evalue":"x","traceback":["\u001b[0;31mNameError\u001b[0m: x"]}}`,
		`{"header":{"msg_type":"display_data"},"content":{"data":{"image/png":"iVBORw0KGgo=","text/plain":"<Figure>"},"metadata":{},"transient":{"display_id":"d"}}}`,
		`{"header":{"msg_type":"update_display_data"},"content":{"data":{"text/plain":"2"},"transient":{"display_id":"d"}}}`,
		`{"header":{"msg_type":"execute_result"},"content":{"data":{"text/html":"<b>x</b>","application/json":{"a":[1,2]}},"execution_count":1}}`,
		`{"header":{"msg_type":"clear_output"},"content":{"wait":true}}`,
		`{"header":{"msg_type":"stream"},"content":{"name":"stderr","text":"IOPub data rate exceeded.\n"}}`,
		`{"header":{"msg_type":"display_data"},"content":{"data":{"image/png":"not base64!","image/svg+xml":["<svg/>"]}}}`,
		`{"header":{"msg_type":"stream"},"content":{"name":null,"text":12}}`,
		`{"header":"nope"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		col := executor.NewCollector(executor.CollectorConfig{OutputDir: dir, FilePrefix: "fuzz", MaxOutputBytes: 256})
		ex := &execution{col: col}
		// A frame may hold one message; feed it twice to exercise merging,
		// display updates and clearing.
		dec := newDecoder(decodeLimits{text: 256, mime: 1 << 10})
		for i := 0; i < 2; i++ {
			var m message
			if err := dec.decode(bytes.NewReader(data), &m); err != nil {
				return
			}
			checkCaps(t, &m, 256, 1<<10)
			ex.handle(&m)
		}
		res := col.Result()
		text := res.Text()
		for _, o := range res.Outputs {
			for _, line := range o.Traceback {
				if strings.Contains(line, "\x1b[") {
					t.Fatalf("ANSI code left in traceback: %q", line)
				}
			}
		}
		_ = text
	})
}

// checkCaps fails when a decoded message holds more than its caps allow.
func checkCaps(t *testing.T, m *message, text int, mime int64) {
	t.Helper()
	marker := int64(len("\n... [ bytes of output truncated] ...\n") + 20)
	if n := int64(len(m.Content.Text.Head) + len(m.Content.Text.Tail)); n > 3*int64(text) {
		t.Fatalf("stream text keeps %d bytes, cap %d", n, text)
	}
	for _, s := range append([]string{m.Content.EName, m.Content.EValue}, m.Content.Traceback...) {
		if int64(len(s)) > 3*int64(text)+marker {
			t.Fatalf("error text keeps %d bytes, cap %d", len(s), text)
		}
	}
	for k, v := range m.Content.Data {
		if s, ok := v.(string); ok && int64(len(s)) > 3*mime+marker && int64(len(s)) > 3*int64(text)+marker {
			t.Fatalf("%s keeps %d bytes, caps %d/%d", k, len(s), text, mime)
		}
	}
}
