// Package solve is the pipeline behind `agentteam solve`, `eval` and
// `serve`: it stages a task's files in a kernel's working directory,
// inspects the data, lets a planner, a coder and a code executor work on
// the task, decides how the run ended (a typed StopCause), and writes the
// outputs (notebook, report, transcript, files) as it goes.
//
//	r, err := solve.New(solve.Config{Model: model})
//	for ev, err := range r.Run(ctx, solve.Task{Text: "Clean data.csv", Files: files}) {
//		...
//	}
//
// Breaking out of the loop or cancelling ctx stops the run: the running
// cell is interrupted and the outputs are written.
package solve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/executor/restore"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/redact"
	"github.com/agentteam/agentteam/team"
	"github.com/agentteam/agentteam/telemetry"
)

// Version is agentteam's version as recorded in notebooks; programs set it
// at build time, otherwise it comes from the module's build information.
var Version = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/agentteam/agentteam" {
				return d.Version
			}
		}
		if bi.Main.Path == "github.com/agentteam/agentteam" && bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "dev"
}()

// Kernel is what a run needs of a kernel: running code and moving files in
// and out of its working directory. *session.Session is one.
type Kernel interface {
	executor.Executor
	Upload(ctx context.Context, relPath string, data []byte) error
	Download(ctx context.Context, relPath string) ([]byte, error)
	ListFiles(ctx context.Context) ([]session.FileInfo, error)
}

var _ Kernel = (*session.Session)(nil)

// RunInfo tells a kernel factory about the run it serves.
type RunInfo struct {
	// ID names the run (Task.ID, or a fresh one).
	ID string
	// OutDir is the run's output directory; WorkDir the directory the
	// run's embedded kernel would work in (OutDir/workspace); RemoteDir the
	// one it would work in on a remote server.
	OutDir, WorkDir, RemoteDir string
}

