package jupyter

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/executor"
)

var _ executor.Executor = (*Kernel)(nil)

// Defaults of KernelConfig.
const (
	DefaultKernelName     = "python3"
	DefaultTimeout        = 60 * time.Second
	DefaultInterruptGrace = 3 * time.Second
	DefaultStartTimeout   = 60 * time.Second
)

// KernelConfig configures a Kernel.
type KernelConfig struct {
	// Client is the server the kernel runs on. Required.
	Client *Client
	// KernelName is the kernel spec; "" means python3.
	KernelName string
	// Path is the kernel's working directory, relative to the server's root
	// directory (it must exist); "" lets the server choose (see
	// Client.StartKernelAt). Kernels started to replace a dead one get it
	// too.
	Path string
	// Setup, when set, is Python code run quietly before the first
	// execution on every fresh or restarted kernel (e.g. to change to a
	// directory where the server cannot start kernels in one).
	Setup string
	// KernelID attaches to an existing kernel instead of starting one. Such
	// a kernel is not shut down by Close, and is not replaced when it dies.
	KernelID string
	// Timeout is the default per-execution deadline; zero means 60s.
	Timeout time.Duration
	// InterruptGrace is how long an interrupted kernel may take to become
	// idle before it is restarted; zero means 3s.
	InterruptGrace time.Duration
	// StartTimeout bounds starting a kernel and waiting until it answers;
	// zero means 60s.
	StartTimeout time.Duration
	// OutputDir is where images and html from outputs are saved; "" means
	// they are not saved.
	OutputDir string
	// ScrubFiles, when set, is applied to the bytes of each file saved in
	// OutputDir before it is written (a redactor's, say).
	ScrubFiles func([]byte) []byte
	// MaxOutputBytes caps the text kept per output (head and tail are kept);
	// zero means executor.DefaultMaxOutputBytes, negative means no cap. Text
	// is cut while it is read, so a long output costs no more memory.
	MaxOutputBytes int
	// MaxMimeBytes caps each value of a display other than text (images,
	// html, unknown types): a larger one is dropped while it is read, and the
	// drop noted in the output. Zero means executor.DefaultMaxMimeBytes,
	// negative means no cap.
	MaxMimeBytes int64
	// MaxRichBytes caps the total of such values kept from one execution;
	// zero means executor.DefaultMaxRichBytes, negative means no cap.
	MaxRichBytes int64
	// Logger receives debug logs; nil means the client's logger.
	Logger *slog.Logger
}

// Kernel is one stateful kernel on a Jupyter server, reached over one
// websocket. It implements executor.Executor; executions are serialized.
type Kernel struct {
	cfg KernelConfig
	c   *Client
	log *slog.Logger

	mu        sync.Mutex // serializes executions, restarts and close
	id        string
	owned     bool
	conn      *conn
	dead      bool // the kernel is gone; a fresh one is needed
	redial    bool // the kernel restarted or the socket broke: reconnect before running
	stateLost bool // the next result says state was lost
	needSetup bool // cfg.Setup has not run on this kernel process yet
	// kernelSession is the session id in the headers of the kernel
	// process's messages ("" when unknown, e.g. after a restart made here);
	// foreignRestart is set when it changed without a restart made here.
	kernelSession  string
	foreignRestart bool
	closed         bool
	runs           int
	closing        chan struct{} // closed when Close starts: ends a running execution
	closeOnce      sync.Once

	idMu sync.Mutex
}

