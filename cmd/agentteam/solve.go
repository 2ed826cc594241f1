package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/mcp"
	"github.com/agentteam/agentteam/solve"
	"github.com/agentteam/agentteam/telemetry"
)

// solveOptions are the flags of `agentteam solve` that are not settings.
type solveOptions struct {
	Task       string
	Files      []string
	ConfigFile string
	JSON       bool
	Quiet      bool
	Verbose    bool
	// Trace is a file for the run's GenAI spans as JSON lines.
	Trace string
	// Interactive lets the planner and the coder ask the person at the
	// terminal; Approve asks before each code block runs. Both read Stdin.
	Interactive bool
	Approve     bool
	Stdin       io.Reader
}

// solveFlagKeys binds settings to flags of the same meaning.
var solveFlagKeys = map[string]string{
	"model.name":           "model",
	"model.base_url":       "base-url",
	"model.api_key_env":    "api-key-env",
	"model.context_window": "context-window",
	"model.vision":         "vision",
	"jupyter.url":          "jupyter-url",
	"jupyter.token":        "token",
	"jupyter.kernel":       "kernel",
	"jupyter.keep_remote":  "keep-remote",
	"team.max_turns":       "max-turns",
	"team.timeout":         "timeout",
	"output.dir":           "out",
	"sandbox.network":      "allow-network",
	"model.tool_calls":     "tool-calls",
}

