package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/agentteam/agentteam/eval"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/solve"
)

// evalOptions are the flags of `agentteam eval` that are not settings.
type evalOptions struct {
	Dir        string
	Jobs       int
	Limit      int
	IDs        string
	Level      string
	ConfigFile string
	JSON       bool
	Verbose    bool
}

func newEvalCmd() *cobra.Command {
	var o evalOptions
	var noSandbox bool
	cmd := &cobra.Command{
		Use:   "eval DIR",
		Short: "Measure how many questions of a suite (InfiAgent-DABench's format) the team answers right",
		Long: `Run every question of an eval suite through the same pipeline as
agentteam solve (planner, coder, code executor, sandboxed kernel), score the
@name[value] answers the way InfiAgent-DABench's closed-form scorer does, and
write summary.json, summary.md, results.jsonl, responses.jsonl (DABench's
response format) and each question's notebook, report and transcript under
--out (default ./agentteam-eval/<timestamp>/).

DIR holds a *questions*.jsonl, a *labels*.jsonl and a tables directory
(da-dev-tables/ or tables/). Running again with the same --out re-scores the
questions that finished and runs only the rest. Ctrl-C keeps what finished.

With --model replay:DIR, question N replays DIR/N.md (a recorded session);
no model is called.

Exit status: 0 when the eval ran, whatever the accuracy; 2 for bad usage;
130/143 when interrupted (finished questions are kept).`,
		Example: `  # the bundled suite, offline
  agentteam eval eval/starter --model replay:eval/starter/replay

  # InfiAgent-DABench's dev set against a model, 4 questions at a time
  agentteam eval InfiAgent/examples/DA-Agent/data --model gpt-4o-mini --jobs 4 --out runs/gpt4o-mini

  # only the hard questions, or a few by id
  agentteam eval eval/starter --level hard --model ...
  agentteam eval eval/starter --ids 0,5,9 --model ...`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageErrorf("eval needs the suite's directory, e.g. agentteam eval eval/starter --model replay:eval/starter/replay (see --help)")
			case len(args) > 1:
				return usageErrorf("eval takes one suite directory, got %d arguments (see --help)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			s, err := runSettings(cmd, o.ConfigFile, solveFlagKeys, noSandbox)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runEval(ctx, &o, s, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Jobs, "jobs", 0, "questions solved at once, one kernel each (default: the number of CPUs, at most 4)")
	f.IntVar(&o.Limit, "limit", 0, "run only the first N questions (after --ids and --level)")
	f.StringVar(&o.IDs, "ids", "", "run only these question ids, e.g. 0,5,9")
	f.StringVar(&o.Level, "level", "", "run only questions of this level: easy, medium or hard")
	f.String("model", "", "model name, or replay:DIR to replay DIR/<id>.md for each question")
	f.String("base-url", "", "OpenAI-compatible API base URL (e.g. http://127.0.0.1:11434/v1)")
	f.String("api-key-env", "", "environment variable holding the API key (default AGENTTEAM_API_KEY, then OPENAI_API_KEY)")
	f.Int("context-window", 0, "the model's context window in tokens; requests are fitted to it (default: ask the endpoint)")
	f.Bool("vision", false, "send the figures each step draws to the model (for models that see images)")
	f.String("jupyter-url", "", "Jupyter Server or Kernel Gateway URL; empty starts an embedded sandboxed server per question")
	f.Bool("keep-remote", false, "keep each question's directory (agentteam/<run id>) on a remote server")
	f.String("token", "", "Jupyter token")
	f.String("kernel", "", "kernel spec name (default python3)")
	f.Int("max-turns", 0, "stop a question after this many agent turns (default 30)")
	f.Duration("timeout", 0, "stop a question after this long (default 30m)")
	f.String("out", "", "output directory; an existing one is resumed (default ./agentteam-eval/<timestamp>)")
	f.StringVar(&o.ConfigFile, "config", "", "config file (default $AGENTTEAM_CONFIG, then the user config dir; ./agentteam.yaml only when named)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON event per line")
	f.BoolVar(&o.Verbose, "verbose", false, "log HTTP and websocket detail to stderr (never secrets)")
	f.BoolVar(&noSandbox, "no-sandbox", false, "run the embedded server's kernels unsandboxed")
	f.Bool("allow-network", false, "let sandboxed kernels use the network")
	f.Bool("sandbox-enabled", true, "")
	_ = f.MarkHidden("sandbox-enabled")
	return cmd
}

func runEval(ctx context.Context, o *evalOptions, s *Settings, stdout, stderr io.Writer) error {
	suite, err := eval.Load(o.Dir)
	if err != nil {
		return usageErrorf("%v", err)
	}
	filter := eval.Filter{Limit: o.Limit}
	if o.Limit < 0 {
		return usageErrorf("--limit must be 0 (no limit) or more, got %d", o.Limit)
	}
	if o.IDs != "" {
		for _, part := range strings.Split(o.IDs, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return usageErrorf("--ids takes question ids separated by commas, e.g. --ids 0,5,9; %q is not one", part)
			}
			if _, ok := suite.Labels[id]; !ok {
				return usageErrorf("--ids: the suite has no question %d", id)
			}
			filter.IDs = append(filter.IDs, id)
		}
	}
	if o.Level != "" {
		switch strings.ToLower(o.Level) {
		case "easy", "medium", "hard":
			filter.Level = o.Level
		default:
			return usageErrorf("--level is easy, medium or hard, got %q", o.Level)
		}
	}
	qs := suite.Select(filter)
	if len(qs) == 0 {
		return usageErrorf("no question of %s matches --ids/--level", o.Dir)
	}
	jobs := o.Jobs
	if jobs < 0 {
		return usageErrorf("--jobs must be 1 or more, got %d", jobs)
	}
	if jobs == 0 {
		jobs = min(runtime.NumCPU(), 4)
	}

	ep, err := resolveEndpoint(s)
	if err != nil {
		return err
	}
	red := newRedactor(s, ep)
	logger := newLogger(stderr, o.Verbose, red)

	// The model: one client for every question, or a recorded session per
	// question from a replay directory.
	var shared llm.Client
	replayDir := ""
	modelName := ep.Model
	if ep.Replay != "" {
		modelName = "replay:" + ep.Replay
		if st, err := os.Stat(ep.Replay); err == nil && st.IsDir() {
			replayDir = ep.Replay
			var missing []string
			for _, q := range qs {
				if _, err := os.Stat(filepath.Join(replayDir, strconv.Itoa(q.ID)+".md")); err != nil {
					missing = append(missing, strconv.Itoa(q.ID))
				}
			}
			if len(missing) > 0 {
				return usageErrorf("replay directory %s has no recorded session for question %s (want <id>.md)", replayDir, strings.Join(missing, ", "))
			}
		}
	}
	if replayDir == "" {
		if shared, err = newModel(ctx, s, ep, logger, red); err != nil {
			return err
		}
		modelName = shared.ModelName()
	}
	base, err := solveConfig(s, shared, red, logger)
	if err != nil {
		return err
	}
	if shared != nil {
		if note := discoverWindow(ctx, shared, &base); note != "" && o.Verbose {
			fmt.Fprintln(stderr, "agentteam: "+note)
		}
	}
	if !s.Sandbox.Enabled && s.Jupyter.URL == "" {
		fmt.Fprintln(stderr, "agentteam: WARNING: the kernels run without the sandbox (--no-sandbox, sandbox.enabled: false or AGENTTEAM_SANDBOX_ENABLED=false): code the model writes, or a data file talks it into, runs with your user's full access to this machine.")
	}

	outDir := s.Output.Dir
	if outDir == "" {
		outDir = filepath.Join("agentteam-eval", time.Now().Format("20060102-150405"))
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return usageErrorf("--out: %v", err)
	}
	if err := checkOutDir(outDir); err != nil {
		return err
	}

	solveOne := func(ctx context.Context, q eval.Question, task, table, dir string) (eval.Attempt, error) {
		cfg := base
		// Each run adds its embedded server's token to a redactor of its own.
		cfg.Redactor = red.With()
		if replayDir != "" {
			r, err := llm.LoadReplay(filepath.Join(replayDir, strconv.Itoa(q.ID)+".md"))
			if err != nil {
				return eval.Attempt{}, err
			}
			cfg.Model = r
		}
		runner, err := solve.New(cfg)
		if err != nil {
			return eval.Attempt{}, err
		}
		var sum *solve.Summary
		var runErr error
		for ev, err := range runner.Run(ctx, solve.Task{Text: task, OutDir: dir, Files: []solve.File{{Name: q.FileName, Path: table}}}) {
			if err != nil {
				runErr = err
				break
			}
			if ev.Type == solve.EventSummary {
				sum = ev.Summary
			}
		}
		if sum == nil {
			if runErr == nil {
				runErr = errors.New("the run ended without a summary")
			}
			return eval.Attempt{}, runErr
		}
		a := eval.Attempt{Answer: sum.FinalAnswer, Stop: sum.Reason, Finished: sum.Finished(), Turns: sum.Turns}
		if sum.Usage != nil && ep.Replay == "" {
			// A replay's counts are words, not an endpoint's tokens.
			a.Usage = *sum.Usage
			a.Cost = sum.Cost
		}
		if sum.Cause == solve.ModelError || sum.Cause == solve.KernelError {
			return a, errors.New(sum.Reason)
		}
		return a, nil
	}

	ui := newEvalProgress(stdout, o.JSON, len(qs))
	ui.start(outDir, modelName, jobs)
	for ev, err := range eval.Run(ctx, eval.Config{Suite: suite, Questions: qs, Out: outDir, Jobs: jobs, Solve: solveOne, Model: modelName, Logger: logger}) {
		if err != nil {
			ui.finish()
			return err
		}
		ui.event(ev)
	}
	ui.finish()

	b, err := os.ReadFile(filepath.Join(outDir, eval.SummaryJSON))
	if err != nil {
		return fmt.Errorf("eval ran, but its summary is missing: %w", err)
	}
	var sum eval.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return fmt.Errorf("eval ran, but its summary is unreadable: %w", err)
	}
	ui.summary(sum, outDir)
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	return nil
}