// NewKernel starts a kernel (or attaches to cfg.KernelID), connects its
// websocket and waits until it answers.
func NewKernel(ctx context.Context, cfg KernelConfig) (*Kernel, error) {
	if cfg.Client == nil {
		return nil, errors.New("jupyter: KernelConfig.Client is nil")
	}
	if cfg.KernelName == "" {
		cfg.KernelName = DefaultKernelName
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.InterruptGrace <= 0 {
		cfg.InterruptGrace = DefaultInterruptGrace
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.MaxOutputBytes == 0 {
		cfg.MaxOutputBytes = executor.DefaultMaxOutputBytes
	}
	if cfg.MaxMimeBytes == 0 {
		cfg.MaxMimeBytes = executor.DefaultMaxMimeBytes
	}
	if cfg.MaxRichBytes == 0 {
		cfg.MaxRichBytes = executor.DefaultMaxRichBytes
	}
	log := cfg.Logger
	if log == nil {
		log = cfg.Client.log
	}
	k := &Kernel{cfg: cfg, c: cfg.Client, log: log, closing: make(chan struct{})}
	if cfg.KernelID != "" {
		if _, err := k.c.GetKernel(ctx, cfg.KernelID); err != nil {
			return nil, err
		}
		k.setID(cfg.KernelID)
		if err := k.connect(ctx); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err := k.start(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// ID is the kernel's id on the server (it changes when a dead kernel is
// replaced).
func (k *Kernel) ID() string {
	k.idMu.Lock()
	defer k.idMu.Unlock()
	return k.id
}

func (k *Kernel) setID(id string) {
	k.idMu.Lock()
	k.id = id
	k.idMu.Unlock()
}

// limits are the caps the websocket's decoder applies while reading.
func (k *Kernel) limits() decodeLimits {
	return decodeLimits{text: k.cfg.MaxOutputBytes, mime: k.cfg.MaxMimeBytes}
}

// start starts a fresh kernel and connects to it.
func (k *Kernel) start(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, k.cfg.StartTimeout)
	defer cancel()
	info, err := k.c.StartKernelAt(sctx, k.cfg.KernelName, k.cfg.Path)
	if err != nil {
		return err
	}
	k.setID(info.ID)
	k.owned = true
	k.needSetup = true
	k.kernelSession = ""
	if err := k.connect(ctx); err != nil {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = k.c.DeleteKernel(dctx, info.ID)
		dcancel()
		return err
	}
	return nil
}

// connect opens a fresh websocket and waits until the kernel answers a
// kernel_info_request. A websocket that gets no answer is replaced: after the
// server restarts a kernel it may listen on new ports that an older websocket
// does not reach.
func (k *Kernel) connect(ctx context.Context) error {
	if k.conn != nil {
		k.conn.close()
		k.conn = nil
	}
	sctx, cancel := context.WithTimeout(ctx, k.cfg.StartTimeout)
	defer cancel()
	budget := 2 * time.Second
	for {
		cn, err := k.c.openConn(sctx, k.ID(), k.limits(), k.log)
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("kernel %s did not answer within the start timeout (%s)", k.ID(), k.cfg.StartTimeout)
			}
			return err
		}
		k.conn = cn
		err = k.waitReady(sctx, budget)
		if err == nil {
			k.dead, k.redial = false, false
			return nil
		}
		k.conn.close()
		k.conn = nil
		if !errors.Is(err, errStale) && !errors.Is(err, errKernelRestarted) && !errors.Is(err, errKernelShutdown) {
			return err
		}
		k.log.Debug("no kernel_info_reply yet; reconnecting", "kernel", k.ID(), "reason", err)
		budget = min(budget*2, 10*time.Second)
	}
}

// errStale: the kernel did not answer on this websocket within the budget.
var errStale = errors.New("no answer from the kernel")

// waitReady sends kernel_info_request (again every second) until the kernel
// replies on shell and its status arrives on iopub, at most budget.
func (k *Kernel) waitReady(ctx context.Context, budget time.Duration) error {
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	// A request the kernel got before its iopub reached the server goes
	// unanswered on iopub: ask again soon, then less often.
	retry := 100 * time.Millisecond
	for {
		m := newMessage(k.conn.session, "shell", "kernel_info_request", map[string]any{})
		box := k.conn.register(m.Header.MsgID)
		err := k.conn.send(ctx, m)
		if err == nil {
			err = func() error {
				t := time.NewTimer(retry)
				defer t.Stop()
				retry = min(2*retry, time.Second)
				// Ready means the reply on shell and a status on iopub:
				// until iopub is subscribed, output would be lost.
				var reply, iopub bool
				for {
					select {
					case <-box.notify:
						for _, it := range box.take() {
							if it.err != nil {
								return it.err
							}
							switch {
							case it.msg.Header.MsgType == "kernel_info_reply":
								reply = true
								k.noteSession(it.msg.Header.Session)
							case it.msg.Channel == "iopub":
								iopub = true
							}
						}
						if reply && iopub {
							return nil
						}
					case <-t.C:
						return errRetry
					case <-deadline.C:
						return errStale
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}()
		}
		k.conn.unregister(m.Header.MsgID)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errRetry):
			continue
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return fmt.Errorf("kernel %s did not answer within the start timeout (%s)", k.ID(), k.cfg.StartTimeout)
		case errors.Is(err, errKernelDead):
			return fmt.Errorf("%w: %w", executor.ErrKernelDied, err)
		default:
			return err
		}
	}
}

var errRetry = errors.New("retry")

// aborted reports a result of an execution the kernel refused to run
// because an earlier one had failed.
func aborted(r *executor.Result) bool {
	return r != nil && r.Status == executor.StatusError && r.Error != nil &&
		r.Error.EName == "ExecutionAborted" && len(r.Outputs) <= 1
}

// Execute runs one code block and returns its result; see executor.Executor.
func (k *Kernel) Execute(ctx context.Context, req executor.Request) (*executor.Result, error) {
	return executor.Collect(k.Run(ctx, req), nil)
}

// Run runs one code block, yielding its outputs as they arrive and then its
// result; see executor.Executor. Breaking out of the loop interrupts the
// kernel.
func (k *Kernel) Run(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
	return func(yield func(executor.Event, error) bool) {
		stopped := false
		emit := func(o executor.Output) bool {
			if stopped {
				return false
			}
			if !yield(executor.Event{Output: &o}, nil) {
				stopped = true
			}
			return !stopped
		}
		res, err := k.execute(ctx, req, emit)
		if stopped {
			return
		}
		yield(executor.Event{Result: res}, err)
	}
}

// errStopped: the consumer of Run stopped reading.
var errStopped = errors.New("the caller stopped reading the outputs")

func (k *Kernel) execute(ctx context.Context, req executor.Request, emit func(executor.Output) bool) (*executor.Result, error) {
	lang, ok := executor.NormalizeLanguage(strings.TrimSpace(req.Language))
	if !ok {
		return &executor.Result{
			Status:  executor.StatusUnsupported,
			Message: fmt.Sprintf("language %q is not supported: use python or shell (sh/bash)", req.Language),
		}, fmt.Errorf("%w: %q (supported: python, shell)", executor.ErrUnsupportedLanguage, req.Language)
	}
	code := req.Code
	if lang == executor.Shell && !strings.HasPrefix(strings.TrimLeft(code, " \t\r\n"), "%%") {
		// A cell magic runs the script in a subprocess of the kernel, so it
		// shares the kernel's working directory and environment.
		code = "%%bash\n" + code
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = k.cfg.Timeout
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, executor.ErrClosed
	}
	// A cancelled call never reaches the kernel.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	restarted, err := k.ensureReady(ctx)
	if err != nil {
		if errors.Is(err, executor.ErrKernelDied) {
			return &executor.Result{Status: executor.StatusKernelDied, StateLost: true, Message: "the kernel is gone and could not be replaced; all state is lost"}, err
		}
		return nil, err
	}
	lost := k.stateLost || restarted
	k.stateLost = false
	if err := k.setup(ctx); err != nil {
		return nil, err
	}
	res, err := k.run(ctx, code, timeout, lang, emit)
	if errors.Is(err, executor.ErrNotDelivered) {
		// Nothing ran: a loss of state is told by the next result.
		k.stateLost = k.stateLost || lost
		return res, err
	}
	// With stop_on_error, a kernel aborts requests that reach it right
	// after a failed one, before it has stopped aborting. Such a request
	// never ran: send it again.
	for attempt := 1; attempt <= 3 && err == nil && aborted(res); attempt++ {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
		res, err = k.run(ctx, code, timeout, lang, emit)
	}
	foreign := k.foreignRestart
	if res != nil {
		k.foreignRestart = false
		lost = lost || foreign
		k.stateLost = k.stateLost && !foreign // reported here
	}
	if res == nil {
		k.stateLost = k.stateLost || lost // nothing ran: tell the next result
	} else if lost {
		res.StateLost = true
		if restarted {
			res.Restarted = true
		}
		switch {
		case foreign && !restarted:
			msg := "the kernel was restarted from outside (through the server): this ran on a fresh kernel, so variables and imports defined earlier are gone"
			if res.Message != "" {
				msg += "; " + res.Message
			}
			res.Message = msg
		case res.Message != "":
		default:
			res.Message = "the kernel had died: this ran on a fresh kernel, so variables and imports defined earlier are gone"
		}
	}
	return res, err
}

// setup runs cfg.Setup on a kernel that has not run it yet.
func (k *Kernel) setup(ctx context.Context) error {
	if k.cfg.Setup == "" || !k.needSetup {
		return nil
	}
	res, err := k.run(ctx, k.cfg.Setup, k.cfg.StartTimeout, executor.Python, func(executor.Output) bool { return true })
	if err != nil {
		return fmt.Errorf("kernel setup: %w", err)
	}
	if res != nil && res.Status != executor.StatusOK {
		return fmt.Errorf("kernel setup failed: %s", strings.TrimSpace(res.Text()))
	}
	k.needSetup = false
	return nil
}

// Probing a silent execution. The kernel handles shell requests one at a
// time, in order, and publishes on iopub in order: a busy status before it
// handles a request, the idle status after. So when a kernel_info_request
// sent after an execution is answered on shell before the execution's reply,
// that execution never reached the kernel; and when the probe's busy or idle
// status comes on iopub while the execution's idle never did, the
// execution's iopub messages were lost (a Jupyter Server loses a kernel's
// first messages after a restart through its REST API, before its iopub
// subscription reaches the new kernel process). A cell that is still running
// only delays the probe's answers: nothing is concluded from time alone.
const (
	// quietLimit: an execution that shows no sign at all (busy,
	// execute_input, output, reply) for this long is probed.
	quietLimit = 3 * time.Second
	// idleLimit: an execution whose reply came is probed when its idle
	// status has not come this long after (and the other way round).
	idleLimit = time.Second
	// iopubLimit: when the probe's reply came but none of its statuses did
	// for this long, the websocket's iopub is taken as not delivering.
	iopubLimit = 5 * time.Second
)

// noteSession records the kernel process's session id, seen in the header
// of a message it sent. A new id that this Kernel did not cause (by a
// restart or a replacement) means the kernel was restarted from outside,
// e.g. through the REST API, where this server sends no "restarting"
// status: its state is gone.
func (k *Kernel) noteSession(session string) {
	if session == "" {
		return
	}
	if k.kernelSession != "" && session != k.kernelSession {
		k.log.Debug("kernel session changed: restarted from outside", "kernel", k.ID())
		k.foreignRestart = true
		k.stateLost = true
		k.needSetup = true
	}
	k.kernelSession = session
}

// ensureReady makes sure a live, connected kernel is there, starting a fresh
// one when this Kernel owns a dead one. restarted reports that it did.
func (k *Kernel) ensureReady(ctx context.Context) (restarted bool, err error) {
	if k.conn != nil {
		// A shutdown seen on a websocket that is replaced anyway was this
		// Kernel's own restart (after a timeout, or Restart).
		own := k.redial
		if ev := k.conn.takeEvent(); ev != nil && !(own && errors.Is(ev, errKernelShutdown)) {
			k.noteEvent(ev)
		}
		if err := k.conn.broken(); err != nil && !k.dead {
			if errors.Is(err, errKernelDead) {
				k.dead = true
				k.stateLost = true
			} else {
				// The socket is gone but the kernel may not be: reconnect.
				k.redial = true
			}
		}
	}
	if !k.dead && (k.conn == nil || k.redial) {
		err := k.connect(ctx)
		switch {
		case err == nil:
		case errors.Is(err, ErrKernelNotFound), errors.Is(err, executor.ErrKernelDied):
			k.dead = true
			k.stateLost = true
		default:
			return false, err
		}
	}
	if k.dead {
		if !k.owned {
			return false, fmt.Errorf("%w: kernel %s is gone and was not started here, so it is not replaced", executor.ErrKernelDied, k.ID())
		}
		old := k.ID()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = k.c.DeleteKernel(dctx, old)
		cancel()
		if k.conn != nil {
			k.conn.close()
			k.conn = nil
		}
		k.log.Debug("replacing dead kernel", "old", old)
		if err := k.start(ctx); err != nil {
			return false, fmt.Errorf("%w; starting a fresh kernel failed: %w", executor.ErrKernelDied, err)
		}
		return true, nil
	}
	return false, nil
}

// noteEvent records a kernel-level event seen while nothing ran.
func (k *Kernel) noteEvent(ev error) {
	switch {
	case errors.Is(ev, errKernelRestarted):
		k.redial = true
		k.stateLost = true
		k.kernelSession = ""
	case errors.Is(ev, errKernelDead):
		k.dead = true
		k.stateLost = true
	case errors.Is(ev, errKernelShutdown):
		// Restarted from outside: reconnect before the next execution, so
		// that it goes through channels the server has checked reach the
		// new process (its first output is lost otherwise), and run Setup.
		k.log.Debug("kernel restarted from outside", "kernel", k.ID())
		k.redial = true
		k.stateLost = true
		k.foreignRestart = true
		k.needSetup = true
		k.kernelSession = ""
	}
}

// run sends one execute_request and collects its outputs until both the
// idle status and the execute_reply arrived, or the deadline, the context or
// a fault ends it.
func (k *Kernel) run(ctx context.Context, code string, timeout time.Duration, lang string, emit func(executor.Output) bool) (*executor.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k.runs++
	ex := &execution{k: k}
	ex.col = executor.NewCollector(executor.CollectorConfig{
		OutputDir:      k.cfg.OutputDir,
		Scrub:          k.cfg.ScrubFiles,
		FilePrefix:     fmt.Sprintf("%s-%d", shortID(k.ID()), k.runs),
		MaxOutputBytes: k.cfg.MaxOutputBytes,
		MaxMimeBytes:   k.cfg.MaxMimeBytes,
		MaxRichBytes:   k.cfg.MaxRichBytes,
		OnOutput:       func(o executor.Output) { ex.pending = append(ex.pending, o) },
	})
	col := ex.col
	m := newMessage(k.conn.session, "shell", "execute_request", executeRequest{
		Code: code, Silent: false, StoreHistory: true, UserExpressions: map[string]any{},
		AllowStdin: false, StopOnError: true,
	})
	msgID := m.Header.MsgID
	box := k.conn.register(msgID)
	defer k.conn.unregister(msgID)
	start := time.Now()
	if err := k.conn.send(ctx, m); err != nil {
		// Not sent: nothing ran.
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("send to kernel %s: %w", k.ID(), err)
	}
	// Sent: from here on a cancellation interrupts the kernel.
	ex.box = box
	defer func() {
		if ex.unregister != nil {
			ex.unregister()
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	// check fires when the execution has been silent for too long (see
	// quietLimit).
	check := time.NewTimer(quietLimit)
	defer check.Stop()
	idleWait := false // check was re-armed for the idle status or the reply, after the other came
	iopubWait := false

	var fault, lost error
wait:
	for !ex.finished() {
		select {
		case <-box.notify:
			fault = ex.drain()
			if !ex.flush(emit) {
				res, err := k.stop(ex, errStopped, executor.StatusCancelled, "stopped")
				res.Duration = time.Since(start)
				return res, err
			}
			if fault != nil {
				break wait
			}
			if lost = ex.verdict(); lost != nil {
				break wait
			}
			switch {
			case ex.probe == "" && ex.replied != ex.idle && !idleWait:
				// The reply and the idle status come together.
				idleWait = true
				resetTimer(check, idleLimit)
			case ex.probeReplied && !ex.probeIOPub && !iopubWait:
				iopubWait = true
				resetTimer(check, iopubLimit)
			}
		case <-check.C:
			switch {
			case ex.probe == "" && ex.started && !ex.replied && !ex.idle:
				// A cell that is running (busy came): nothing to probe.
			case ex.probe == "":
				if err := k.sendProbe(ctx, ex); err != nil {
					k.log.Debug("probe not sent", "kernel", k.ID(), "err", err)
				}
			case ex.probeReplied && !ex.probeIOPub:
				// The kernel answers on shell but nothing comes on iopub:
				// the websocket's iopub channel does not deliver. A fresh
				// websocket gets fresh channels.
				k.log.Debug("no iopub messages on this websocket; reconnecting before the next execution", "kernel", k.ID())
				k.redial = true
				lost = ex.verdictNoIOPub()
				break wait
			}
		case <-timer.C:
			res, err := k.stop(ex, fmt.Errorf("%w after %s", executor.ErrTimeout, timeout), executor.StatusTimeout, fmt.Sprintf("timed out after %s", timeout))
			res.Duration = time.Since(start)
			ex.flush(emit)
			return res, err
		case <-ctx.Done():
			res, err := k.stop(ex, ctx.Err(), executor.StatusCancelled, "cancelled")
			res.Duration = time.Since(start)
			ex.flush(emit)
			return res, err
		case <-k.closing:
			res := col.Result()
			res.Status = executor.StatusCancelled
			res.Duration = time.Since(start)
			res.Message = "the executor was closed while this ran"
			return res, executor.ErrClosed
		}
	}
	if errors.Is(lost, executor.ErrNotDelivered) {
		k.log.Debug("execution request lost before the kernel", "kernel", k.ID())
		return &executor.Result{
			Status:   executor.StatusNotRun,
			Duration: time.Since(start),
			Message:  "the code did not run: the kernel never got it (it was lost on the way, e.g. during a restart of the kernel); it can be sent again",
		}, fmt.Errorf("kernel %s at %s: %w", k.ID(), k.c.URL(), executor.ErrNotDelivered)
	}
	res := col.Result()
	res.Duration = time.Since(start)
	if ex.count > 0 {
		res.ExecutionCount = ex.count
	}
	if fault != nil {
		return k.faulted(res, fault)
	}
	if ex.replyErr != nil && res.Status != executor.StatusError {
		res.Status = executor.StatusError
		res.Error = ex.replyErr
	}
	if lang == executor.Shell {
		shellError(res)
	}
	switch {
	case lost != nil:
		k.log.Debug("execution output lost", "kernel", k.ID(), "err", lost)
		res.Truncated = true
		if res.Message == "" {
			res.Message = "the code ran once, but its output was lost on the way from the kernel (right after a restart of the kernel?): what it printed or displayed may be missing; it was not run again"
		}
		return res, fmt.Errorf("kernel %s at %s: %w", k.ID(), k.c.URL(), lost)
	case !ex.started:
		// The kernel's first messages for this request never came (a
		// server can drop them right after a restart): output may be
		// missing too.
		res.Truncated = true
		if res.Message == "" {
			res.Message = "the kernel's first messages for this execution were lost on the way (it ran right after a restart?): its output may be incomplete"
		}
	}
	return res, nil
}

// resetTimer re-arms t to fire after d.
func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// sendProbe sends a kernel_info_request whose replies come to the
// execution's inbox (see quietLimit).
func (k *Kernel) sendProbe(ctx context.Context, ex *execution) error {
	m := newMessage(k.conn.session, "shell", "kernel_info_request", map[string]any{})
	k.conn.registerInto(m.Header.MsgID, ex.box)
	ex.probe = m.Header.MsgID
	ex.unregister = func() { k.conn.unregister(m.Header.MsgID) }
	k.log.Debug("execution silent; probing the kernel", "kernel", k.ID(), "replied", ex.replied, "started", ex.started)
	return k.conn.send(context.WithoutCancel(ctx), m)
}

// execution tracks one execute_request.
type execution struct {
	k       *Kernel
	col     *executor.Collector
	pending []executor.Output // collected, not yet yielded
	// started: the busy status or execute_input of this request arrived;
	// output: an output did.
	started, output bool
	session         string // the kernel's session id, from its messages
	box             *inbox
	idle            bool
	replied         bool
	count           int
	replyErr        *executor.Output
	// probe is the msg_id of a kernel_info_request sent because the
	// execution went silent (see quietLimit); probeReplied and probeIOPub
	// record its reply and its statuses.
	probe                    string
	probeReplied, probeIOPub bool
	unregister               func() // stops routing the probe's messages
}

// finished reports that the kernel is done with the request: idle, and the
// reply arrived.
func (e *execution) finished() bool { return e.idle && e.replied }

// verdict tells from the probe's answers that a part of the execution was
// lost: ErrNotDelivered when the kernel never got it, ErrOutputLost when it
// ran and some of its messages will never come. nil means keep waiting.
func (e *execution) verdict() error {
	switch {
	case e.probe == "" || e.finished():
		return nil
	case !e.replied && e.probeReplied:
		// Shell is in order: the kernel answered a later request, so it
		// never got this one, or its reply was lost.
		if e.idle {
			// It ran to the end and its output came: only the reply
			// is missing.
			e.replied = true
			return nil
		}
		if e.started || e.output {
			return executor.ErrOutputLost // it ran: its reply was lost
		}
		return executor.ErrNotDelivered
	case e.replied && !e.idle && e.probeIOPub:
		// Iopub is in order: the probe's status came, so this
		// execution's idle status (and maybe its output) never will.
		return executor.ErrOutputLost
	}
	return nil
}

// verdictNoIOPub is the verdict when the probe was answered on shell but
// nothing came on iopub.
func (e *execution) verdictNoIOPub() error {
	if v := e.verdict(); v != nil {
		return v
	}
	return executor.ErrOutputLost // the reply came, its idle status did not
}

// flush yields the outputs collected so far; false means the consumer
// stopped.
func (e *execution) flush(emit func(executor.Output) bool) bool {
	outs := e.pending
	e.pending = e.pending[:0]
	for _, o := range outs {
		if !emit(o) {
			return false
		}
	}
	return true
}

// drain handles the queued items; it returns a fault that ends the wait.
func (e *execution) drain() error {
	for _, it := range e.box.take() {
		if errors.Is(it.err, errKernelShutdown) {
			if e.started || e.output {
				// It was running in the process that is going away.
				return it.err
			}
			// Not started: it went to the old process, which drops it
			// (the probe tells), or it reaches the new one and runs.
			if e.k != nil {
				e.k.noteEvent(it.err)
			}
			continue
		}
		if it.err != nil {
			return it.err
		}
		e.handle(it.msg)
	}
	return nil
}

func (e *execution) handle(m *message) {
	if s := m.Header.Session; s != "" && s != e.session {
		e.session = s
		if e.k != nil {
			e.k.noteSession(s)
		}
	}
	c := &m.Content
	if e.probe != "" && m.ParentHeader.MsgID == e.probe {
		switch {
		case m.Header.MsgType == "kernel_info_reply":
			e.probeReplied = true
		case m.Header.MsgType == "status" && m.Channel == "iopub":
			e.probeIOPub = true
		}
		return
	}
	switch m.Header.MsgType {
	case "status":
		switch c.ExecutionState {
		case "idle":
			e.idle = true
		case "busy":
			e.started = true
		}
	case "execute_input":
		e.started = true
		if c.ExecutionCount > 0 {
			e.count = c.ExecutionCount
		}
	case "stream":
		e.output = true
		e.col.StreamCut(c.Name, c.Text)
	case "execute_result":
		e.output = true
		e.col.Rich(executor.OutputExecuteResult, display(c, c.ExecutionCount))
	case "display_data":
		e.output = true
		e.col.Rich(executor.OutputDisplayData, display(c, 0))
	case "update_display_data":
		e.output = true
		e.col.UpdateDisplay(display(c, 0))
	case "clear_output":
		e.col.Clear(c.Wait)
	case "error":
		e.output = true
		e.col.Error(c.EName, c.EValue, c.Traceback)
	case "execute_reply":
		e.replied = true
		if c.ExecutionCount > 0 {
			e.count = c.ExecutionCount
		}
		e.col.SetExecutionCount(c.ExecutionCount)
		if c.Status == "error" || c.Status == "aborted" {
			name, value := c.EName, c.EValue
			if c.Status == "aborted" && name == "" {
				name, value = "ExecutionAborted", "the kernel aborted this execution (an earlier one failed)"
			}
			e.replyErr = &executor.Output{Type: executor.OutputError, EName: name, EValue: executor.StripANSI(value)}
		}
	}
}

func display(c *content, count int) executor.Display {
	return executor.Display{Data: c.Data, Metadata: c.Metadata, DisplayID: c.DisplayID, ExecutionCount: count, Omitted: c.Omitted}
}

// stop interrupts a running execution after a timeout or cancellation; if
// the kernel does not become idle within the grace period it is restarted.
func (k *Kernel) stop(ex *execution, cause error, status executor.Status, what string) (*executor.Result, error) {
	grace := k.cfg.InterruptGrace
	bg := context.Background()
	ictx, cancel := context.WithTimeout(bg, grace+10*time.Second)
	ierr := k.c.InterruptKernel(ictx, k.ID())
	cancel()
	var fault error
	if ierr == nil {
		t := time.NewTimer(grace)
	wait:
		for !ex.finished() {
			select {
			case <-ex.box.notify:
				if fault = ex.drain(); fault != nil {
					break wait
				}
			case <-t.C:
				break wait
			}
		}
		t.Stop()
	} else {
		k.log.Debug("interrupt failed", "kernel", k.ID(), "err", ierr)
	}
	res := ex.col.Result()
	res.Status = status
	if ex.count > 0 {
		res.ExecutionCount = ex.count
	}
	res.Interrupted = ierr == nil
	if fault != nil {
		r, err := k.faulted(res, fault)
		r.Status = status
		return r, fmt.Errorf("%w (%w)", cause, err)
	}
	if ex.finished() || ex.replied {
		// Done with the request (its idle status may have been lost).
		res.Message = what + "; kernel interrupted, state kept"
		return res, cause
	}
	// Still busy: restart.
	rctx, rcancel := context.WithTimeout(bg, k.cfg.StartTimeout)
	rerr := k.c.RestartKernel(rctx, k.ID())
	rcancel()
	res.StateLost = true
	if rerr != nil {
		k.log.Debug("restart after interrupt failed", "kernel", k.ID(), "err", rerr)
		k.dead = true
		res.Message = what + "; the kernel did not stop and could not be restarted, state lost"
		return res, cause
	}
	res.Restarted = true
	k.redial = true
	k.needSetup = true
	k.kernelSession = ""
	res.Message = what + "; the kernel did not stop when interrupted and was restarted, state lost"
	return res, cause
}

// faulted turns a kernel-level fault seen during an execution into a result
// and error.
func (k *Kernel) faulted(res *executor.Result, fault error) (*executor.Result, error) {
	res.StateLost = true
	res.Status = executor.StatusKernelDied
	switch {
	case errors.Is(fault, errKernelRestarted):
		// The server restarted the same kernel: it is usable once ready.
		k.redial = true
		k.kernelSession = ""
		res.Restarted = true
		res.Message = "the kernel died (its process exited or was killed) and was restarted; all variables and imports are lost"
	case errors.Is(fault, errKernelShutdown):
		k.redial = true
		k.needSetup = true
		k.kernelSession = ""
		res.Restarted = true
		res.Message = "the kernel was restarted or shut down from outside (through the server) while this ran: it was stopped, and all variables and imports are lost"
	case errors.Is(fault, errKernelDead):
		k.dead = true
		res.Message = "the kernel died and is gone; all variables and imports are lost"
	default: // connection lost for good
		k.dead = k.kernelGone()
		if !k.dead {
			res.Status = executor.StatusError
			res.StateLost = false
			res.Message = "lost the connection to the kernel; the outcome of this execution is unknown"
			return res, fmt.Errorf("kernel %s at %s: %w", k.ID(), k.c.URL(), fault)
		}
		res.Message = "the kernel is gone (shut down or culled); all variables and imports are lost"
	}
	k.stateLost = true
	return res, fmt.Errorf("%w: kernel %s: %v", executor.ErrKernelDied, k.ID(), fault)
}

// kernelGone asks the server whether the kernel still exists.
func (k *Kernel) kernelGone() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := k.c.GetKernel(ctx, k.ID())
	return errors.Is(err, ErrKernelNotFound)
}

var calledProcessRE = regexp.MustCompile(`returned non-zero exit status (-?\d+)`)

// shellError makes a failed %%bash cell read as a shell failure rather than a
// Python traceback that repeats the script.
func shellError(res *executor.Result) {
	if res.Error == nil || res.Error.EName != "CalledProcessError" {
		return
	}
	status := "non-zero"
	if m := calledProcessRE.FindStringSubmatch(res.Error.EValue); m != nil {
		status = m[1]
	}
	e := executor.Output{Type: executor.OutputError, EName: "ShellError", EValue: "command exited with status " + status}
	if n, err := strconv.Atoi(status); err == nil && n < 0 {
		e.EValue = fmt.Sprintf("command killed by signal %d", -n)
	}
	res.Error = &e
	for i := range res.Outputs {
		if res.Outputs[i].Type == executor.OutputError && res.Outputs[i].EName == "CalledProcessError" {
			res.Outputs[i] = e
		}
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Interrupt interrupts whatever the kernel is running.
func (k *Kernel) Interrupt(ctx context.Context) error {
	return k.c.InterruptKernel(ctx, k.ID())
}

// Restart discards all kernel state: the kernel is restarted (or replaced,
// when it is gone and was started here).
func (k *Kernel) Restart(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return executor.ErrClosed
	}
	if !k.dead {
		rctx, cancel := context.WithTimeout(ctx, k.cfg.StartTimeout)
		err := k.c.RestartKernel(rctx, k.ID())
		cancel()
		switch {
		case err == nil:
			k.redial = true
			k.needSetup = true
			k.stateLost = false
			k.kernelSession = ""
			if k.conn != nil {
				k.conn.takeEvent()
			}
			_, err = k.ensureReady(ctx)
			return err
		case errors.Is(err, ErrKernelNotFound):
			k.dead = true
		default:
			return fmt.Errorf("restart kernel: %w", err)
		}
	}
	_, err := k.ensureReady(ctx)
	k.stateLost = false
	return err
}

// Shutdown asks a kernel started here to exit, over its websocket rather
// than through the server: an interrupt_request and a shutdown_request on
// the control channel, as the server's DELETE sends them. It returns once
// the kernel has replied; the kernel then exits by itself, and a normal
// exit finishes what the code left (open files are flushed, atexit
// handlers run). The server is not told and keeps the kernel listed until
// it notices the process is gone: this is for a server that is ended right
// after (an embedded one), where a DELETE also waits out the server's
// polling of the kernel process (every 0.1 s).
//
// After a nil return the kernel is closed (Close does nothing more). On an
// error (no websocket, no reply within ctx) nothing is closed: Close still
// shuts the kernel down through the server.
func (k *Kernel) Shutdown(ctx context.Context) error {
	k.closeOnce.Do(func() { close(k.closing) })
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	if !k.owned {
		return errors.New("jupyter: the kernel was not started here")
	}
	if k.conn == nil || k.dead {
		return fmt.Errorf("jupyter: kernel %s: %w", k.ID(), errConnLost)
	}
	if err := k.conn.send(ctx, newMessage(k.conn.session, "control", "interrupt_request", map[string]any{})); err != nil {
		return fmt.Errorf("jupyter: interrupt kernel %s: %w", k.ID(), err)
	}
	m := newMessage(k.conn.session, "control", "shutdown_request", map[string]any{"restart": false})
	box := k.conn.register(m.Header.MsgID)
	defer k.conn.unregister(m.Header.MsgID)
	if err := k.conn.send(ctx, m); err != nil {
		return fmt.Errorf("jupyter: shut down kernel %s: %w", k.ID(), err)
	}
	for {
		select {
		case <-box.notify:
			for _, it := range box.take() {
				if it.err != nil {
					return fmt.Errorf("jupyter: shut down kernel %s: %w", k.ID(), it.err)
				}
				if it.msg.Header.MsgType == "shutdown_reply" {
					k.closed = true
					k.conn.close()
					k.conn = nil
					return nil
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("jupyter: no shutdown_reply from kernel %s: %w", k.ID(), ctx.Err())
		}
	}
}

// Close closes the websocket and shuts the kernel down if it was started
// here. It is safe to call more than once.
func (k *Kernel) Close(ctx context.Context) error {
	k.closeOnce.Do(func() { close(k.closing) })
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	if k.conn != nil {
		k.conn.close()
		k.conn = nil
	}
	if !k.owned {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := k.c.DeleteKernel(dctx, k.ID()); err != nil {
		return fmt.Errorf("shut down kernel %s: %w", k.ID(), err)
	}
	return nil
}
