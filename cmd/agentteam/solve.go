package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/team"
)

// solveOptions are the flags of `agentteam solve` that are not settings.
type solveOptions struct {
	Task       string
	Files      []string
	ConfigFile string
	JSON       bool
	Quiet      bool
	Verbose    bool
}

// solveFlagKeys binds settings to flags of the same meaning.
var solveFlagKeys = map[string]string{
	"model.name":        "model",
	"model.base_url":    "base-url",
	"model.api_key_env": "api-key-env",
	"jupyter.url":       "jupyter-url",
	"jupyter.token":     "token",
	"jupyter.kernel":    "kernel",
	"team.max_turns":    "max-turns",
	"team.timeout":      "timeout",
	"output.dir":        "out",
	"sandbox.network":   "allow-network",
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
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Task = args[0]
			flagKeys := solveFlagKeys
			if noSandbox {
				flagKeys = withKey(flagKeys, "sandbox.enabled", "sandbox-enabled")
				_ = cmd.Flags().Set("sandbox-enabled", "false")
			}
			s, _, err := loadSettings(o.ConfigFile, cmd.Flags(), flagKeys)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runSolve(ctx, &o, s, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Files, "file", nil, "an input file to copy into the kernel's working directory (repeatable)")
	f.String("model", "", "model name, or replay:FILE to replay recorded answers")
	f.String("base-url", "", "OpenAI-compatible API base URL (e.g. http://127.0.0.1:11434/v1)")
	f.String("api-key-env", "", "environment variable holding the API key (default AGENTTEAM_API_KEY, then OPENAI_API_KEY)")
	f.String("jupyter-url", "", "Jupyter Server or Kernel Gateway URL; empty starts an embedded sandboxed server")
	f.String("token", "", "Jupyter token")
	f.String("kernel", "", "kernel spec name (default python3)")
	f.Int("max-turns", 0, "stop after this many agent turns (default 30)")
	f.Duration("timeout", 0, "stop the whole run after this long (default 30m)")
	f.String("out", "", "output directory (default ./agentteam-out/<timestamp>)")
	f.StringVar(&o.ConfigFile, "config", "", "config file (default ./agentteam.yaml, then the user config dir)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON event per line")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only the final answer")
	f.BoolVar(&o.Verbose, "verbose", false, "log HTTP and websocket detail to stderr (never secrets)")
	f.BoolVar(&noSandbox, "no-sandbox", false, "run the embedded server's kernels unsandboxed")
	f.Bool("allow-network", false, "let sandboxed kernels use the network")
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

// dataExts are inspected before planning.
var dataExts = map[string]bool{".csv": true, ".tsv": true, ".txt": true, ".xlsx": true, ".xls": true, ".json": true, ".jsonl": true, ".parquet": true}

// taskFiles finds the local files a task names (tokens that are existing
// relative paths) plus the --file ones, as clean relative paths.
func taskFiles(task string, extra []string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
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
			files = append(files, p+"\x00"+rel)
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

// inspectCode is the data inspection run in the kernel before planning.
func inspectCode(paths []string) string {
	list, _ := json.Marshal(paths)
	return `def __agentteam_inspect(paths):
    import os
    try:
        import pandas as pd
    except ImportError:
        pd = None
    for p in paths:
        ext = os.path.splitext(p)[1].lower()
        print(f"=== {p} ({os.path.getsize(p)} bytes)")
        if pd is None:
            print("pandas is not installed in the kernel")
            continue
        try:
            if ext in ('.csv', '.tsv', '.txt'):
                df = None
                for kw in ({}, {'encoding': 'latin-1'}, {'sep': None, 'engine': 'python'},
                           {'sep': None, 'engine': 'python', 'encoding': 'latin-1'}):
                    if ext == '.tsv' and 'sep' not in kw:
                        kw = dict(kw, sep='\t')
                    try:
                        df = pd.read_csv(p, **kw)
                        if df.shape[1] > 1 or 'sep' in kw:
                            break
                    except (UnicodeDecodeError, pd.errors.ParserError):
                        continue
                if df is None:
                    raise ValueError('not a delimited text file pandas can read')
                if kw:
                    print(f"read with {kw}")
            elif ext in ('.xlsx', '.xls'):
                df = pd.read_excel(p)
            elif ext == '.jsonl':
                df = pd.read_json(p, lines=True)
            elif ext == '.json':
                df = pd.read_json(p)
            elif ext == '.parquet':
                df = pd.read_parquet(p)
            else:
                continue
        except Exception as e:
            print(f"could not load it with pandas: {type(e).__name__}: {e}")
            with open(p, 'rb') as f:
                print("first bytes:", f.read(300))
            continue
        print(f"shape: {df.shape[0]} rows x {df.shape[1]} columns")
        print("columns and dtypes:")
        print(df.dtypes.to_string())
        miss = df.isna().sum()
        miss = miss[miss > 0]
        print("missing values:", "none" if miss.empty else "")
        if not miss.empty:
            print(miss.to_string())
        print(f"duplicate rows: {int(df.duplicated().sum())}")
        print("first rows:")
        print(df.head(5).to_string())
        print()
__agentteam_inspect(` + string(list) + `)
del __agentteam_inspect
`
}

func runSolve(ctx context.Context, o *solveOptions, s *Settings, stdout, stderr io.Writer) error {
	start := time.Now()
	var apiKey string
	// Secrets that must never be printed: the Jupyter token and the key.
	secrets := func() []string { return []string{s.Jupyter.Token, apiKey} }
	ep, err := resolveEndpoint(s)
	if err != nil {
		return err
	}
	apiKey = ep.APIKey
	logger := newLogger(stderr, o.Verbose, secrets()...)

	var model llm.Client
	replay := ep.Replay != ""
	if replay {
		r, err := llm.LoadReplay(ep.Replay)
		if err != nil {
			return usageErrorf("%v", err)
		}
		model = r
	} else {
		var temp *float32
		if s.Model.Temperature > 0 {
			t := float32(s.Model.Temperature)
			temp = &t
		}
		c, err := openai.New(openai.Config{
			BaseURL: ep.BaseURL, APIKey: ep.APIKey, Model: ep.Model, Temperature: temp,
			MaxTokens: s.Model.MaxTokens, RequestTimeout: s.Model.RequestTimeout,
			StreamIdleTimeout: s.Model.StreamIdleTimeout, MaxRetries: s.Model.MaxRetries, Logger: logger,
		})
		if err != nil {
			return usageErrorf("%s", redact(err.Error(), secrets()...))
		}
		model = c
	}

	files, err := taskFiles(o.Task, o.Files)
	if err != nil {
		return err
	}
	ps, err := prompts.New(prompts.Config{Dir: s.Prompts.Dir})
	if err != nil {
		return configError("prompts.dir: %v", err)
	}

	outDir := s.Output.Dir
	if outDir == "" {
		outDir = filepath.Join("agentteam-out", time.Now().Format("20060102-150405"))
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return err
	}
	out, err := newRunOutput(outDir, secrets()...)
	if err != nil {
		return err
	}
	ui := newTerminal(stdout, stderr, o.JSON, o.Quiet, secrets()...)
	if replay {
		ui.note("replay: answers come from the recorded session " + ep.Replay + ", not from a model")
	}

	mem, _ := parseBytes(s.Sandbox.Memory)
	disk, _ := parseDisk(s.Sandbox.Disk)
	workspace := filepath.Join(outDir, "workspace")
	scfg := session.Config{
		URL: s.Jupyter.URL, Token: s.Jupyter.Token, KernelName: s.Jupyter.Kernel,
		WorkDir: workspace, Timeout: s.Jupyter.Timeout, StartTimeout: s.Jupyter.StartTimeout,
		OutputDir: out.filesDir, MaxOutputBytes: s.Output.MaxOutputBytes, JupyterBinary: s.Jupyter.Binary,
		Sandbox: local.SandboxConfig{Disabled: !s.Sandbox.Enabled, Network: s.Sandbox.Network, Memory: mem, Processes: s.Sandbox.Processes,
			Disk: disk, Env: s.Sandbox.Env},
		Logger:  logger,
	}
	where := "an embedded sandboxed jupyter-server"
	if scfg.URL != "" {
		where = "the Jupyter server at " + redactURLForDisplay(scfg.URL)
	} else if !s.Sandbox.Enabled {
		where = "an embedded jupyter-server (unsandboxed)"
	}
	ui.status("starting a kernel on " + where)
	sess, err := session.Open(ctx, scfg)
	if err != nil {
		_ = out.writeReport(runSummary{Task: o.Task, StopReason: "kernel start failed", Model: model.ModelName(), Replay: replay, Duration: time.Since(start)})
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		return errors.New(redact(sandboxHint(err).Error(), secrets()...))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()

	// Inputs, then a look at the data.
	inputs := map[string]bool{}
	var dataPaths []string
	for _, f := range files {
		local, rel, _ := strings.Cut(f, "\x00")
		data, err := os.ReadFile(local)
		if err != nil {
			return usageErrorf("read %s: %v", local, err)
		}
		if err := sess.Upload(ctx, rel, data); err != nil {
			return fmt.Errorf("copy %s to the kernel: %s", rel, redact(err.Error(), secrets()...))
		}
		inputs[rel] = true
		if dataExts[strings.ToLower(filepath.Ext(rel))] {
			dataPaths = append(dataPaths, rel)
		}
	}
	task := o.Task
	if len(files) > 0 {
		var names []string
		for rel := range inputs {
			names = append(names, rel)
		}
		task += "\n\nInput files in the kernel's working directory: " + strings.Join(sortedStrings(names), ", ")
	}
	if len(dataPaths) > 0 {
		ui.status("inspecting " + strings.Join(dataPaths, ", "))
		code := inspectCode(dataPaths)
		res, err := sess.Execute(ctx, executor.Request{Code: code, Timeout: 2 * time.Minute})
		if res != nil {
			out.addInspection(code, res)
			task += "\n\nData summary (from the kernel, before planning):\n" + truncateMiddle(res.Text(), 6000)
		}
		if err != nil && ctx.Err() != nil {
			_ = out.writeReport(runSummary{Task: o.Task, StopReason: "interrupted", Model: model.ModelName(), Replay: replay, Duration: time.Since(start)})
			return interrupted(ctx)
		}
	}

	planner, err := agents.NewPlanner(agents.AssistantConfig{Client: model, Prompts: ps, MaxHistory: s.Team.MaxHistory, Logger: logger})
	if err != nil {
		return err
	}
	coder, err := agents.NewCoder(agents.AssistantConfig{Client: model, Prompts: ps, MaxHistory: s.Team.MaxHistory, Logger: logger})
	if err != nil {
		return err
	}
	runner, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{
		Executor: sess, Sources: []string{"coder"}, Timeout: s.Jupyter.Timeout, LoopLimit: s.Team.LoopLimit, Logger: logger,
	})
	if err != nil {
		return err
	}
	var cond team.Condition = team.TextMention("TERMINATE", "coder", "planner")
	if s.Team.Timeout > 0 {
		cond = team.Or(cond, team.Timeout(s.Team.Timeout))
	}
	tm, err := team.New(team.Config{
		Agents:      []agents.Agent{planner, coder, runner},
		Termination: cond,
		MaxTurns:    s.Team.MaxTurns,
		Logger:      logger,
	})
	if err != nil {
		return err
	}

	runCtx := ctx
	if s.Team.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, s.Team.Timeout, errRunTimeout)
		defer cancel()
	}
	stopReason, turns := "", 0
	var runErr error
	for m, err := range tm.Stream(runCtx, task) {
		if err != nil {
			runErr = err
			break
		}
		out.add(m)
		ui.show(m)
		if m.Kind == agents.KindText && m.Source != agents.SourceUser {
			turns++
		}
		if m.Kind == agents.KindStop {
			stopReason = m.Content
		}
	}
	ui.done()
	var usage llm.Usage
	if u, ok := model.(interface{ Usage() llm.Usage }); ok {
		usage = u.Usage()
	}

	finished := runErr == nil && strings.HasPrefix(stopReason, "Text 'TERMINATE' mentioned")
	switch {
	case ctx.Err() != nil:
		stopReason = "interrupted"
	case runErr != nil && errors.Is(context.Cause(runCtx), errRunTimeout):
		stopReason = fmt.Sprintf("Timeout of %s reached", s.Team.Timeout)
		runErr = nil
	case runErr != nil:
		stopReason = "error: " + oneLineText(redact(runErr.Error(), secrets()...))
	}

	// Everything the code wrote, then the report.
	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	produced := out.collectFiles(cctx, sess, inputs)
	cancel()
	sum := runSummary{Task: o.Task, StopReason: stopReason, Finished: finished, Turns: turns, Tokens: usage.Total(),
		Duration: time.Since(start), Model: model.ModelName(), Replay: replay}
	if err := out.writeReport(sum); err != nil {
		ui.note("could not write every output: " + err.Error())
	}
	ui.summary(sum, out.finalAnswer(), outDir, produced)

	switch {
	case ctx.Err() != nil:
		return interrupted(ctx)
	case runErr != nil:
		return errors.New(oneLineText(redact(runErr.Error(), secrets()...)))
	case !finished:
		return &exitError{code: 1, err: fmt.Errorf("the task did not finish: %s (outputs in %s)", stopReason, outDir)}
	}
	return nil
}

var errRunTimeout = errors.New("run timeout")

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func truncateMiddle(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max/2] + "\n… (" + strconv.Itoa(len(s)-max) + " characters cut) …\n" + s[len(s)-max/2:]
}

// redactURLForDisplay drops any query (tokens) from a URL.
func redactURLForDisplay(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
