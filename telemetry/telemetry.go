// Package telemetry records what agents do as OpenTelemetry spans following
// the GenAI semantic conventions: invoke_agent for an agent's turn, chat for
// each model call, execute_tool for each tool call and code execution.
//
// The library takes a trace.TracerProvider and sets nothing global. Message
// contents, tool arguments and results, and code are recorded only when
// Options.CaptureContent is set (the convention's opt-in, which commands
// read from OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT). Spans never
// carry API keys: nothing from a client's configuration but the model name
// is recorded, and captured text has known secrets redacted.
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentteam/agentteam/llm"
)

// Attribute keys (GenAI semantic conventions, and the project's own).
const (
	OperationName   = attribute.Key("gen_ai.operation.name")
	ProviderName    = attribute.Key("gen_ai.provider.name")
	RequestModel    = attribute.Key("gen_ai.request.model")
	ResponseModel   = attribute.Key("gen_ai.response.model")
	FinishReasons   = attribute.Key("gen_ai.response.finish_reasons")
	InputTokens     = attribute.Key("gen_ai.usage.input_tokens")
	OutputTokens    = attribute.Key("gen_ai.usage.output_tokens")
	AgentName       = attribute.Key("gen_ai.agent.name")
	AgentDesc       = attribute.Key("gen_ai.agent.description")
	ToolName        = attribute.Key("gen_ai.tool.name")
	ToolType        = attribute.Key("gen_ai.tool.type")
	ToolCallID      = attribute.Key("gen_ai.tool.call.id")
	ToolArguments   = attribute.Key("gen_ai.tool.call.arguments")
	ToolResult      = attribute.Key("gen_ai.tool.call.result")
	InputMessages   = attribute.Key("gen_ai.input.messages")
	OutputMessages  = attribute.Key("gen_ai.output.messages")
	ErrorType       = attribute.Key("error.type")
	KernelID        = attribute.Key("agentteam.kernel.id")
	ExecLanguage    = attribute.Key("agentteam.execution.language")
	ExecOutcome     = attribute.Key("agentteam.execution.outcome")
	ExecCode        = attribute.Key("agentteam.execution.code")
	RequestToolsLen = attribute.Key("agentteam.request.tools")
)

// Operation names.
const (
	OpChat        = "chat"
	OpInvokeAgent = "invoke_agent"
	OpExecuteTool = "execute_tool"
)

// Options configure a Tracer.
type Options struct {
	// CaptureContent records message contents, tool arguments and
	// results, and code (off by default: they may hold private data).
	CaptureContent bool
	// Provider is gen_ai.provider.name of chat spans (default "openai").
	Provider string
	// Secrets are redacted from captured content and error texts; Redact,
	// when set, is applied too (e.g. a redactor that knows every secret of
	// the environment).
	Secrets []string
	Redact  func(string) string
}

// Tracer starts the spans. A nil *Tracer does nothing, so callers need no
// checks.
type Tracer struct {
	t    trace.Tracer
	opts Options
}

// New returns a Tracer on tp; a nil tp gives a nil Tracer (no spans).
func New(tp trace.TracerProvider, opts Options) *Tracer {
	if tp == nil {
		return nil
	}
	if opts.Provider == "" {
		opts.Provider = "openai"
	}
	return &Tracer{t: tp.Tracer("github.com/agentteam/agentteam"), opts: opts}
}

// CaptureContent reports whether contents are recorded.
func (t *Tracer) CaptureContent() bool { return t != nil && t.opts.CaptureContent }

// Span is a started span; a nil *Span does nothing.
type Span struct {
	s       trace.Span
	capture bool
	secrets []string
	// redactFn is Options.Redact.
	redactFn func(string) string
}

func (t *Tracer) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, *Span) {
	if t == nil {
		return ctx, nil
	}
	ctx, s := t.t.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx, &Span{s: s, capture: t.opts.CaptureContent, secrets: t.opts.Secrets, redactFn: t.opts.Redact}
}

// StartAgent starts an invoke_agent span for one turn of an agent.
func (t *Tracer) StartAgent(ctx context.Context, name, description string) (context.Context, *Span) {
	return t.start(ctx, OpInvokeAgent+" "+name, trace.SpanKindInternal,
		OperationName.String(OpInvokeAgent), AgentName.String(name), AgentDesc.String(description))
}

// StartChat starts a chat span for one model call.
func (t *Tracer) StartChat(ctx context.Context, agent, model string, req llm.Request) (context.Context, *Span) {
	if req.Model != "" {
		model = req.Model
	}
	ctx, s := t.start(ctx, OpChat+" "+model, trace.SpanKindClient,
		OperationName.String(OpChat), ProviderName.String(t.provider()), RequestModel.String(model),
		AgentName.String(agent), RequestToolsLen.Int(len(req.Tools)))
	if s != nil && s.capture {
		s.s.SetAttributes(InputMessages.String(s.redact(messagesJSON(req.Messages))))
	}
	return ctx, s
}

