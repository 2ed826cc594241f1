package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/agentteam/agentteam/executor/session"
)

// KernelsConfig configures Kernels.
type KernelsConfig struct {
	// Session says where kernels run: Session.URL "" starts an embedded
	// (sandboxed) jupyter-server per kernel; otherwise every kernel comes
	// from that remote server or gateway.
	Session session.Config
	// Dir holds the working directories of embedded kernels started ahead
	// of their run (Dir/.kernels/<random>/).
	Dir string
	// RemoteDir is where kernels started ahead of their run work on a
	// remote server: RemoteDir/<random> ("": "agentteam"). A kernel
	// started for a known run works in the directory the run asks for.
	RemoteDir string
	// Pool is how many kernels are kept started and waiting.
	Pool int
	// OnStart is called after every kernel start.
	OnStart func()
	Logger  *slog.Logger
}

// Kernels gives each run a kernel of its own, from a pool of warm ones
// when there is one. Every kernel works in a directory of its own, on this
// machine or on the remote server, removed when the kernel is closed (its
// files are collected by then), so that runs never see each other's files.
type Kernels struct {
	cfg  KernelsConfig
	log  *slog.Logger
	pool *Pool[*Kernel]

	mu   sync.Mutex
	live map[*Kernel]bool
}

// NewKernels starts filling the pool (if any) in the background.
func NewKernels(cfg KernelsConfig) *Kernels {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RemoteDir == "" {
		cfg.RemoteDir = "agentteam"
	}
	k := &Kernels{cfg: cfg, log: cfg.Logger, live: map[*Kernel]bool{}}
	k.pool = NewPool(PoolConfig[*Kernel]{Size: cfg.Pool, Open: func(ctx context.Context) (*Kernel, error) {
		return k.open(ctx, "", "")
	}, OnOpen: cfg.OnStart, Logger: cfg.Logger})
	return k
}

// Get returns a kernel for a run: a warm one from the pool, else a new one
// working in workDir (embedded) or remoteDir (remote, relative to the
// server's root).
func (ks *Kernels) Get(ctx context.Context, workDir, remoteDir string) (*Kernel, error) {
	if ks.cfg.Pool > 0 {
		return ks.pool.Get(ctx)
	}
	k, err := ks.open(ctx, workDir, remoteDir)
	if err != nil && ctx.Err() == nil {
		// A busy server can miss a start; one more try before the run
		// fails.
		ks.log.Warn("kernel start failed; trying once more", "err", err)
		k, err = ks.open(ctx, workDir, remoteDir)
	}
	if err == nil && ks.cfg.OnStart != nil {
		ks.cfg.OnStart()
	}
	return k, err
}

// Close stops the pool and shuts down every kernel not yet closed
// (including those still in use).
func (ks *Kernels) Close(ctx context.Context) {
	ks.pool.Close()
	ks.mu.Lock()
	all := make([]*Kernel, 0, len(ks.live))
	for k := range ks.live {
		all = append(all, k)
	}
	ks.mu.Unlock()
	for _, k := range all {
		_ = k.Close(ctx)
	}
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (ks *Kernels) open(ctx context.Context, workDir, remoteDir string) (*Kernel, error) {
	scfg := ks.cfg.Session
	k := &Kernel{ks: ks}
	if scfg.URL != "" {
		if remoteDir == "" {
			remoteDir = path.Join(ks.cfg.RemoteDir, randomName())
		}
		scfg.RemoteDir = remoteDir
	} else {
		if workDir == "" {
			workDir = filepath.Join(ks.cfg.Dir, ".kernels", randomName())
			k.removeDir = workDir
		}
		if err := os.MkdirAll(workDir, 0o700); err != nil {
			return nil, err
		}
		scfg.WorkDir = workDir
	}
	s, err := session.Open(ctx, scfg)
	if err != nil {
		if k.removeDir != "" {
			_ = os.RemoveAll(k.removeDir)
		}
		return nil, err
	}
	k.Session = s
	ks.mu.Lock()
	ks.live[k] = true
	ks.mu.Unlock()
	return k, nil
}

// Kernel is one run's kernel.
type Kernel struct {
	*session.Session
	ks        *Kernels
	removeDir string // embedded, opened ahead: the working directory to remove
	closeOnce sync.Once
	closeErr  error
}

// Close shuts the kernel down and removes its directory.
func (k *Kernel) Close(ctx context.Context) error {
	k.closeOnce.Do(func() {
		k.closeErr = k.Session.Close(ctx)
		if k.removeDir != "" {
			_ = os.RemoveAll(k.removeDir)
		}
		k.ks.mu.Lock()
		delete(k.ks.live, k)
		k.ks.mu.Unlock()
	})
	return k.closeErr
}
