package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/notebook"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/redact"
)

// execOptions are the flags of `agentteam exec`.
type execOptions struct {
	URL          string
	Token        string
	Kernel       string
	Timeout      time.Duration
	StartTimeout time.Duration
	AllowErrors  bool
	Out          string
	OutputDir    string
	JSON         bool
	Verbose      bool
	Code         string
	CodeSet      bool
	NoSandbox    bool
	AllowNetwork bool
	Disk         string // the sandbox's disk limit, a size or "none"
	Memory       string // the sandbox's memory limit, a size or "none"
	Processes    int    // the sandbox's process limit; -1: none
	WorkDir      string
	NoQuickAck   bool
	MaxOutput    string // text kept per output, a size; "0": all
	MaxMime      string // each non-text display value, a size; "0": all
	Input        string // file path or "-"
}

func newExecCmd() *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [flags] (-c CODE | FILE.py | FILE.ipynb | -)",
		Short: "Run Python code, a script or a notebook in a Jupyter kernel",
		Long: `Run code in a stateful Jupyter kernel and print its outputs as they arrive.

A .py file runs as one cell, or cell by cell when it has "# %%" markers; a
notebook runs every code cell in order in one kernel and is written back with
its outputs (to --out, else in place). Without --jupyter-url (or
AGENTTEAM_JUPYTER_URL) an embedded, sandboxed jupyter-server is started in
--workdir and shut down on exit.

Exit status: 0 when every cell ran, 1 when a cell raised, 124 when a cell
timed out, 2 for bad usage, 130/143 when interrupted by SIGINT/SIGTERM.
With --allow-errors every cell runs and the exit status is 0 unless a cell
timed out.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.CodeSet = cmd.Flags().Changed("code")
			if len(args) == 1 {
				o.Input = args[0]
			}
			if o.URL == "" {
				o.URL = os.Getenv(session.EnvURL)
			}
			if o.Token == "" {
				o.Token = os.Getenv(session.EnvToken)
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runExec(ctx, &o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Code, "code", "c", "", "code to run")
	f.StringVar(&o.URL, "jupyter-url", "", "Jupyter Server or Kernel Gateway URL (env AGENTTEAM_JUPYTER_URL); empty starts an embedded server")
	f.StringVar(&o.Token, "token", "", "Jupyter token (env AGENTTEAM_JUPYTER_TOKEN)")
	f.StringVar(&o.Kernel, "kernel", "python3", "kernel spec name")
	f.DurationVar(&o.Timeout, "timeout", 60*time.Second, "per-cell timeout (the kernel is interrupted, then restarted)")
	f.DurationVar(&o.StartTimeout, "start-timeout", 60*time.Second, "how long to wait for the server and kernel to start")
	f.BoolVar(&o.AllowErrors, "allow-errors", false, "keep running cells after one raises")
	f.StringVar(&o.Out, "out", "", "where to write the executed notebook (default: in place)")
	f.StringVar(&o.OutputDir, "output-dir", "", "save images and html from outputs into this directory")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per line")
	f.BoolVar(&o.Verbose, "verbose", false, "log HTTP and websocket detail to stderr (never secrets)")
	f.BoolVar(&o.NoSandbox, "no-sandbox", false, "run the embedded server's kernels unsandboxed")
	f.BoolVar(&o.AllowNetwork, "allow-network", false, "let sandboxed kernels use the network")
	f.StringVar(&o.Disk, "disk", "10GiB", "the most sandboxed kernels may add to the work directory (a size, or none)")
	f.StringVar(&o.Memory, "memory", "4GiB", "memory limit of a sandboxed kernel (a size, or none)")
	f.IntVar(&o.Processes, "processes", 512, "process limit of a sandboxed kernel (-1: none)")
	f.StringVar(&o.WorkDir, "workdir", "", "the embedded server's working directory (default: current directory)")
	f.BoolVar(&o.NoQuickAck, "no-quickack", false, "turn off the websocket latency fix (for comparison)")
	f.StringVar(&o.MaxOutput, "max-output", "64KiB", "text kept per output, head and tail (a size; 0: all of it)")
	f.StringVar(&o.MaxMime, "max-mime", "10MiB", "largest image, html or other non-text display value kept; bigger ones are dropped with a note (a size; 0: no bound)")
	_ = f.MarkHidden("no-quickack")
	return cmd
}

// execCell is one unit of work: a notebook cell or a chunk of a script.
type execCell struct {
	source string
	cell   *notebook.Cell // nil for scripts
}

var cellMarker = regexp.MustCompile(`(?m)^# ?%%.*$`)

// splitScript splits a script at "# %%" markers.
func splitScript(src string) []string {
	locs := cellMarker.FindAllStringIndex(src, -1)
	if len(locs) == 0 {
		return []string{src}
	}
	var cells []string
	prev := 0
	for _, l := range locs {
		if c := strings.TrimSpace(src[prev:l[0]]); c != "" {
			cells = append(cells, strings.TrimRight(src[prev:l[0]], "\n "))
		}
		prev = l[1]
	}
	if c := strings.TrimSpace(src[prev:]); c != "" {
		cells = append(cells, strings.Trim(src[prev:], "\n"))
	}
	return cells
}

