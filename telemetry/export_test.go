package telemetry_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/telemetry"
)

func TestJSONLinesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	tp, shutdown, err := telemetry.NewProvider(context.Background(), telemetry.ProviderConfig{File: path, Version: "test"})
	require.NoError(t, err)
	tr := telemetry.New(tp, telemetry.Options{})
	ctx, agent := tr.StartAgent(context.Background(), "coder", "writes code")
	_, chat := tr.StartChat(ctx, "coder", "m", llm.Request{})
	chat.EndChat(&llm.Response{Usage: llm.Usage{PromptTokens: 5, CompletionTokens: 2}}, nil)
	agent.End(nil)
	require.NoError(t, shutdown(context.Background()))

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var spans []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "one JSON object a line")
		spans = append(spans, m)
	}
	require.Len(t, spans, 2)
	assert.Equal(t, "chat m", spans[0]["name"])
	assert.Equal(t, spans[1]["span_id"], spans[0]["parent_span_id"])
	attrs := spans[0]["attributes"].(map[string]any)
	assert.Equal(t, "chat", attrs["gen_ai.operation.name"])
	assert.EqualValues(t, 5, attrs["gen_ai.usage.input_tokens"])
}

func TestOTLPFromEnvironment(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	require.True(t, telemetry.OTLPFromEnv())
	tp, shutdown, err := telemetry.NewProvider(context.Background(), telemetry.ProviderConfig{OTLP: true})
	require.NoError(t, err)
	_, s := telemetry.New(tp, telemetry.Options{}).StartAgent(context.Background(), "a", "")
	s.End(nil)
	require.NoError(t, shutdown(context.Background()))
	assert.Positive(t, posts.Load(), "spans were posted to the OTLP endpoint")

	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	_, _, err = telemetry.NewProvider(context.Background(), telemetry.ProviderConfig{OTLP: true})
	assert.ErrorIs(t, err, telemetry.ErrOTLPProtocol)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	assert.False(t, telemetry.OTLPFromEnv())
}
