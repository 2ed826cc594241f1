package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/telemetry"
)

// Texts the CodeExecutor replies with (for the model reading them).
const (
	NoCodeBlocksText = "No code blocks found in the thread. Please provide at least one markdown-encoded code block to execute."
	NoOutputText     = "The code ran but produced no output. If you were expecting output, consider revising the code to print the values you want to see."
	UnterminatedText = "A code block was opened but never closed (the closing ``` is missing), so nothing was run. Please send the complete code block."
	CutOffText       = "Your reply was cut off at the token limit in the middle of a code block, so nothing was run. Send a shorter step: one smaller code block, with less text around it."
	StateLostText    = "The kernel was restarted: all variables, imports and loaded data from earlier steps are gone. Re-run the imports and recreate the variables you need before continuing."
	OutputLostText   = "The output of the code was lost on the way from the kernel (this happens right after a restart of the kernel): the code ran once, but what it printed or displayed may be missing below. Do not take missing output for no output; print what you need again."
	NotRunText       = "the kernel never received it (it was lost on the way, e.g. during a restart of the kernel). Nothing of it ran: send it again."
)

// ApprovalFunc decides whether code blocks may run. When it returns false,
// nothing runs and the reason is sent back.
type ApprovalFunc func(ctx context.Context, blocks []CodeBlock) (approved bool, reason string)

// CodeExecutorConfig configures a CodeExecutor. Executor is required.
type CodeExecutorConfig struct {
	// Name defaults to "executor".
	Name        string
	Description string
	Executor    executor.Executor
	// Sources lists the agents whose messages hold the code to run; empty
	// means any agent but this one (and not the task).
	Sources []string
	// Timeout bounds each block; zero uses the executor's default.
	Timeout time.Duration
	// Approve, when set, is asked before any code runs.
	Approve ApprovalFunc
	// Debugger, when set, enables self-debugging: when a block raises, the
	// model is asked for a corrected block, which is run instead, up to
	// MaxRetries times (default 3).
	Debugger       llm.Client
	DebuggerPrompt string // default: the built-in "debugger" prompt
	MaxRetries     int
	// LoopLimit stops the team when the same failing code (normalized) has
	// been sent this many times (default 3; negative disables).
	LoopLimit int
	// RestartOnReset restarts the kernel when the agent is reset.
	RestartOnReset bool
	// MaxOutputChars bounds the output text of each block in replies
	// (default 8000; negative means no bound).
	MaxOutputChars int
	// MaxCutoffs is how many replies in a row may be cut off at the token
	// limit mid-code-block (each answered with a request for a shorter
	// step) before the team is stopped (default 2; negative: never stop).
	MaxCutoffs int
	// Vision attaches the images a step displayed to its reply (at most
	// MaxImages, default 3, downscaled to 1024 px on the long side), for
	// models that see images.
	Vision    bool
	MaxImages int
	Logger    *slog.Logger
	// Tracer records an execute_tool span per block run (nil: none).
	Tracer *telemetry.Tracer
}

// CodeExecutor is an agent that runs the fenced code blocks (or the
// run_python and run_shell tool calls, see CodeTools) of the latest
// message from its sources in a kernel, in order, stopping at the first one
// that fails, and replies with the outputs as text. It streams a
// KindCodeGeneration event (the blocks), KindOutput events as outputs arrive
// and a KindCodeExecution event (the structured results) before its reply.
//
// When the same failing code comes back LoopLimit times, its response is a
// KindStop message, which stops the team.
type CodeExecutor struct {
	cfg      CodeExecutorConfig
	sources  map[string]bool
	log      *slog.Logger
	debugSys string

	failures  map[string]int
	stateLost bool // the next reply must say the kernel state is gone
	// outputLost: the next reply must say that an execution's output was
	// lost.
	outputLost bool
	cutoffs    int // replies in a row cut off mid-block
}

var _ Agent = (*CodeExecutor)(nil)