func runExec(ctx context.Context, o *execOptions, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	// The code may print a secret of this environment: nothing written to
	// the console, --json, the notebook or the error escapes the redactor.
	red := redact.FromEnv(os.Environ(), o.Token, urlToken(o.URL))
	ow, ew := red.Writer(stdout), red.Writer(stderr)
	stdout, stderr = ow, ew
	defer func() {
		_ = ow.Flush()
		_ = ew.Flush()
		if err != nil {
			if msg := red.String(err.Error()); msg != err.Error() {
				var ee *exitError
				if errors.As(err, &ee) {
					err = &exitError{code: ee.code, err: errors.New(msg)}
				} else {
					err = errors.New(msg)
				}
			}
		}
	}()
	if o.CodeSet == (o.Input != "") {
		return usageErrorf("give exactly one of -c CODE, a FILE (.py or .ipynb) or - for standard input")
	}
	maxOutput, err := outputCap(o.MaxOutput, "--max-output")
	if err != nil {
		return err
	}
	maxMime, err := outputCap(o.MaxMime, "--max-mime")
	if err != nil {
		return err
	}
	var cells []execCell
	var nb *notebook.Notebook
	var nbPath string
	switch {
	case o.CodeSet:
		cells = []execCell{{source: o.Code}}
	case o.Input == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		for _, c := range splitScript(string(b)) {
			cells = append(cells, execCell{source: c})
		}
	case strings.HasSuffix(o.Input, ".ipynb"):
		var err error
		nb, err = notebook.ReadFile(o.Input)
		if err != nil {
			return usageErrorf("%v", err)
		}
		nbPath = o.Input
		if o.Out != "" {
			nbPath = o.Out
		}
		for _, c := range nb.CodeCells() {
			cells = append(cells, execCell{source: c.Source, cell: c})
		}
	default:
		b, err := os.ReadFile(o.Input)
		if err != nil {
			return usageErrorf("%v", err)
		}
		for _, c := range splitScript(string(b)) {
			cells = append(cells, execCell{source: c})
		}
	}
	if o.Timeout < 0 || o.StartTimeout < 0 {
		return usageErrorf("timeouts must not be negative")
	}
	memory, err := parseMemory(o.Memory)
	if err != nil {
		return usageErrorf("--memory: %v", err)
	}
	if o.Processes < -1 {
		return usageErrorf("--processes: %d is not a count, or -1 for no limit", o.Processes)
	}
	disk, err := parseDisk(o.Disk)
	if err != nil {
		return usageErrorf("--disk: %v", err)
	}

	logger := newLogger(stderr, o.Verbose, red)
	outDir := o.OutputDir
	if outDir != "" {
		if abs, err := filepath.Abs(outDir); err == nil {
			outDir = abs
		}
	}
	workDir := o.WorkDir
	if workDir == "" && o.URL == "" {
		// exec runs in the current directory, as a script would.
		workDir, _ = os.Getwd()
	}
	sess, err := session.Open(ctx, session.Config{
		URL:             o.URL,
		Token:           o.Token,
		KernelName:      o.Kernel,
		WorkDir:         workDir,
		Timeout:         o.Timeout,
		StartTimeout:    o.StartTimeout,
		OutputDir:       outDir,
		ScrubFiles:      red.Bytes,
		Sandbox:         local.SandboxConfig{Disabled: o.NoSandbox, Network: o.AllowNetwork, Disk: disk, Memory: memory, Processes: o.Processes},
		DisableQuickAck: o.NoQuickAck,
		MaxOutputBytes:  int(min(maxOutput, math.MaxInt)),
		MaxMimeBytes:    maxMime,
		Logger:          logger,
	})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		return redactErr(sandboxHint(err, execKnobs), o.Token)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	if srv := sess.Server(); srv != nil {
		red.Add(srv.Token())
		if notes := srv.LimitNotes(); len(notes) > 0 {
			fmt.Fprintln(stderr, "agentteam: note: "+limitNotesLine(srv.LimitSummary()))
			logger.Debug("sandbox limits", "notes", strings.Join(notes, "; "))
		}
	}

	enc := json.NewEncoder(stdout)
	lines := map[string]*lineBuffer{}
	var firstFailure error
	timedOut := false
	for i, c := range cells {
		if strings.TrimSpace(c.source) == "" {
			continue
		}
		idx := i
		req := executor.Request{Code: c.source, Timeout: o.Timeout}
		res, err := executor.Collect(sess.Run(ctx, req), func(out executor.Output) {
			if o.JSON {
				_ = enc.Encode(map[string]any{"event": "output", "cell": idx, "output": out})
				return
			}
			printOutput(stdout, stderr, out, lines)
		})
		flushLines(stdout, stderr, lines)
		if c.cell != nil {
			c.cell.SetResult(redactResult(red, res))
		}
		if o.JSON && res != nil {
			_ = enc.Encode(map[string]any{"event": "result", "cell": idx, "status": res.Status,
				"execution_count": res.ExecutionCount, "duration_ms": res.Duration.Milliseconds(),
				"files": res.Files, "message": res.Message})
		}
		if ctx.Err() != nil {
			if nb != nil {
				_ = notebook.WriteFile(nbPath, nb)
			}
			return interrupted(ctx)
		}
		var cellErr error
		switch {
		case errors.Is(err, executor.ErrTimeout):
			timedOut = true
			cellErr = &exitError{code: 124, err: fmt.Errorf("cell %d: %s", idx+1, res.Message)}
		case err != nil:
			cellErr = fmt.Errorf("cell %d: %w", idx+1, redactErr(err, o.Token))
		case res.Status == executor.StatusError && res.Error != nil:
			cellErr = fmt.Errorf("cell %d raised %s: %s", idx+1, res.Error.EName, res.Error.EValue)
		case res.Status != executor.StatusOK:
			cellErr = fmt.Errorf("cell %d: %s", idx+1, res.Status)
		}
		if cellErr == nil {
			continue
		}
		if firstFailure == nil {
			firstFailure = cellErr
		}
		if !o.AllowErrors {
			break
		}
		if !o.JSON {
			fmt.Fprintf(stderr, "agentteam: %v (continuing: --allow-errors)\n", cellErr)
		}
	}
	if nb != nil {
		if err := notebook.WriteFile(nbPath, nb); err != nil {
			return fmt.Errorf("write notebook: %w", err)
		}
		if !o.JSON {
			logger.Info("wrote executed notebook", "path", nbPath)
		}
	}
	if firstFailure != nil && (!o.AllowErrors || timedOut) {
		return firstFailure
	}
	return nil
}

