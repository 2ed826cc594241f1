package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// JSONLExporter writes each finished span as one JSON line:
//
//	{"name", "trace_id", "span_id", "parent_span_id", "kind", "start",
//	 "end", "duration_ms", "status", "status_message", "attributes"}
type JSONLExporter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONLExporter returns an exporter writing to w.
func NewJSONLExporter(w io.Writer) *JSONLExporter { return &JSONLExporter{enc: json.NewEncoder(w)} }

type jsonSpan struct {
	Name          string         `json:"name"`
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentSpanID  string         `json:"parent_span_id,omitempty"`
	Kind          string         `json:"kind"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	DurationMS    float64        `json:"duration_ms"`
	Status        string         `json:"status"`
	StatusMessage string         `json:"status_message,omitempty"`
	Attributes    map[string]any `json:"attributes"`
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *JSONLExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		js := jsonSpan{Name: s.Name(), TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
			Kind: s.SpanKind().String(), Start: s.StartTime().UTC(), End: s.EndTime().UTC(),
			DurationMS: float64(s.EndTime().Sub(s.StartTime()).Microseconds()) / 1000,
			Status:     s.Status().Code.String(), StatusMessage: s.Status().Description, Attributes: map[string]any{}}
		if p := s.Parent(); p.IsValid() {
			js.ParentSpanID = p.SpanID().String()
		}
		for _, kv := range s.Attributes() {
			js.Attributes[string(kv.Key)] = kv.Value.AsInterface()
		}
		if err := e.enc.Encode(js); err != nil {
			return err
		}
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter.
func (e *JSONLExporter) Shutdown(context.Context) error { return nil }

// ProviderConfig says where spans go.
type ProviderConfig struct {
	// File, when set, receives the spans as JSON lines (created, 0600).
	File string
	// OTLP exports over OTLP/HTTP, configured by the standard
	// OTEL_EXPORTER_OTLP_* environment variables.
	OTLP bool
	// ServiceName is the service.name resource attribute ("agentteam").
	ServiceName string
	// Version is service.version.
	Version string
}

// OTLPFromEnv reports whether the environment asks for OTLP export
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set,
// and OTEL_TRACES_EXPORTER not "none").
func OTLPFromEnv() bool {
	if strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// CaptureContentFromEnv reads OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT.
func CaptureContentFromEnv() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")), "true")
}

// ErrOTLPProtocol: OTEL_EXPORTER_OTLP_PROTOCOL asks for gRPC, which is not
// built in.
var ErrOTLPProtocol = errors.New("only the http/protobuf OTLP protocol is supported")

// NewProvider returns a TracerProvider exporting as cfg says, and the
// function that flushes and stops it (call it before exiting). With
// neither File nor OTLP it returns nil and a no-op.
func NewProvider(ctx context.Context, cfg ProviderConfig) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	if cfg.File == "" && !cfg.OTLP {
		return nil, func(context.Context) error { return nil }, nil
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "agentteam"
	}
	var opts []sdktrace.TracerProviderOption
	var closers []func() error
	if cfg.File != "" {
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("trace file: %w", err)
		}
		closers = append(closers, f.Close)
		// Synchronous: every span is in the file when the run ends, even
		// on an interrupt.
		opts = append(opts, sdktrace.WithSyncer(NewJSONLExporter(f)))
	}
	if cfg.OTLP {
		p := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if p == "" {
			p = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		if p != "" && p != "http/protobuf" {
			for _, c := range closers {
				c()
			}
			return nil, nil, fmt.Errorf("%w (OTEL_EXPORTER_OTLP_PROTOCOL=%s)", ErrOTLPProtocol, p)
		}
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			for _, c := range closers {
				c()
			}
			return nil, nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	opts = append(opts, sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(cfg.Version))))
	tp := sdktrace.NewTracerProvider(opts...)
	shutdown := func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		for _, c := range closers {
			err = errors.Join(err, c())
		}
		return err
	}
	return tp, shutdown, nil
}