// NewCodeExecutor returns a CodeExecutor.
func NewCodeExecutor(cfg CodeExecutorConfig) (*CodeExecutor, error) {
	if cfg.Executor == nil {
		return nil, errors.New("code executor: Executor is required")
	}
	if cfg.Name == "" {
		cfg.Name = "executor"
	}
	if cfg.Description == "" {
		cfg.Description = "Runs the code blocks it is given in a stateful Jupyter kernel and reports the output."
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.LoopLimit == 0 {
		cfg.LoopLimit = 3
	}
	if cfg.MaxOutputChars == 0 {
		cfg.MaxOutputChars = 8000
	}
	if cfg.MaxCutoffs == 0 {
		cfg.MaxCutoffs = 2
	}
	if cfg.MaxImages <= 0 {
		cfg.MaxImages = DefaultMaxImages
	}
	c := &CodeExecutor{cfg: cfg, log: cfg.Logger, failures: map[string]int{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Sources) > 0 {
		c.sources = map[string]bool{}
		for _, s := range cfg.Sources {
			c.sources[s] = true
		}
	}
	if cfg.Debugger != nil {
		c.debugSys = cfg.DebuggerPrompt
		if c.debugSys == "" {
			c.debugSys = prompts.MustGet(prompts.Debugger)
		}
	}
	return c, nil
}

// Name implements Agent.
func (c *CodeExecutor) Name() string { return c.cfg.Name }

// Description implements Agent.
func (c *CodeExecutor) Description() string { return c.cfg.Description }

// Executor returns the executor the agent runs code with.
func (c *CodeExecutor) Executor() executor.Executor { return c.cfg.Executor }

// latest returns the latest chat message from the agent's sources.
func (c *CodeExecutor) latest(msgs []*Message) *Message {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m == nil || m.Kind != KindText || m.Source == c.cfg.Name {
			continue
		}
		if c.sources != nil {
			if c.sources[m.Source] {
				return m
			}
			continue
		}
		if m.Source != SourceUser {
			return m
		}
	}
	return nil
}

// Run implements Agent.
func (c *CodeExecutor) Run(ctx context.Context, newMessages []*Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		src := c.latest(newMessages)
		// With tool calls (run_python, run_shell), each call is a block
		// and every reply answers each call.
		var calls []llm.ToolCall
		var bad []ToolResult
		answer := func(m *Message, results []ToolResult) *Message {
			if src == nil || len(src.ToolCalls) == 0 {
				return m
			}
			byID := map[string]ToolResult{}
			for _, r := range append(bad, results...) {
				byID[r.CallID] = r
			}
			for _, tc := range src.ToolCalls {
				r, ok := byID[tc.ID]
				if !ok {
					r = ToolResult{CallID: tc.ID, Name: tc.Name, Content: m.Content, IsError: m.Kind == KindStop}
				}
				m.ToolResults = append(m.ToolResults, r)
			}
			return m
		}
		reply := func(text string) { yield(answer(NewText(c.cfg.Name, text), nil), nil) }
		if src == nil {
			reply(NoCodeBlocksText)
			return
		}
		var blocks []CodeBlock
		if len(src.ToolCalls) > 0 {
			for _, tc := range src.ToolCalls {
				b, err := codeToolBlock(tc)
				if err != nil {
					bad = append(bad, ToolResult{CallID: tc.ID, Name: tc.Name, IsError: true, Content: "Error: " + err.Error()})
					continue
				}
				blocks = append(blocks, b)
				calls = append(calls, tc)
			}
			if len(blocks) == 0 {
				reply(bad[0].Content)
				return
			}
		} else {
			var unterminated bool
			blocks, unterminated = ExtractCodeBlocksDetail(src.Content)
			if src.Metadata[MetaFinishReason] == llm.FinishLength && (unterminated || len(blocks) == 0) {
				// Cut off: even the complete blocks before the cut belong
				// to a step the model did not finish. Run nothing.
				c.cutoffs++
				if c.cfg.MaxCutoffs > 0 && c.cutoffs > c.cfg.MaxCutoffs {
					reason := fmt.Sprintf("The model's replies were cut off at the token limit %d times in a row, in the middle of a code block; raise the model's max_tokens or use a model that writes shorter steps", c.cutoffs)
					c.log.Info("replies cut off", "agent", c.cfg.Name, "times", c.cutoffs)
					stop := NewStop(c.cfg.Name, reason)
					stop.Metadata = map[string]string{MetaStop: StopCutOff}
					yield(answer(stop, nil), nil)
					return
				}
				reply(CutOffText)
				return
			}
			c.cutoffs = 0
			if len(blocks) == 0 {
				if unterminated {
					reply(UnterminatedText)
				} else {
					reply(NoCodeBlocksText)
				}
				return
			}
		}
		gen := NewEvent(KindCodeGeneration, c.cfg.Name)
		gen.Blocks = blocks
		if !yield(gen, nil) {
			return
		}
		if c.cfg.Approve != nil {
			if ok, reason := c.cfg.Approve(ctx, blocks); !ok {
				if reason == "" {
					reason = "no reason given"
				}
				reply("Code execution was not approved: " + reason)
				return
			}
		}

		t := &turn{c: c, ctx: ctx, yield: yield, calls: calls}
		execs, failed, ok := t.runBlocks(blocks)
		if !ok {
			return
		}
		var fixed []CodeExecution
		if failed >= 0 && c.cfg.Debugger != nil && execs[failed].Result != nil && execs[failed].Result.Status == executor.StatusError {
			fixed, ok = t.debug(execs[failed])
			if !ok {
				return
			}
		}
		ev := NewEvent(KindCodeExecution, c.cfg.Name)
		ev.Blocks = blocks
		ev.Executions = append(append([]CodeExecution(nil), execs...), fixed...)
		if !yield(ev, nil) {
			return
		}

		text := c.replyText(execs, failed, len(blocks), fixed)
		var results []ToolResult
		for i, tc := range calls {
			r := ToolResult{CallID: tc.ID, Name: tc.Name}
			switch {
			case i >= len(execs):
				r.IsError, r.Content = true, "Not run: an earlier call failed."
			case i == failed || len(calls) == 1:
				r.IsError, r.Content = i == failed, text
			default:
				r.Content = strings.TrimRight(clip(ResultText(execs[i].Result), c.cfg.MaxOutputChars), " \t\n")
				if r.Content == "" {
					r.Content = NoOutputText
				}
			}
			results = append(results, r)
		}
		stillFailing := failed >= 0 && (len(fixed) == 0 || !fixed[len(fixed)-1].Result.OK())
		if stillFailing && c.cfg.LoopLimit > 0 {
			key := loopKey(blocks)
			c.failures[key]++
			if n := c.failures[key]; n >= c.cfg.LoopLimit {
				reason := fmt.Sprintf("Loop detected: the same failing code was sent %d times", n)
				c.log.Info("loop detected", "agent", c.cfg.Name, "times", n)
				stop := NewStop(c.cfg.Name, reason)
				stop.Metadata = map[string]string{"output": text}
				yield(answer(stop, results), nil)
				return
			}
		}
		msg := NewText(c.cfg.Name, text)
		msg.Usage = t.usage
		msg.Metadata = map[string]string{MetaExecution: "true"}
		if c.cfg.Vision {
			imgs, skipped := stepImages(ev.Executions, c.cfg.MaxImages)
			msg.Images = imgs
			if len(imgs) > 0 {
				msg.Metadata["images"] = strconv.Itoa(len(imgs))
				n := fmt.Sprintf("\n\n[%d image(s) the code displayed are attached below.]", len(imgs))
				if skipped > 0 {
					n = fmt.Sprintf("\n\n[%d image(s) the code displayed are attached below; %d more were not sent.]", len(imgs), skipped)
				}
				msg.Content += n
			}
		}
		yield(answer(msg, results), nil)
	}
}

