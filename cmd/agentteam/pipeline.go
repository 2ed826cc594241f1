package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/redact"
	"github.com/agentteam/agentteam/solve"
)

// newRedactor is the one redactor for every byte a run writes: the key (in
// replay mode too, when its variable is set), the Jupyter token and the
// secret-looking variables of the environment; a run adds its embedded
// server's token.
func newRedactor(s *Settings, ep *endpoint) *redact.Redactor {
	red := redact.FromEnv(os.Environ(), s.Jupyter.Token, urlToken(s.Jupyter.URL), ep.APIKey, os.Getenv("AGENTTEAM_API_KEY"), os.Getenv("OPENAI_API_KEY"))
	if s.Model.APIKeyEnv != "" {
		red.Add(os.Getenv(s.Model.APIKeyEnv))
	}
	// MCP servers' header and environment values (tokens, often).
	red.Add(mcpSecrets(s)...)
	return red
}

// urlToken is the token given in a Jupyter URL's query (?token=...), which
// the client takes out and uses like --token.
func urlToken(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}

// newModel returns the model client the settings name: the recorded
// session of a replay file, or an OpenAI-compatible endpoint, checked to
// answer at all.
func newModel(ctx context.Context, s *Settings, ep *endpoint, logger *slog.Logger, red *redact.Redactor) (llm.Client, error) {
	if ep.Replay != "" {
		r, err := llm.LoadReplay(ep.Replay)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		return r, nil
	}
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
		return nil, usageErrorf("%s", red.String(err.Error()))
	}
	if err := checkEndpoint(ctx, ep.BaseURL); err != nil {
		return nil, err
	}
	return c, nil
}

// solveConfig is the pipeline the settings describe, shared by solve and
// eval; the caller sets where the outputs go.
func solveConfig(s *Settings, model llm.Client, red *redact.Redactor, logger *slog.Logger) (solve.Config, error) {
	ps, err := prompts.New(prompts.Config{Dir: s.Prompts.Dir})
	if err != nil {
		return solve.Config{}, configError("prompts.dir: %v", err)
	}
	mem, _ := parseMemory(s.Sandbox.Memory)
	disk, _ := parseDisk(s.Sandbox.Disk)
	maxFile, maxFiles := s.Output.fileLimits()
	maxTurns := s.Team.MaxTurns
	if maxTurns == 0 {
		maxTurns = -1 // no bound
	}
	return solve.Config{
		Model:   model,
		Prompts: ps,
		Session: session.Config{
			URL: s.Jupyter.URL, Token: s.Jupyter.Token, KernelName: s.Jupyter.Kernel,
			Timeout: s.Jupyter.Timeout, StartTimeout: s.Jupyter.StartTimeout,
			MaxOutputBytes: s.Output.MaxOutputBytes, MaxMimeBytes: s.Output.mimeLimit(), JupyterBinary: s.Jupyter.Binary,
			Sandbox: local.SandboxConfig{Disabled: !s.Sandbox.Enabled, Network: s.Sandbox.Network, Memory: mem, Processes: s.Sandbox.Processes,
				Disk: disk, Env: s.Sandbox.Env},
		},
		RemoteDir:     s.Jupyter.RemoteDir,
		KeepRemote:    s.Jupyter.KeepRemote,
		MaxTurns:      maxTurns,
		Timeout:       s.Team.Timeout,
		ExecTimeout:   s.Jupyter.Timeout,
		MaxHistory:    s.Team.MaxHistory,
		LoopLimit:     s.Team.LoopLimit,
		ContextWindow: s.Model.ContextWindow,
		Vision:        s.Model.Vision,
		NoRestore:     !s.Jupyter.RestoreAfterRestart,
		Price:         priceFor(s.Model.Prices, model),
		Redactor:      red,
		MaxFileBytes:  maxFile,
		MaxFilesBytes: maxFiles,
		Version:       version,
		Logger:        logger,
		ToolCalls:     s.Model.ToolCalls,
	}, nil
}

// discoverWindow asks an OpenAI-compatible endpoint for the model's context
// window when the settings leave it at 0, and says what it found.
func discoverWindow(ctx context.Context, model llm.Client, cfg *solve.Config) string {
	c, ok := model.(*openai.Client)
	if !ok || cfg.ContextWindow > 0 {
		return ""
	}
	cw := c.DiscoverContextWindow(ctx)
	cfg.ContextWindow = cw.Tokens
	return "context window: " + cw.String() + "; set model.context_window (--context-window) to override"
}

// priceFor finds a model's price in the price table (nil: none, or no
// model: a replay per task).
func priceFor(table []PriceEntry, model llm.Client) *llm.Price {
	if model == nil {
		return nil
	}
	for _, p := range table {
		if strings.EqualFold(strings.TrimSpace(p.Model), model.ModelName()) {
			return &llm.Price{Prompt: p.Prompt, Completion: p.Completion, Cached: p.Cached}
		}
	}
	return nil
}