func newSolveCmd() *cobra.Command {
	var o solveOptions
	var noSandbox bool
	cmd := &cobra.Command{
		Use:   "solve TASK",
		Short: "Solve a task with a planner, a coder and a code executor on a Jupyter kernel",
		Long: `Solve a task: a planner plans, a coder writes Python, a code executor runs it in a
stateful Jupyter kernel, and the loop goes on until the coder's final answer
says TERMINATE (or --max-turns, or --timeout).

Files named in the task that exist here, and every --file, are copied into the
kernel's working directory under the same relative name and inspected before
planning. Outputs go to --out (default ./agentteam-out/<timestamp>/):
notebook.ipynb, report.md, transcript.jsonl and files/.

Exit status: 0 when the task finished; 1 when it stopped early (max turns,
timeout) or on model or kernel errors; 2 for bad usage or configuration;
130/143 when interrupted by SIGINT/SIGTERM (outputs are written first).`,
		Example: `  agentteam solve "Clean examples/messy/sales.csv and plot revenue by region"
  agentteam solve "Which product sells best?" --file sales.csv --model gpt-4o-mini
  agentteam solve "Summarise data.csv" --base-url http://127.0.0.1:11434/v1 --model llama3.1
  agentteam solve "Clean examples/messy/sales.csv" --model replay:examples/messy/replay.md
  agentteam solve "Fit a model to data.csv" --jupyter-url http://jupyter:8888 --token "$JUPYTER_TOKEN"`,
		Args: taskArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Task = args[0]
			s, err := runSettings(cmd, o.ConfigFile, solveFlagKeys, noSandbox)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			o.Stdin = cmd.InOrStdin()
			return runSolve(ctx, &o, s, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Files, "file", nil, "an input file to copy into the kernel's working directory (repeatable)")
	f.String("model", "", "model name, or replay:FILE to replay recorded answers")
	f.String("base-url", "", "OpenAI-compatible API base URL (e.g. http://127.0.0.1:11434/v1)")
	f.String("api-key-env", "", "environment variable holding the API key (default AGENTTEAM_API_KEY, then OPENAI_API_KEY)")
	f.Int("context-window", 0, "the model's context window in tokens; requests are fitted to it (default: ask the endpoint)")
	f.Bool("vision", false, "send the figures each step draws to the model (for models that see images)")
	f.String("jupyter-url", "", "Jupyter Server or Kernel Gateway URL; empty starts an embedded sandboxed server")
	f.String("token", "", "Jupyter token")
	f.String("kernel", "", "kernel spec name (default python3)")
	f.Bool("keep-remote", false, "keep the run's directory (agentteam/<run id>) on a remote server")
	f.Int("max-turns", 0, "stop after this many agent turns (default 30)")
	f.Duration("timeout", 0, "stop the whole run after this long (default 30m)")
	f.String("out", "", "output directory (default ./agentteam-out/<timestamp>)")
	f.StringVar(&o.ConfigFile, "config", "", "config file (default $AGENTTEAM_CONFIG, then the user config dir; ./agentteam.yaml only when named)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON event per line")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only the final answer")
	f.BoolVar(&o.Verbose, "verbose", false, "log HTTP and websocket detail to stderr (never secrets)")
	f.BoolVar(&noSandbox, "no-sandbox", false, "run the embedded server's kernels unsandboxed")
	f.Bool("allow-network", false, "let sandboxed kernels use the network")
	f.Bool("tool-calls", false, "the coder calls run_python/run_shell tools instead of writing code blocks (models with tool calling)")
	f.StringVar(&o.Trace, "trace", "", "write OpenTelemetry GenAI spans to this file as JSON lines (OTLP too when OTEL_EXPORTER_OTLP_* is set)")
	f.BoolVar(&o.Interactive, "interactive", false, "let the planner and the coder ask you questions at the terminal")
	f.BoolVar(&o.Approve, "approve", false, "ask before each code block runs; a refusal and its reason go back to the coder")
	f.Bool("sandbox-enabled", true, "")
	_ = f.MarkHidden("sandbox-enabled")
	return cmd
}

func withKey(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// taskFiles finds the local files a task names (tokens that are existing
// relative paths) plus the --file ones, each named by its clean relative
// path in the kernel's directory.
func taskFiles(task string, extra []string) ([]solve.File, error) {
	seen := map[string]bool{}
	var files []solve.File
	add := func(p string, must bool) error {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			if must {
				return usageErrorf("--file %s: no such file", p)
			}
			return nil
		}
		rel := p
		if filepath.IsAbs(p) {
			rel = filepath.Base(p)
		}
		rel = filepath.ToSlash(filepath.Clean(rel))
		if strings.HasPrefix(rel, "../") {
			rel = filepath.Base(p)
		}
		if !seen[rel] {
			seen[rel] = true
			files = append(files, solve.File{Name: rel, Path: p})
		}
		return nil
	}
	for _, tok := range strings.Fields(task) {
		tok = strings.Trim(tok, "\"'`,;:()[]{}<>!?")
		tok = strings.TrimSuffix(tok, ".")
		if tok == "" || strings.Contains(tok, "://") {
			continue
		}
		_ = add(tok, false)
	}
	for _, p := range extra {
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func runSolve(ctx context.Context, o *solveOptions, s *Settings, stdout, stderr io.Writer) error {
	ep, err := resolveEndpoint(s)
	if err != nil {
		return err
	}
	red := newRedactor(s, ep)
	logger := newLogger(stderr, o.Verbose, red)

	model, err := newModel(ctx, s, ep, logger, red)
	if err != nil {
		return err
	}
	replay := ep.Replay != ""

	files, err := taskFiles(o.Task, o.Files)
	if err != nil {
		return err
	}

	outDir := s.Output.Dir
	if outDir == "" {
		outDir = filepath.Join("agentteam-out", time.Now().Format("20060102-150405"))
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return err
	}
	if err := checkOutDir(outDir); err != nil {
		return err
	}
	// Tracing: a JSON-lines file with --trace, OTLP when the environment
	// asks for it. Contents only with the GenAI opt-in variable.
	tp, shutdownTrace, err := telemetry.NewProvider(ctx, telemetry.ProviderConfig{File: o.Trace, OTLP: telemetry.OTLPFromEnv(), Version: version})
	if err != nil {
		return usageErrorf("--trace: %s", red.String(err.Error()))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = shutdownTrace(sctx)
	}()
	var tracer *telemetry.Tracer
	if tp != nil {
		tracer = telemetry.New(tp, telemetry.Options{CaptureContent: telemetry.CaptureContentFromEnv(), Redact: red.String})
	}

	// Tools of MCP servers.
	var tools []agents.Tool
	if len(s.MCP.Servers) > 0 {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ts, err := mcp.Open(mctx, s.MCP.Servers)
		cancel()
		if err != nil {
			return errors.New(oneLineText(red.String(err.Error())))
		}
		defer ts.Close()
		tools = ts.Tools
	}

	ui := newTerminal(stdout, stderr, o.JSON, o.Quiet, red)
	var input agents.InputFunc
	var approve agents.ApprovalFunc
	if o.Interactive || o.Approve {
		in := o.Stdin
		if in == nil {
			in = os.Stdin
		}
		lr := newLineReader(in)
		if o.Interactive {
			input = inputFunc(ui, lr)
		}
		if o.Approve {
			approve = approveFunc(ui, lr)
		}
	}

	cfg, err := solveConfig(s, model, red, logger)
	if err != nil {
		return err
	}
	cfg.OutDir = outDir
	cfg.Tools, cfg.Tracer, cfg.Input, cfg.Approve = tools, tracer, input, approve
	windowNote := discoverWindow(ctx, model, &cfg)
	runner, err := solve.New(cfg)
	if err != nil {
		return err
	}

	if !s.Sandbox.Enabled && s.Jupyter.URL == "" {
		// On stderr, whatever the mode (-q and --json too).
		fmt.Fprintln(ui.err, "agentteam: WARNING: the kernel runs without the sandbox (--no-sandbox, sandbox.enabled: false or AGENTTEAM_SANDBOX_ENABLED=false): code the model writes, or a data file talks it into, runs with your user's full access to this machine.")
		_ = ui.errw.Flush()
	}
	if replay {
		ui.event(solve.Event{Type: solve.EventNote, Text: "replay: answers come from the recorded session " + ep.Replay + ", not from a model"})
	}
	if o.Verbose && windowNote != "" {
		ui.event(solve.Event{Type: solve.EventNote, Text: windowNote})
	}
	var sum *solve.Summary
	var runErr error
	for ev, err := range runner.Run(ctx, solve.Task{Text: o.Task, Files: files}) {
		if err != nil {
			runErr = err
			break
		}
		if ev.Type == solve.EventSummary {
			sum = ev.Summary
		}
		ui.event(ev)
	}
	ui.done()

	switch {
	case ctx.Err() != nil:
		return interrupted(ctx)
	case sum == nil && runErr != nil:
		return errors.New(oneLineText(red.String(sandboxHint(runErr, settingsKnobs).Error())))
	case sum == nil:
		return errors.New("the run ended without a summary")
	case sum.Cause == solve.ModelError || sum.Cause == solve.KernelError:
		return errors.New(oneLineText(sum.Reason + sandboxHintText(sum.Err, settingsKnobs)))
	case !sum.Finished():
		return &exitError{code: 1, err: fmt.Errorf("the task did not finish: %s (outputs in %s)", sum.Reason, sum.OutputDir)}
	}
	return nil
}

func oneLineText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