// turn is the state of one Run.
type turn struct {
	c     *CodeExecutor
	ctx   context.Context
	yield func(*Message, error) bool
	usage *llm.Usage
	calls []llm.ToolCall // the tool calls the blocks come from, if any
	n     int            // blocks run so far
	block int            // index of the running block of the message
}

// runBlocks runs blocks in order until one fails. failed is the index of the
// failing block or -1. ok is false when the turn ended (error yielded or the
// consumer stopped).
func (t *turn) runBlocks(blocks []CodeBlock) (execs []CodeExecution, failed int, ok bool) {
	for i, b := range blocks {
		t.block = i
		res, ok := t.exec(b, nil)
		if !ok {
			return nil, 0, false
		}
		execs = append(execs, CodeExecution{Block: b, Result: res})
		if !res.OK() {
			return execs, i, true
		}
	}
	return execs, -1, true
}

// exec runs one block, streaming its outputs as KindOutput events. Errors the
// model should hear about become results; ctx cancellation and transport
// failures end the turn with an error.
func (t *turn) exec(b CodeBlock, meta map[string]string) (*executor.Result, bool) {
	c := t.c
	lang, supported := executor.NormalizeLanguage(strings.TrimSpace(b.Language))
	if !supported {
		return unsupportedResult(b.Language), true
	}
	callID := ""
	if meta == nil && t.n < len(t.calls) {
		callID = t.calls[t.n].ID
	}
	t.n++
	ctx, span := c.cfg.Tracer.StartExecution(t.ctx, c.cfg.Name, lang, b.Code, callID)
	var res *executor.Result
	var err error
	defer func() {
		outcome, out := "cancelled", ""
		if res != nil {
			outcome, out = string(res.Status), ResultText(res)
		}
		kid := ""
		if k, ok := c.cfg.Executor.(interface{ ID() string }); ok {
			kid = k.ID()
		}
		span.EndExecution(kid, outcome, out, t.ctx.Err())
	}()
	for ev, eerr := range c.cfg.Executor.Run(ctx, executor.Request{Code: b.Code, Language: lang, Timeout: c.cfg.Timeout}) {
		if ev.Output != nil {
			m := NewEvent(KindOutput, c.cfg.Name)
			m.Output = ev.Output
			m.Metadata = meta
			if meta == nil {
				// Which of the message's blocks printed it.
				m.Metadata = map[string]string{"block": strconv.Itoa(t.block)}
			}
			if !t.yield(m, nil) {
				return nil, false
			}
			continue
		}
		res, err = ev.Result, eerr
	}
	if cerr := t.ctx.Err(); cerr != nil {
		t.yield(nil, fmt.Errorf("%s: %w", c.cfg.Name, cerr))
		return nil, false
	}
	switch {
	case err == nil:
	case errors.Is(err, executor.ErrTimeout):
		if res == nil {
			res = &executor.Result{Status: executor.StatusTimeout, Interrupted: true}
		}
		res.Status = executor.StatusTimeout
	case errors.Is(err, executor.ErrKernelDied):
		if res == nil {
			res = &executor.Result{}
		}
		res.Status = executor.StatusKernelDied
		res.StateLost = !res.Restored
	case errors.Is(err, executor.ErrUnsupportedLanguage):
		return unsupportedResult(b.Language), true
	case errors.Is(err, executor.ErrOutputLost):
		// It ran; its status is known, its output is not.
		if res == nil {
			res = &executor.Result{Status: executor.StatusOK, Truncated: true}
		}
		c.outputLost = true
	case errors.Is(err, executor.ErrNotDelivered):
		if res == nil {
			res = &executor.Result{}
		}
		res.Status = executor.StatusNotRun
	default:
		t.yield(nil, fmt.Errorf("%s: execute: %w", c.cfg.Name, err))
		return nil, false
	}
	if res == nil {
		res = &executor.Result{Status: executor.StatusOK}
	}
	if res.StateLost || (res.Status == executor.StatusKernelDied && !res.Restored) {
		c.stateLost = true
	}
	return res, true
}