// Config configures a Runner. Only Model is required; every zero value is
// a sensible default.
type Config struct {
	// Model answers for the planner and the coder. An *llm.Replay counts as
	// "no model called": its runs report no usage.
	Model llm.Client
	// Prompts overrides the agents' prompts (nil: the built-in ones).
	Prompts *prompts.Set

	// How a run gets its kernel, in order of precedence:
	//   Kernel     an open kernel, used as it is and never closed by the
	//              run (one run at a time on it; the caller restarts it
	//              between runs if it wants a clean state);
	//   NewKernel  called once per run; the run closes what it returns
	//              (a pool's Close may hand it back to the pool);
	//   Session    otherwise session.Open(Session) per run, closed at the
	//              end. Session.WorkDir "" means the run's own
	//              OutDir/workspace, never the process's working
	//              directory; Session.OutputDir is ignored (figures are
	//              saved by the run's Output). On a remote server the run
	//              works in RemoteDir/<run id>; Session.RemoteDir and
	//              Session.KeepRemote are set from this Config.
	Kernel    Kernel
	NewKernel func(ctx context.Context, run RunInfo) (Kernel, error)
	Session   session.Config

	// RemoteDir is where runs work on a remote Jupyter server, relative
	// to its root: each run in RemoteDir/<run id>, so that runs sharing a
	// server never touch each other's files ("": "agentteam").
	RemoteDir string
	// KeepRemote leaves a run's remote directory on the server; by default
	// it is deleted once the run's files are collected.
	KeepRemote bool

	// OutDir is where a run's outputs go when its Task has no OutDir; ""
	// means a fresh directory under os.TempDir() per run. Concurrent runs
	// need distinct directories.
	OutDir string

	// MaxTurns bounds the agents' turns (0: 30; negative: no bound).
	MaxTurns int
	// Timeout bounds a whole run; when it passes, the running cell is
	// interrupted and the run stops with cause Timeout (0: no bound).
	Timeout time.Duration
	// ExecTimeout bounds each code block (0: the kernel's default).
	ExecTimeout time.Duration
	// InspectTimeout bounds the data inspection (0: 2 minutes).
	InspectTimeout time.Duration
	// MaxHistory bounds the messages each model call sees (0: all).
	// Ignored when ContextWindow is set.
	MaxHistory int
	// ContextWindow is the model's context window in tokens: every request
	// is fitted to it, the task always whole (see
	// agents.AssistantConfig.ContextWindow). 0 sends the whole history.
	ContextWindow int
	// Vision sends the figures each step displayed to the model with the
	// step's output (for models that see images).
	Vision bool
	// NoRestore turns off restoring the kernel's state after it dies: by
	// default the cells that succeeded since the last restart are run
	// again (see executor/restore), and the model is told.
	NoRestore bool
	// Price, when set, prices the run's usage (Summary.Cost).
	Price *llm.Price
	// LoopLimit stops a run when the same failing code comes back this many
	// times (0: 3; negative: never).
	LoopLimit int
	// MaxSummaryBytes bounds the data summary given to the planner (0: 6000).
	MaxSummaryBytes int

	// CheckModel, when set, is called while the kernel starts, so that a
	// model endpoint that is unreachable or refuses the key ends the run
	// within seconds (as ModelError) rather than after the kernel start and
	// the data inspection. When nil, a Model with a method
	// Check(context.Context) error is checked with it.
	CheckModel func(ctx context.Context) error

	// Secrets never appear in an event's text, an output file or an error
	// (replaced by [REDACTED]); add the API key and the Jupyter token.
	Secrets []string
	// Redactor, when set, knows more secrets (e.g. redact.FromEnv), and a
	// run adds its own to it (Secrets, the Jupyter token, the token of the
	// embedded server it starts), so that a caller's logger and terminal
	// sharing it learn them too. A service running many runs should give
	// each its own (see redact.Redactor.With), or leave it nil: then each
	// run makes one.
	Redactor *redact.Redactor
	// MaxFileBytes bounds each file of the kernel's working directory
	// copied into files/, MaxFilesBytes all of them together (0: the
	// defaults of session.CollectConfig, 100 MiB and 1 GiB; negative: no
	// bound). Skipped files are listed in report.md.
	MaxFileBytes, MaxFilesBytes int64
	// Sandboxed and Where describe the kernel for the notebook's title when
	// Kernel or NewKernel is used (with Session they are worked out).
	Sandboxed bool
	Where     string
	// Version overrides the package's Version in notebooks.
	Version string
	// Logger receives debug logs (nil: discarded).
	Logger *slog.Logger

	// ToolCalls gives the coder run_python(code) and run_shell(command)
	// tools instead of asking for fenced code blocks, for models with
	// native tool calling; the code executor runs the calls in the kernel
	// and answers each with its output.
	ToolCalls bool
	// Tools are more tools the coder may call (e.g. from MCP servers).
	Tools []agents.Tool
	// Tracer records GenAI spans of the run (nil: none).
	Tracer *telemetry.Tracer
	// Input, when set, lets the planner and the coder ask the person
	// running the task (a handoff to "user"): the run pauses, Input is
	// asked the question, and the answer continues the run.
	Input agents.InputFunc
	// Approve, when set, is asked before each code block runs; a refusal
	// (and its reason) goes back to the coder instead of the output.
	Approve agents.ApprovalFunc
}

// File is an input file of a task.
type File struct {
	// Name is where the file goes, relative to the kernel's working
	// directory ("data.csv", "in/data.csv").
	Name string
	// Path is a local file to read; Data is used when Path is "".
	Path string
	Data []byte
}

// Task is one task to solve.
type Task struct {
	// ID names the run, e.g. in its remote directory; "" means a fresh
	// unique one. It must be a plain name (letters, digits, - _ .).
	ID    string
	Text  string
	Files []File
	// OutDir overrides Config.OutDir for this run.
	OutDir string
}

// Runner runs tasks. It is safe to call Run from several goroutines (with
// Config.Kernel, one run at a time).
type Runner struct {
	cfg Config
	log *slog.Logger
}

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Model == nil {
		return nil, errors.New("solve: Config.Model is required")
	}
	if cfg.MaxTurns == 0 {
		cfg.MaxTurns = 30
	} else if cfg.MaxTurns < 0 {
		cfg.MaxTurns = 0
	}
	if cfg.InspectTimeout <= 0 {
		cfg.InspectTimeout = 2 * time.Minute
	}
	if cfg.MaxSummaryBytes <= 0 {
		cfg.MaxSummaryBytes = 6000
	}
	if cfg.Version == "" {
		cfg.Version = Version
	}
	if cfg.RemoteDir == "" {
		cfg.RemoteDir = "agentteam"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log}, nil
}

// errRunTimeout is the cause of a run's context when Config.Timeout passed.
var errRunTimeout = errors.New("run time limit reached")

// errStopped is the cause when the caller stopped reading the events.
var errStopped = errors.New("the caller stopped the run")