// evalProgress shows an eval as it goes: a progress bar with the running
// accuracy on a terminal, a line per question otherwise, JSON events with
// --json.
type evalProgress struct {
	w     io.Writer
	json  bool
	tty   bool
	total int
	last  eval.Event
}

func newEvalProgress(w io.Writer, asJSON bool, total int) *evalProgress {
	p := &evalProgress{w: w, json: asJSON, total: total}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !asJSON {
		p.tty = true
	}
	return p
}

func (p *evalProgress) start(out, model string, jobs int) {
	if p.json {
		_ = json.NewEncoder(p.w).Encode(map[string]any{"type": "begin", "questions": p.total, "jobs": jobs, "model": model, "output_dir": out})
		return
	}
	fmt.Fprintf(p.w, "eval: %d questions, %d at a time, model %s\noutputs: %s\n", p.total, jobs, sanitizeLine(model), sanitizeLine(out))
}

func (p *evalProgress) event(ev eval.Event) {
	p.last = ev
	if p.json {
		_ = json.NewEncoder(p.w).Encode(ev)
		return
	}
	if ev.Type == "start" {
		if p.tty {
			p.bar()
		}
		return
	}
	if p.tty {
		p.bar()
		return
	}
	r := ev.Result
	verdict := "wrong"
	if r.Correct {
		verdict = "right"
	}
	line := fmt.Sprintf("question %d: %s", r.ID, verdict)
	if ev.Type == "resumed" {
		line += " (from the earlier run)"
	} else {
		line += fmt.Sprintf(" (%d turns, %.1f s)", r.Turns, r.Seconds)
	}
	if r.Error != "" {
		line += ": " + sanitizeLine(r.Error)
	}
	fmt.Fprintf(p.w, "%s  [%d/%d, accuracy %.1f%%]\n", line, ev.Done, ev.Total, ev.Accuracy*100)
}