// printOutput prints one output for a person: text to stdout, errors and
// stderr to stderr, rich outputs as their text or the file they were saved
// to.
//
// Kernel output is untrusted: every control sequence in it is made visible
// (sanitizeText), and stream lines are printed when they end, so that a
// progress bar drawn with carriage returns shows its last state.
func printOutput(stdout, stderr io.Writer, out executor.Output, lines map[string]*lineBuffer) {
	switch out.Type {
	case executor.OutputStream:
		lb := lines[out.Name]
		if lb == nil {
			lb = &lineBuffer{}
			lines[out.Name] = lb
		}
		w := stdout
		if out.Name == "stderr" {
			w = stderr
		}
		io.WriteString(w, sanitizeText(lb.add(out.Text)))
	case executor.OutputError:
		flushLines(stdout, stderr, lines)
		io.WriteString(stderr, sanitizeText(executor.OutputText(out)))
	case executor.OutputExecuteResult, executor.OutputDisplayData:
		flushLines(stdout, stderr, lines)
		io.WriteString(stdout, sanitizeText(executor.OutputText(out)))
	}
}

// flushLines prints unfinished stream lines, each ended.
func flushLines(stdout, stderr io.Writer, lines map[string]*lineBuffer) {
	for name, lb := range lines {
		if rest := lb.flush(); rest != "" {
			w := stdout
			if name == "stderr" {
				w = stderr
			}
			io.WriteString(w, sanitizeText(rest)+"\n")
		}
	}
}

// redactResult is a copy of r with the secrets red knows removed from every
// text the kernel sent (images included: their base64 is searched too).
func redactResult(red *redact.Redactor, r *executor.Result) *executor.Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Message = red.String(r.Message)
	c.Outputs = make([]executor.Output, len(r.Outputs))
	for i, o := range r.Outputs {
		c.Outputs[i] = redactOutput(red, o)
	}
	if r.Error != nil {
		e := redactOutput(red, *r.Error)
		c.Error = &e
	}
	return &c
}

func redactOutput(red *redact.Redactor, o executor.Output) executor.Output {
	o.Text = red.String(o.Text)
	o.EValue = red.String(o.EValue)
	if len(o.Traceback) > 0 {
		tb := make([]string, len(o.Traceback))
		for i, l := range o.Traceback {
			tb[i] = red.String(l)
		}
		o.Traceback = tb
	}
	if len(o.Data) > 0 {
		d := make(map[string]any, len(o.Data))
		for k, v := range o.Data {
			if s, ok := v.(string); ok {
				v = red.String(s)
			} else if b, err := json.Marshal(v); err == nil {
				if rb := red.Bytes(b); !bytes.Equal(rb, b) {
					var nv any
					if json.Unmarshal(rb, &nv) == nil {
						v = nv
					} else {
						v = string(rb)
					}
				}
			}
			d[k] = v
		}
		o.Data = d
	}
	return o
}

// outputCap parses a size flag of exec as session.Config takes it: zero
// (no bound) becomes negative.
func outputCap(v, flag string) (int64, error) {
	if v == "" {
		return 0, nil // the default
	}
	n, err := parseBytes(v)
	if err != nil {
		return 0, usageErrorf("%s: %v", flag, err)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}