// Run solves a task and yields its events as they happen; the last is the
// summary (after the outputs are written). When the run failed (ModelError,
// KernelError) or was cancelled, an *Error follows the summary. Breaking
// out of the loop or cancelling ctx stops the run: the running cell is
// interrupted, the kernel shut down (unless it was Config.Kernel) and the
// outputs written before Run returns.
func (r *Runner) Run(ctx context.Context, task Task) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		ru := &run{r: r, cfg: &r.cfg, log: r.log, start: time.Now(), replay: isReplay(r.cfg.Model), yield: yield, alive: true,
			red: r.cfg.Redactor}
		if ru.red == nil {
			ru.red = redact.New()
		}
		ru.red.Add(append([]string{r.cfg.Session.Token}, r.cfg.Secrets...)...)
		ru.do(ctx, task)
	}
}

func isReplay(c llm.Client) bool {
	_, ok := c.(*llm.Replay)
	return ok
}

type run struct {
	r      *Runner
	cfg    *Config
	log    *slog.Logger
	start  time.Time
	replay bool
	yield  func(Event, error) bool
	alive  bool
	cancel context.CancelCauseFunc
	out    *Output
	red    *redact.Redactor
	id     string
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// runID checks a run id, or makes a fresh one (time and randomness).
func runID(id string) (string, error) {
	if id != "" {
		if !idRE.MatchString(id) {
			return "", fmt.Errorf("run id %q: use letters, digits, '-', '_' and '.' only", id)
		}
		return id, nil
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b), nil
}

func (ru *run) redact(s string) string { return ru.red.String(s) }

// emit passes an event on (and to the outputs); once the consumer is gone
// the run is cancelled and nothing more is yielded.
func (ru *run) emit(ev Event) {
	if ru.out != nil {
		ru.out.Add(ev)
	}
	if !ru.alive {
		return
	}
	if ev.Type == EventStatus || ev.Type == EventNote {
		ev.Text = ru.redact(ev.Text)
	}
	if !ru.yield(ev, nil) {
		ru.alive = false
		ru.cancel(errStopped)
	}
}

func (ru *run) do(parent context.Context, task Task) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ru.cancel = cancel
	runCtx := ctx
	if ru.cfg.Timeout > 0 {
		var c context.CancelFunc
		runCtx, c = context.WithTimeoutCause(ctx, ru.cfg.Timeout, errRunTimeout)
		defer c()
	}

	outDir, err := ru.outDir(task)
	sum := &Summary{Model: ru.cfg.Model.ModelName(), Replay: ru.replay, OutputDir: outDir}
	if err == nil {
		ru.id, err = runID(task.ID)
	}
	if err != nil {
		ru.fail(sum, KernelError, fmt.Errorf("output directory: %w", err))
		return
	}
	files, inputs, err := readFiles(task.Files)
	if err != nil {
		ru.fail(sum, KernelError, err)
		return
	}
	sandboxed, where := ru.cfg.Sandboxed, ru.cfg.Where
	if ru.cfg.Kernel == nil && ru.cfg.NewKernel == nil {
		sandboxed = ru.cfg.Session.URL == "" && !ru.cfg.Session.Sandbox.Disabled
		switch {
		case ru.cfg.Session.URL != "":
			where = "the Jupyter server at " + displayURL(ru.cfg.Session.URL)
		case sandboxed:
			where = "an embedded sandboxed jupyter-server"
		default:
			where = "an embedded jupyter-server (unsandboxed)"
		}
	}
	if where == "" {
		where = "the given kernel"
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name)
	}
	unsandboxed := ru.cfg.Kernel == nil && ru.cfg.NewKernel == nil && ru.cfg.Session.URL == "" && ru.cfg.Session.Sandbox.Disabled
	hdr := Header{Task: task.Text, Inputs: names, Model: sum.Model, Replay: ru.replay, Sandboxed: sandboxed,
		Where: where, Version: ru.cfg.Version, Started: ru.start, Unsandboxed: unsandboxed}
	out, err := NewOutputWith(outDir, hdr, OutputConfig{Redactor: ru.red, MaxFileBytes: ru.cfg.MaxFileBytes, MaxFilesBytes: ru.cfg.MaxFilesBytes})
	if err != nil {
		ru.fail(sum, KernelError, err)
		return
	}
	ru.out = out

	ru.emit(Event{Type: EventStatus, Text: "starting a kernel on " + where})
	// The model is checked while the kernel starts; a failed check stops
	// the start.
	kctx, kcancel := context.WithCancelCause(runCtx)
	defer kcancel(nil)
	checked := make(chan error, 1)
	if check := ru.modelCheck(); check != nil {
		go func() {
			err := check(kctx)
			if err != nil && kctx.Err() == nil {
				err = fmt.Errorf("%w: %w", errModelCheck, err)
				kcancel(err)
			}
			checked <- err
		}()
	} else {
		checked <- nil
	}
	k, release, err := ru.kernel(kctx, outDir)
	if err != nil {
		if cerr := context.Cause(kctx); errors.Is(cerr, errModelCheck) {
			err = cerr
		} else {
			err = fmt.Errorf("%w: %w", errKernelStart, err)
		}
		ru.finish(ctx, runCtx, sum, nil, nil, err)
		return
	}
	defer release()
	if err := <-checked; err != nil && runCtx.Err() == nil {
		ru.finish(ctx, runCtx, sum, k, nil, err)
		return
	}

	// Inputs, then a look at the data.
	var dataPaths []string
	for _, f := range files {
		if err := k.Upload(runCtx, f.Name, f.Data); err != nil {
			ru.finish(ctx, runCtx, sum, k, inputs, fmt.Errorf("%w: copy %s to the kernel: %w", errKernel, f.Name, err))
			return
		}
		if IsData(f.Name) {
			dataPaths = append(dataPaths, f.Name)
		}
	}
	text := task.Text
	if len(names) > 0 {
		text += "\n\nInput files in the kernel's working directory: " + strings.Join(names, ", ")
	}
	if len(dataPaths) > 0 && ru.alive {
		ru.emit(Event{Type: EventStatus, Text: "inspecting " + strings.Join(dataPaths, ", ")})
		code := InspectCode(dataPaths)
		res, err := executor.Execute(runCtx, k, executor.Request{Code: code, Timeout: ru.cfg.InspectTimeout})
		if res != nil {
			out.AddInspection(code, res)
			summary, _ := executor.TruncateText(res.Text(), ru.cfg.MaxSummaryBytes)
			text += "\n\nData summary (from the kernel, before planning):\n" + summary
		}
		if err != nil && runCtx.Err() != nil {
			ru.finish(ctx, runCtx, sum, k, inputs, err)
			return
		}
	}

	tm, finished, asked, err := ru.team(k)
	if err != nil {
		ru.finish(ctx, runCtx, sum, k, inputs, err)
		return
	}
	turns := 0
	var runErr error
	for {
		*asked = nil
		for m, err := range tm.Stream(runCtx, text) {
			if err != nil {
				runErr = err
				break
			}
			ru.emit(Event{Type: EventMessage, Message: m})
			sum.Usage = usageOf(sum.Usage, m)
			if m.Usage != nil && m.Kind != agents.KindChunk && !ru.replay {
				if sum.UsageByAgent == nil {
					sum.UsageByAgent = map[string]llm.Usage{}
				}
				sum.UsageByAgent[m.Source] = sum.UsageByAgent[m.Source].Add(*m.Usage)
			}
			if sum.Usage != nil && ru.cfg.Price != nil {
				c := ru.cfg.Price.Cost(*sum.Usage)
				sum.Cost = &c
			}
			if (m.Kind == agents.KindText || m.Kind == agents.KindHandoff) && m.Source != agents.SourceUser {
				turns++
			}
			switch {
			case m.Kind == agents.KindStop && m.Source == "executor" && m.Metadata[agents.MetaStop] == agents.StopCutOff:
				sum.Cause, sum.Reason = CutOff, "cut off: "+lowerFirst(m.Content)
			case m.Kind == agents.KindStop && m.Source == "executor":
				sum.Cause, sum.Reason = Loop, "loop: "+lowerFirst(m.Content)
			case m.Kind == agents.KindStop && *finished:
				sum.Cause, sum.Reason = Finished, "finished"
			case m.Kind == agents.KindStop && *asked != nil:
			case m.Kind == agents.KindStop && sum.Cause == "":
				sum.Cause, sum.Reason = MaxTurns, fmt.Sprintf("%d turns reached", ru.cfg.MaxTurns)
			}
			if !ru.alive {
				break
			}
		}
		if runErr != nil || !ru.alive || *asked == nil || sum.Cause != "" {
			break
		}
		// An agent asked the person: their answer continues the run.
		ru.emit(Event{Type: EventStatus, Text: "waiting for your answer"})
		answer, err := ru.cfg.Input(runCtx, (*asked).Content)
		if err != nil || strings.TrimSpace(answer) == "" {
			if runCtx.Err() != nil {
				break
			}
			if err == nil {
				err = errors.New("empty answer")
			}
			sum.Cause, sum.Reason = Cancelled, "no answer from the user ("+oneLine(err.Error())+")"
			sum.Err = fmt.Errorf("%w: %w", agents.ErrNoInput, err)
			break
		}
		text = answer
	}
	sum.Turns = turns
	ru.finish(ctx, runCtx, sum, k, inputs, runErr)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (ru *run) modelCheck() func(context.Context) error {
	if ru.cfg.CheckModel != nil {
		return ru.cfg.CheckModel
	}
	if c, ok := ru.cfg.Model.(interface{ Check(context.Context) error }); ok {
		return c.Check
	}
	return nil
}