func (p *evalProgress) bar() {
	const width = 30
	done := p.last.Done
	fill := 0
	if p.total > 0 {
		fill = done * width / p.total
	}
	fmt.Fprintf(p.w, "\r\x1b[2K[%s%s] %d/%d  accuracy %.1f%%", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, p.total, p.last.Accuracy*100)
}

func (p *evalProgress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *evalProgress) summary(s eval.Summary, out string) {
	if p.json {
		_ = json.NewEncoder(p.w).Encode(map[string]any{"type": "summary", "summary": s, "output_dir": out})
		return
	}
	if s.Interrupted {
		fmt.Fprintf(p.w, "interrupted: %d of %d questions ran; run again with --out %s to finish\n", s.Answered, s.Questions, out)
	}
	fmt.Fprintf(p.w, "accuracy by question (ABQ) %.2f%%  proportional by sub-question (PSAQ) %.2f%%  uniform by sub-question (UASQ) %.2f%%\n", s.ABQ*100, s.PSAQ*100, s.UASQ*100)
	fmt.Fprintf(p.w, "%d of %d right; %d errors; summary: %s\n", s.Correct, s.Questions, s.Errors, filepath.Join(out, eval.SummaryMD))
}

// sanitizeLine makes text from the run safe to print on one line: the
// terminal's one sanitizer, then whitespace runs (newlines included)
// folded to a space.
func sanitizeLine(s string) string {
	return strings.Join(strings.Fields(sanitizeText(s)), " ")
}