func unsupportedResult(lang string) *executor.Result {
	return &executor.Result{
		Status:  executor.StatusUnsupported,
		Message: fmt.Sprintf("unsupported language %q: only python and shell (sh, bash) code blocks can run here", lang),
	}
}

// debug asks the model for fixes of a failed execution and runs them, up to
// MaxRetries times. It returns the attempts.
func (t *turn) debug(failed CodeExecution) ([]CodeExecution, bool) {
	c := t.c
	var attempts []CodeExecution
	last := failed
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: c.debugSys}}
	for i := 1; i <= c.cfg.MaxRetries; i++ {
		msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf(
			"This code:\n```%s\n%s\n```\nfailed with:\n%s\nReply with the corrected code block.",
			langTag(last.Block.Language), last.Block.Code, clip(ResultText(last.Result), 4000))})
		var text []byte
		var final *llm.Response
		for ch, err := range c.cfg.Debugger.Stream(t.ctx, llm.Request{Messages: msgs}) {
			if err != nil {
				t.yield(nil, fmt.Errorf("%s: debugger model: %w", c.cfg.Name, err))
				return nil, false
			}
			if ch.Content != "" {
				text = append(text, ch.Content...)
				ev := NewEvent(KindChunk, c.cfg.Name)
				ev.Content = ch.Content
				ev.Metadata = map[string]string{"retry": strconv.Itoa(i)}
				if !t.yield(ev, nil) {
					return nil, false
				}
			}
			if ch.Done && ch.Response != nil {
				final = ch.Response
			}
		}
		if err := t.ctx.Err(); err != nil {
			t.yield(nil, fmt.Errorf("%s: %w", c.cfg.Name, err))
			return nil, false
		}
		content := string(text)
		if final != nil {
			if final.Content != "" {
				content = final.Content
			}
			if t.usage == nil {
				t.usage = &llm.Usage{}
			}
			*t.usage = t.usage.Add(final.Usage)
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: content})
		fix := ExtractCodeBlocks(content)
		if len(fix) == 0 {
			c.log.Debug("debugger replied without code", "agent", c.cfg.Name, "retry", i)
			break
		}
		meta := map[string]string{"retry": strconv.Itoa(i)}
		gen := NewEvent(KindCodeGeneration, c.cfg.Name)
		gen.Blocks = fix[:1]
		gen.Metadata = meta
		if !t.yield(gen, nil) {
			return nil, false
		}
		res, ok := t.exec(fix[0], meta)
		if !ok {
			return nil, false
		}
		last = CodeExecution{Block: fix[0], Result: res}
		attempts = append(attempts, last)
		if res.OK() || res.Status != executor.StatusError {
			break
		}
	}
	return attempts, true
}

