package team

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/agentteam/agentteam/agents"
)

// Transcript writes messages to w as JSON lines, one message a line. Use
// its Write method as Config.OnMessage. Streaming chunks are skipped unless
// Chunks is set (the response message repeats their text).
type Transcript struct {
	Chunks bool

	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewTranscript returns a Transcript writing to w.
func NewTranscript(w io.Writer) *Transcript {
	return &Transcript{enc: json.NewEncoder(w)}
}

// Write writes one message. The first write error is kept (see Err) and
// later writes are skipped.
func (t *Transcript) Write(m *agents.Message) {
	if m == nil || (m.Kind == agents.KindChunk && !t.Chunks) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	t.err = t.enc.Encode(m)
}

// Err returns the first write error.
func (t *Transcript) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
