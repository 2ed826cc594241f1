package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/serve"
	"github.com/agentteam/agentteam/solve"
)

// servePipeline is the solve pipeline as the service runs it: a fresh
// model client per run (a replay starts from its first answer every time)
// and kernels from serve.Kernels (a warm pool with --pool).
type servePipeline struct {
	pipeline serve.Pipeline
	logger   *slog.Logger
	// started counts kernel starts (set once the server exists).
	started func()

	mu      sync.Mutex
	kernels *serve.Kernels
	closed  bool
	cfg     serve.KernelsConfig
}

func newServePipeline(ctx context.Context, o *serveOptions, s *Settings, dataDir string, stderr io.Writer) (*servePipeline, error) {
	ep, err := resolveEndpoint(s)
	if err != nil {
		return nil, err
	}
	secrets := []string{s.Jupyter.Token, ep.APIKey}
	logger := newLogger(stderr, o.Verbose, secrets...)

	newModel := func() (llm.Client, error) {
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
			return nil, usageErrorf("%s", redact(err.Error(), secrets...))
		}
		return c, nil
	}
	// A bad model setting fails now, not at the first run; an endpoint
	// that does not answer yet is only worth a warning for a service.
	if _, err := newModel(); err != nil {
		return nil, err
	}
	if ep.Replay == "" {
		if err := checkEndpoint(ctx, ep.BaseURL); err != nil {
			if exitCode(err) == 2 {
				return nil, err
			}
			fmt.Fprintf(stderr, "agentteam serve: warning: %v; runs fail until it answers\n", err)
		}
	}
	ps, err := prompts.New(prompts.Config{Dir: s.Prompts.Dir})
	if err != nil {
		return nil, configError("prompts.dir: %v", err)
	}
	mem, _ := parseBytes(s.Sandbox.Memory)
	scfg := session.Config{
		URL: s.Jupyter.URL, Token: s.Jupyter.Token, KernelName: s.Jupyter.Kernel,
		Timeout: s.Jupyter.Timeout, StartTimeout: s.Jupyter.StartTimeout,
		MaxOutputBytes: s.Output.MaxOutputBytes, JupyterBinary: s.Jupyter.Binary,
		Sandbox: local.SandboxConfig{Disabled: !s.Sandbox.Enabled, Network: s.Sandbox.Network, Memory: mem, Processes: s.Sandbox.Processes},
		Logger:  logger,
	}
	sandboxed := scfg.URL == "" && s.Sandbox.Enabled
	where := "an embedded sandboxed jupyter-server"
	switch {
	case scfg.URL != "":
		where = "the Jupyter server at " + displayURL(scfg.URL)
	case !sandboxed:
		where = "an embedded jupyter-server (unsandboxed)"
	}

	maxTurns := s.Team.MaxTurns
	if maxTurns == 0 {
		maxTurns = -1 // no bound
	}
	p := &servePipeline{logger: logger}
	scfg.KeepRemote = s.Jupyter.KeepRemote
	p.cfg = serve.KernelsConfig{Session: scfg, Dir: dataDir, RemoteDir: s.Jupyter.RemoteDir, Pool: o.Pool, Logger: logger, OnStart: func() {
		if p.started != nil {
			p.started()
		}
	}}
	p.pipeline = serve.SolvePipeline(func(job serve.Job) (*solve.Runner, error) {
		model, err := newModel()
		if err != nil {
			return nil, err
		}
		return solve.New(solve.Config{
			Model:   model,
			Prompts: ps,
			NewKernel: func(ctx context.Context, info solve.RunInfo) (solve.Kernel, error) {
				ks := p.kernelSource()
				if ks == nil {
					return nil, errShuttingDown
				}
				return ks.Get(ctx, info.WorkDir, info.RemoteDir)
			},
			RemoteDir:   s.Jupyter.RemoteDir,
			KeepRemote:  s.Jupyter.KeepRemote,
			MaxTurns:    maxTurns,
			Timeout:     s.Team.Timeout,
			ExecTimeout: s.Jupyter.Timeout,
			MaxHistory:  s.Team.MaxHistory,
			LoopLimit:   s.Team.LoopLimit,
			Secrets:     secrets,
			Sandboxed:   sandboxed,
			Where:       where,
			Version:     version,
			Logger:      logger,
		})
	})
	return p, nil
}

var errShuttingDown = errors.New("the server is shutting down")

// startPool starts the kernel source (and its warm pool).
func (p *servePipeline) startPool() { p.kernelSource() }

func (p *servePipeline) kernelSource() *serve.Kernels {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kernels == nil && !p.closed {
		p.kernels = serve.NewKernels(p.cfg)
	}
	return p.kernels
}

// close shuts every kernel down (the pool's and any still open).
func (p *servePipeline) close() {
	p.mu.Lock()
	ks := p.kernels
	p.kernels, p.closed = nil, true
	p.mu.Unlock()
	if ks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		ks.Close(ctx)
	}
}