func langTag(l string) string {
	if l == "" {
		return "python"
	}
	return l
}

// replyText is the text reply for the model.
func (c *CodeExecutor) replyText(execs []CodeExecution, failed, total int, fixed []CodeExecution) string {
	var b strings.Builder
	if c.stateLost && (failed < 0 || execs[failed].Result.Status != executor.StatusKernelDied) {
		// The kernel was replaced before or during an earlier block.
		b.WriteString("Note: " + StateLostText + "\n\n")
	}
	c.stateLost = false
	if c.outputLost {
		b.WriteString("Note: " + OutputLostText + "\n\n")
	}
	c.outputLost = false
	var out strings.Builder
	for _, e := range execs {
		out.WriteString(clip(ResultText(e.Result), c.cfg.MaxOutputChars))
	}
	output := strings.TrimRight(out.String(), " \t\n")
	if failed < 0 {
		if output == "" {
			b.WriteString(NoOutputText)
		} else {
			b.WriteString(output)
		}
		return b.String()
	}
	r := execs[failed].Result
	where := ""
	if total > 1 {
		where = fmt.Sprintf(" in code block %d of %d", failed+1, total)
		if failed+1 < total {
			where += "; the blocks after it were not run"
		}
	}
	switch r.Status {
	case executor.StatusError:
		fmt.Fprintf(&b, "The code ran, then raised an error%s.\nIts output was:\n%s", where, output)
	case executor.StatusTimeout, executor.StatusCancelled:
		fmt.Fprintf(&b, "The code timed out%s", where)
		if c.cfg.Timeout > 0 {
			fmt.Fprintf(&b, " (limit %s)", c.cfg.Timeout)
		}
		if r.Restored {
			b.WriteString(" and the kernel had to be restarted (" + r.Message + ").")
		} else if r.StateLost || r.Restarted {
			b.WriteString(" and the kernel had to be restarted. " + StateLostText)
		} else {
			b.WriteString(" and was interrupted. The kernel state was kept: variables defined before are still there.")
		}
		b.WriteString(" Make the code faster or process the data in smaller parts.")
		if output != "" {
			b.WriteString("\nIts output before the interruption was:\n" + output)
		}
	case executor.StatusKernelDied:
		if r.Restored {
			fmt.Fprintf(&b, "The kernel died while running the code%s: %s. Variables from the earlier steps are back; change this code so that it does not crash the kernel (for example use less memory) before running it again.", where, r.Message)
			if output != "" {
				b.WriteString("\nIts output before it died was:\n" + output)
			}
			break
		}
		fmt.Fprintf(&b, "The kernel died while running the code%s (for example it ran out of memory). %s", where, StateLostText)
		if r.Message != "" {
			b.WriteString("\nDetail: " + r.Message)
		}
		if output != "" {
			b.WriteString("\nIts output before it died was:\n" + output)
		}
	case executor.StatusNotRun:
		fmt.Fprintf(&b, "The code was not run%s: %s", where, NotRunText)
		if output != "" {
			b.WriteString("\nThe output of the blocks before it was:\n" + output)
		}
	case executor.StatusUnsupported:
		fmt.Fprintf(&b, "Unsupported language%s: %s. Rewrite it as a ```python block.", where, r.Message)
		if output != "" {
			b.WriteString("\nThe output of the blocks before it was:\n" + output)
		}
	default:
		fmt.Fprintf(&b, "The code did not complete%s (%s). %s", where, r.Status, r.Message)
		if output != "" {
			b.WriteString("\nIts output was:\n" + output)
		}
	}
	if len(fixed) > 0 {
		last := fixed[len(fixed)-1]
		ftext := strings.TrimRight(clip(ResultText(last.Result), c.cfg.MaxOutputChars), " \t\n")
		if last.Result.OK() {
			if ftext == "" {
				ftext = NoOutputText
			}
			fmt.Fprintf(&b, "\n\nA corrected version (attempt %d) then ran successfully; the kernel state is the one it left:\n```%s\n%s\n```\nIts output was:\n%s",
				len(fixed), langTag(last.Block.Language), last.Block.Code, ftext)
		} else {
			fmt.Fprintf(&b, "\n\n%d corrected versions were tried and failed too; the last one was:\n```%s\n%s\n```\nIts output was:\n%s",
				len(fixed), langTag(last.Block.Language), last.Block.Code, ftext)
		}
	}
	return b.String()
}