var (
	errModelCheck  = errors.New("model check failed")
	errKernelStart = errors.New("kernel start failed")
	errKernel      = errors.New("kernel error")
)

// finish settles the stop cause, collects the files, writes the outputs and
// yields the summary (and the error of a failed run).
func (ru *run) finish(ctx, runCtx context.Context, sum *Summary, k Kernel, inputs map[string]bool, err error) {
	switch {
	case ctx.Err() != nil:
		sum.Cause = Cancelled
		cause := context.Cause(ctx)
		if cause == nil || errors.Is(cause, context.Canceled) {
			cause = errors.New("cancelled")
		}
		sum.Reason, sum.Err = "interrupted ("+cause.Error()+")", cause
		if strings.HasPrefix(cause.Error(), "interrupted") {
			sum.Reason = cause.Error()
		}
	case errors.Is(context.Cause(runCtx), errRunTimeout):
		sum.Cause, sum.Reason = Timeout, fmt.Sprintf("time limit of %s reached", ru.cfg.Timeout)
	case err != nil:
		sum.Cause, sum.Err = classify(err), err
		if sum.Cause == ModelError {
			sum.Reason = "model error: " + errorText(err)
		} else {
			sum.Reason = "kernel error: " + errorText(err)
		}
	case sum.Cause == "":
		sum.Cause, sum.Reason = MaxTurns, fmt.Sprintf("%d turns reached", ru.cfg.MaxTurns)
	}
	sum.Reason = ru.redact(sum.Reason)
	if sum.Err != nil {
		sum.Err = &redactedError{msg: ru.redact(sum.Err.Error()), err: sum.Err}
	}
	if k != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		sum.Files = ru.out.CollectFiles(cctx, k, inputs)
		cancel()
	}
	sum.Duration = time.Since(ru.start)
	if ru.out != nil {
		if err := ru.out.Close(sum); err != nil {
			ru.emit(Event{Type: EventNote, Text: "could not write every output: " + err.Error()})
		}
	}
	ru.emit(Event{Type: EventSummary, Summary: sum})
	if ru.alive && (sum.Cause == ModelError || sum.Cause == KernelError || sum.Cause == Cancelled) {
		ru.yield(Event{}, &Error{Cause: sum.Cause, Err: sum.Err})
	}
}

