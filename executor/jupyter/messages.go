package jupyter

import (
	"crypto/rand"
	"encoding/hex"
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

// message is a kernel message as read from the websocket (see decoder):
// only the fields this client uses.
type message struct {
	Header       msgHeader
	ParentHeader msgHeader
	Content      content
	Channel      string
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