// loopKey identifies code for loop detection: blank lines, comment lines and
// trailing spaces do not count.
func loopKey(blocks []CodeBlock) string {
	h := sha256.New()
	for _, b := range blocks {
		lang, _ := executor.NormalizeLanguage(strings.TrimSpace(b.Language))
		h.Write([]byte(lang))
		h.Write([]byte{0})
		for _, line := range strings.Split(b.Code, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			h.Write([]byte(strings.Join(strings.Fields(line), " ")))
			h.Write([]byte{'\n'})
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Reset implements Agent: it forgets the loop counters and, with
// RestartOnReset, restarts the kernel.
func (c *CodeExecutor) Reset(ctx context.Context) error {
	c.failures = map[string]int{}
	c.stateLost = false
	c.outputLost = false
	c.cutoffs = 0
	if c.cfg.RestartOnReset {
		if err := c.cfg.Executor.Restart(ctx); err != nil {
			return fmt.Errorf("%s: restart kernel: %w", c.cfg.Name, err)
		}
	}
	return nil
}

type codeExecutorState struct {
	Type     string         `json:"type"`
	Failures map[string]int `json:"failures,omitempty"`
}

// SaveState implements Agent.
func (c *CodeExecutor) SaveState() (json.RawMessage, error) {
	return json.Marshal(codeExecutorState{Type: "code_executor", Failures: c.failures})
}

// LoadState implements Agent. A kernel does not survive a process restart,
// so the next reply tells the model that earlier variables are gone.
func (c *CodeExecutor) LoadState(state json.RawMessage) error {
	var s codeExecutorState
	if err := json.Unmarshal(state, &s); err != nil {
		return fmt.Errorf("%s: load state: %w", c.cfg.Name, err)
	}
	if s.Type != "" && s.Type != "code_executor" {
		return fmt.Errorf("%s: load state: state is of a %q agent", c.cfg.Name, s.Type)
	}
	c.failures = s.Failures
	if c.failures == nil {
		c.failures = map[string]int{}
	}
	c.stateLost = true
	return nil
}
