package team_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/team"
)

func TestTranscriptJSONLines(t *testing.T) {
	var buf bytes.Buffer
	tr := team.NewTranscript(&buf)
	model := &agenttest.Model{Replies: []string{helloProgram, "TERMINATE"}}
	tm := newTeam(t, model, printExec(), team.Config{OnMessage: tr.Write})
	res, err := tm.Run(context.Background(), "task")
	require.NoError(t, err)
	require.NoError(t, tr.Err())

	var got []*agents.Message
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var m agents.Message
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		got = append(got, &m)
	}
	// Everything but chunks: the result's messages, the output event and
	// the final stop message.
	require.Len(t, got, len(res.Messages)+2)
	assert.Equal(t, agents.KindOutput, got[3].Kind)
	assert.Equal(t, "Hello, world!\n", got[3].Output.Text)
	assert.Equal(t, agents.KindStop, got[len(got)-1].Kind)
	assert.Equal(t, res.StopReason, got[len(got)-1].Content)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTranscriptKeepsFirstError(t *testing.T) {
	tr := team.NewTranscript(failWriter{})
	tr.Write(agents.NewText("a", "b"))
	tr.Write(agents.NewText("a", "c"))
	assert.EqualError(t, tr.Err(), "disk full")
}