func (t *Tracer) provider() string {
	if t == nil {
		return ""
	}
	return t.opts.Provider
}

// EndChat ends a chat span with the response (or the error).
func (s *Span) EndChat(resp *llm.Response, err error) {
	if s == nil {
		return
	}
	if resp != nil {
		if resp.Model != "" {
			s.s.SetAttributes(ResponseModel.String(resp.Model))
		}
		if resp.FinishReason != "" {
			s.s.SetAttributes(FinishReasons.StringSlice([]string{resp.FinishReason}))
		}
		s.s.SetAttributes(InputTokens.Int(resp.Usage.PromptTokens), OutputTokens.Int(resp.Usage.CompletionTokens))
		if s.capture {
			out := llm.Message{Role: llm.RoleAssistant, Content: resp.Content, ToolCalls: resp.ToolCalls}
			s.s.SetAttributes(OutputMessages.String(s.redact(messagesJSON([]llm.Message{out}))))
		}
	}
	s.end(err)
}

// StartTool starts an execute_tool span for one tool call.
func (t *Tracer) StartTool(ctx context.Context, agent string, call llm.ToolCall) (context.Context, *Span) {
	ctx, s := t.start(ctx, OpExecuteTool+" "+call.Name, trace.SpanKindInternal,
		OperationName.String(OpExecuteTool), ToolName.String(call.Name), ToolType.String("function"),
		ToolCallID.String(call.ID), AgentName.String(agent))
	if s != nil && s.capture {
		s.s.SetAttributes(ToolArguments.String(s.redact(call.Arguments)))
	}
	return ctx, s
}

// EndTool ends an execute_tool span with the result.
func (s *Span) EndTool(result string, isError bool) {
	if s == nil {
		return
	}
	if s.capture {
		s.s.SetAttributes(ToolResult.String(s.redact(result)))
	}
	if isError {
		s.s.SetAttributes(ErrorType.String("tool_error"))
		s.s.SetStatus(codes.Error, "the tool returned an error")
	}
	s.s.End()
}

// StartExecution starts an execute_tool span for running code in a kernel
// (tool name "run_python" or "run_shell").
func (t *Tracer) StartExecution(ctx context.Context, agent, language, code, callID string) (context.Context, *Span) {
	name := "run_python"
	if language != "python" {
		name = "run_shell"
	}
	attrs := []attribute.KeyValue{OperationName.String(OpExecuteTool), ToolName.String(name), ToolType.String("function"),
		AgentName.String(agent), ExecLanguage.String(language)}
	if callID != "" {
		attrs = append(attrs, ToolCallID.String(callID))
	}
	ctx, s := t.start(ctx, OpExecuteTool+" "+name, trace.SpanKindInternal, attrs...)
	if s != nil && s.capture {
		s.s.SetAttributes(ExecCode.String(s.redact(code)))
	}
	return ctx, s
}

// EndExecution ends an execution span with the kernel, the outcome
// (ok, error, timeout, ...) and, with content capture, the output text.
func (s *Span) EndExecution(kernelID, outcome, output string, err error) {
	if s == nil {
		return
	}
	if kernelID != "" {
		s.s.SetAttributes(KernelID.String(kernelID))
	}
	s.s.SetAttributes(ExecOutcome.String(outcome))
	if s.capture && output != "" {
		s.s.SetAttributes(ToolResult.String(s.redact(output)))
	}
	if err == nil && outcome != "ok" {
		s.s.SetAttributes(ErrorType.String(outcome))
		s.s.SetStatus(codes.Error, "the code did not complete: "+outcome)
	}
	s.end(err)
}

// End ends a span (an invoke_agent span, or any other) with err's outcome.
func (s *Span) End(err error) {
	if s == nil {
		return
	}
	s.end(err)
}

func (s *Span) end(err error) {
	if err != nil {
		s.s.SetAttributes(ErrorType.String(errorType(err)))
		s.s.SetStatus(codes.Error, s.redact(err.Error()))
	}
	s.s.End()
}

func errorType(err error) string {
	var api *llm.APIError
	switch {
	case errors.As(err, &api) && api.StatusCode > 0:
		return strconv.Itoa(api.StatusCode)
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "_OTHER"
}

func (s *Span) redact(text string) string {
	for _, k := range s.secrets {
		if k != "" {
			text = llm.Redact(text, k)
		}
	}
	if s.redactFn != nil {
		text = s.redactFn(text)
	}
	return text
}

func messagesJSON(msgs []llm.Message) string {
	b, err := json.Marshal(msgs)
	if err != nil {
		return ""
	}
	return string(b)
}
