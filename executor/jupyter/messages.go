package jupyter

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// protocolVersion is the Jupyter messaging protocol version we speak.
const protocolVersion = "5.3"

type msgHeader struct {
	MsgID    string `json:"msg_id"`
	MsgType  string `json:"msg_type"`
	Session  string `json:"session,omitempty"`
	Username string `json:"username,omitempty"`
	Date     string `json:"date,omitempty"`
	Version  string `json:"version,omitempty"`
}

// message is a kernel message as JSON over the websocket.
type message struct {
	Header       msgHeader       `json:"header"`
	ParentHeader msgHeader       `json:"parent_header"`
	Metadata     map[string]any  `json:"metadata"`
	Content      json.RawMessage `json:"content"`
	Channel      string          `json:"channel"`
}

// outMessage is a message we send.
type outMessage struct {
	Header       msgHeader      `json:"header"`
	ParentHeader map[string]any `json:"parent_header"`
	Metadata     map[string]any `json:"metadata"`
	Content      any            `json:"content"`
	Channel      string         `json:"channel"`
	Buffers      []any          `json:"buffers"`
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newMessage(session, channel, msgType string, content any) outMessage {
	return outMessage{
		Header: msgHeader{
			MsgID:    newID(),
			MsgType:  msgType,
			Session:  session,
			Username: "agentteam",
			Date:     time.Now().UTC().Format(time.RFC3339Nano),
			Version:  protocolVersion,
		},
		ParentHeader: map[string]any{},
		Metadata:     map[string]any{},
		Content:      content,
		Channel:      channel,
		Buffers:      []any{},
	}
}

type executeRequest struct {
	Code            string         `json:"code"`
	Silent          bool           `json:"silent"`
	StoreHistory    bool           `json:"store_history"`
	UserExpressions map[string]any `json:"user_expressions"`
	AllowStdin      bool           `json:"allow_stdin"`
	StopOnError     bool           `json:"stop_on_error"`
}

type statusContent struct {
	ExecutionState string `json:"execution_state"`
}

type streamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type richContent struct {
	Data      map[string]any `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient struct {
		DisplayID string `json:"display_id"`
	} `json:"transient"`
	ExecutionCount int `json:"execution_count"`
}

type errorContent struct {
	EName     string   `json:"ename"`
	EValue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type clearContent struct {
	Wait bool `json:"wait"`
}

type replyContent struct {
	Status         string   `json:"status"`
	ExecutionCount int      `json:"execution_count"`
	EName          string   `json:"ename"`
	EValue         string   `json:"evalue"`
	Traceback      []string `json:"traceback"`
}

type inputContent struct {
	ExecutionCount int `json:"execution_count"`
}
