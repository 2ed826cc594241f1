package jupyter

import (
	"encoding/json"
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
		for i := 0; i < 2; i++ {
			var m message
			if err := json.Unmarshal(data, &m); err != nil {
				return
			}
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
