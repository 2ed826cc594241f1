package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

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
	red := newRedactor(s, ep)
	logger := newLogger(stderr, o.Verbose, red)
	// A bad model setting or an endpoint that does not answer fails now,
	// not at the first run.
	if _, err := newModel(ctx, s, ep, logger, red); err != nil {
		return nil, err
	}
	base, err := solveConfig(s, nil, red, logger)
	if err != nil {
		return nil, err
	}
	scfg := base.Session
	scfg.Logger = logger
	scfg.KeepRemote = s.Jupyter.KeepRemote
	base.Sandboxed = scfg.URL == "" && s.Sandbox.Enabled
	switch {
	case scfg.URL != "":
		base.Where = "the Jupyter server at " + displayURL(scfg.URL)
	case base.Sandboxed:
		base.Where = "an embedded sandboxed jupyter-server"
	default:
		base.Where = "an embedded jupyter-server (unsandboxed)"
	}

	p := &servePipeline{logger: logger}
	p.cfg = serve.KernelsConfig{Session: scfg, Dir: dataDir, RemoteDir: s.Jupyter.RemoteDir, Pool: o.Pool, Logger: logger, OnStart: func() {
		if p.started != nil {
			p.started()
		}
	}}
	p.pipeline = serve.SolvePipeline(func(job serve.Job) (*solve.Runner, error) {
		model, err := newModel(context.Background(), s, ep, logger, red)
		if err != nil {
			return nil, err
		}
		cfg := base
		cfg.Model = model
		// Each run has its own redactor (its kernel's token is its own).
		runRed := red.With()
		cfg.Redactor = runRed
		cfg.NewKernel = func(ctx context.Context, info solve.RunInfo) (solve.Kernel, error) {
			ks := p.kernelSource()
			if ks == nil {
				return nil, errShuttingDown
			}
			k, err := ks.Get(ctx, info.WorkDir, info.RemoteDir)
			if err != nil {
				return nil, err
			}
			if srv := k.Server(); srv != nil {
				runRed.Add(srv.Token())
			}
			return k, nil
		}
		return solve.New(cfg)
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