// fail ends a run that could not start.
func (ru *run) fail(sum *Summary, cause StopCause, err error) {
	sum.Cause, sum.Err = cause, &redactedError{msg: ru.redact(err.Error()), err: err}
	sum.Reason = ru.redact(errorText(err))
	sum.Duration = time.Since(ru.start)
	if ru.yield(Event{Type: EventSummary, Summary: sum}, nil) {
		ru.yield(Event{}, &Error{Cause: cause, Err: sum.Err})
	}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// classify tells model failures from kernel failures.
func classify(err error) StopCause {
	var api *llm.APIError
	switch {
	case errors.As(err, &api), errors.Is(err, agents.ErrNoResponse), errors.Is(err, errModelCheck):
		return ModelError
	case errors.Is(err, errKernelStart), errors.Is(err, errKernel):
		return KernelError
	}
	for _, e := range []error{llm.ErrAuth, llm.ErrModelNotFound, llm.ErrContextTooLong, llm.ErrRateLimited,
		llm.ErrUnreachable, llm.ErrBadResponse, llm.ErrStreamIdle, llm.ErrServer} {
		if errors.Is(err, e) {
			return ModelError
		}
	}
	return KernelError
}

// errorText is the one cause of an error, without the chain of prefixes
// ("team: planner: …") it gathered on the way up.
func errorText(err error) string {
	var api *llm.APIError
	if errors.As(err, &api) {
		return oneLine(api.Error())
	}
	var unauth *jupyter.UnauthorizedError
	if errors.As(err, &unauth) {
		return fmt.Sprintf("the Jupyter server refused the token (HTTP %d)", unauth.StatusCode)
	}
	if errors.Is(err, jupyter.ErrUnauthorized) {
		return "the Jupyter server refused the token"
	}
	msg := err.Error()
	for {
		trimmed := false
		for _, p := range []string{"team: ", "planner: ", "coder: ", "executor: ", "model: ", "session: "} {
			if strings.HasPrefix(msg, p) {
				msg, trimmed = msg[len(p):], true
			}
		}
		if !trimmed {
			break
		}
	}
	return oneLine(msg)
}

func (ru *run) outDir(task Task) (string, error) {
	dir := task.OutDir
	if dir == "" {
		dir = ru.cfg.OutDir
	}
	if dir == "" {
		return os.MkdirTemp("", "agentteam-run-")
	}
	return filepath.Abs(dir)
}

// kernel gets the run's kernel and the function that gives it back.
func (ru *run) kernel(ctx context.Context, outDir string) (Kernel, func(), error) {
	info := RunInfo{ID: ru.id, OutDir: outDir, WorkDir: filepath.Join(outDir, "workspace"), RemoteDir: path.Join(ru.cfg.RemoteDir, ru.id)}
	closeIt := func(k Kernel) func() {
		return func() {
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = k.Close(cctx)
		}
	}
	switch {
	case ru.cfg.Kernel != nil:
		return ru.cfg.Kernel, func() {}, nil
	case ru.cfg.NewKernel != nil:
		k, err := ru.cfg.NewKernel(ctx, info)
		if err != nil {
			return nil, nil, err
		}
		return k, closeIt(k), nil
	}
	scfg := ru.cfg.Session
	if scfg.WorkDir == "" {
		scfg.WorkDir = info.WorkDir
	}
	scfg.RemoteDir, scfg.KeepRemote = info.RemoteDir, ru.cfg.KeepRemote
	if scfg.URL == "" {
		if err := os.MkdirAll(scfg.WorkDir, 0o755); err != nil {
			return nil, nil, err
		}
	}
	scfg.OutputDir = ""
	if scfg.Logger == nil {
		scfg.Logger = ru.log
	}
	s, err := session.Open(ctx, scfg)
	if err != nil {
		return nil, nil, err
	}
	if srv := s.Server(); srv != nil {
		ru.red.Add(srv.Token())
		if notes := srv.LimitNotes(); len(notes) > 0 {
			if ru.out != nil {
				ru.out.SetSandboxNotes(notes)
			}
			ru.emit(Event{Type: EventNote, Text: srv.LimitSummary() + " (details in report.md)"})
			ru.log.Debug("sandbox limits", "notes", strings.Join(notes, "; "))
		}
	}
	return s, closeIt(s), nil
}

// team wires the planner, the coder and the code executor. finished is set
// when the stop word ends the run.
func (ru *run) team(k Kernel) (*team.RoundRobin, *bool, **agents.Message, error) {
	c := ru.cfg
	vars := func(ctx context.Context) []string { return kernelVariables(ctx, k) }
	pcfg := agents.AssistantConfig{Client: c.Model, Prompts: c.Prompts, MaxHistory: c.MaxHistory,
		ContextWindow: c.ContextWindow, Variables: vars, Logger: ru.log, Tracer: c.Tracer}
	ccfg := pcfg
	if c.Input != nil {
		h := []agents.Handoff{{Target: agents.SourceUser, Description: "Ask the user a question (write it in your reply) when only they can answer it; the answer comes back as the next message.",
			Message: "The question was passed to the user."}}
		pcfg.Handoffs, ccfg.Handoffs = h, h
		var err error
		if pcfg.SystemPrompt, err = ru.prompt(prompts.Planner, askNote); err != nil {
			return nil, nil, nil, err
		}
	}
	var notes []string
	if c.ToolCalls {
		ccfg.ExternalTools = agents.CodeTools()
		notes = append(notes, toolsNote)
	}
	if len(c.Tools) > 0 {
		ccfg.Tools = c.Tools
		ccfg.MaxToolIterations = 5
	}
	if c.Input != nil {
		notes = append(notes, askNote)
	}
	if len(notes) > 0 {
		var err error
		if ccfg.SystemPrompt, err = ru.prompt(prompts.Coder, notes...); err != nil {
			return nil, nil, nil, err
		}
	}
	planner, err := agents.NewPlanner(pcfg)
	if err != nil {
		return nil, nil, nil, err
	}
	coder, err := agents.NewCoder(ccfg)
	if err != nil {
		return nil, nil, nil, err
	}
	var ex executor.Executor = k
	if !c.NoRestore {
		ex = restore.New(k, restore.Config{Logger: ru.log})
	}
	exec, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{
		Executor: ex, Sources: []string{"coder"}, Vision: c.Vision, Timeout: c.ExecTimeout, LoopLimit: c.LoopLimit, Logger: ru.log,
		Tracer: c.Tracer, Approve: c.Approve,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	finished := new(bool)
	asked := new(*agents.Message)
	mention := team.TextMention(stopWord, "coder", "planner")
	cond := team.Func(func(msgs []*agents.Message) string {
		if r := mention.Check(msgs); r != "" {
			*finished = true
			return "finished"
		}
		for _, m := range msgs {
			if m.Kind == agents.KindHandoff && m.Target == agents.SourceUser {
				*asked = m
				return "waiting for the user"
			}
		}
		return ""
	})
	tm, err := team.New(team.Config{
		Agents:      []agents.Agent{planner, coder, exec},
		Termination: cond,
		MaxTurns:    c.MaxTurns,
		Logger:      ru.log,
		Tracer:      c.Tracer,
	})
	return tm, finished, asked, err
}

// Notes added to the prompts for tool calling and for asking the user.
const (
	toolsNote = "Tools: run each step's code by calling the run_python tool (run_shell for a shell command) instead of writing a code block; the output comes back as the tool's result. One call per step."
	askNote   = "If you need something only the user can tell you (a choice, a missing detail), write your question in your reply and call the transfer_to_user tool; their answer comes back as the next message."
)

// prompt is a prompt of the run's set with notes appended.
func (ru *run) prompt(name string, notes ...string) (string, error) {
	var text string
	var err error
	if ru.cfg.Prompts != nil {
		text, err = ru.cfg.Prompts.Get(name)
	} else {
		text, err = prompts.Get(name)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(text, "\n") + "\n\n" + strings.Join(notes, "\n\n") + "\n", nil
}

// variablesCode lists the names a kernel's user defined (one line, comma
// separated), without running anything of theirs.
const variablesCode = `print(','.join(sorted(n for n in globals() if not n.startswith('_') and n not in ('In', 'Out', 'exit', 'quit', 'get_ipython', 'open'))))`

// kernelVariables asks the kernel which variables it holds (for the note
// that replaces folded turns); nil when it cannot say.
func kernelVariables(ctx context.Context, k Kernel) []string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := executor.Execute(ctx, k, executor.Request{Code: variablesCode, Timeout: 15 * time.Second})
	if err != nil || !res.OK() {
		return nil
	}
	names := []string{}
	for _, n := range strings.Split(strings.TrimSpace(res.Text()), ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

type inputFile struct {
	Name string
	Data []byte
}

// readFiles reads the inputs and checks their names.
func readFiles(files []File) ([]inputFile, map[string]bool, error) {
	var out []inputFile
	inputs := map[string]bool{}
	for _, f := range files {
		name := path.Clean(filepath.ToSlash(f.Name))
		if f.Name == "" || path.IsAbs(name) || name == "." || name == ".." || strings.HasPrefix(name, "../") {
			return nil, nil, fmt.Errorf("input file %q: the name must be a relative path inside the working directory", f.Name)
		}
		if inputs[name] {
			continue
		}
		data := f.Data
		if f.Path != "" {
			var err error
			if data, err = os.ReadFile(f.Path); err != nil {
				return nil, nil, fmt.Errorf("input file: %w", err)
			}
		}
		inputs[name] = true
		out = append(out, inputFile{Name: name, Data: data})
	}
	return out, inputs, nil
}

// displayURL drops any query (tokens) and user info from a URL.
func displayURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '@'); j >= 0 && !strings.Contains(u[i+3:i+3+j], "/") {
			u = u[:i+3] + u[i+3+j+1:]
		}
	}
	return u
}
