package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/executor"
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
	// Pool is how many kernels are kept started and waiting.
	Pool int
	// OnStart is called after every kernel start.
	OnStart func()
	Logger  *slog.Logger
}

// Kernels gives each run a kernel of its own, from a pool of warm ones
// when there is one. On a remote server each kernel works in a directory
// of its own (agentteam-runs/<random>/ below the server's root), so that
// concurrent runs do not see each other's files by name; files then move
// through the kernel.
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
	k := &Kernels{cfg: cfg, log: cfg.Logger, live: map[*Kernel]bool{}}
	k.pool = NewPool(PoolConfig[*Kernel]{Size: cfg.Pool, Open: func(ctx context.Context) (*Kernel, error) {
		return k.open(ctx, "")
	}, OnOpen: cfg.OnStart, Logger: cfg.Logger})
	return k
}

// Get returns a kernel for a run whose embedded kernel would work in
// workDir: a warm one from the pool, else a new one.
func (ks *Kernels) Get(ctx context.Context, workDir string) (*Kernel, error) {
	if ks.cfg.Pool > 0 {
		return ks.pool.Get(ctx)
	}
	k, err := ks.open(ctx, workDir)
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

func (ks *Kernels) open(ctx context.Context, workDir string) (*Kernel, error) {
	scfg := ks.cfg.Session
	k := &Kernel{ks: ks, remote: scfg.URL != ""}
	if k.remote {
		scfg.FilesThroughKernel = true
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
	if k.remote {
		k.dir = "agentteam-runs/" + randomName()
		if err := k.enter(ctx); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_ = s.Close(cctx)
			cancel()
			return nil, fmt.Errorf("prepare the kernel's directory: %w", err)
		}
	}
	ks.mu.Lock()
	ks.live[k] = true
	ks.mu.Unlock()
	return k, nil
}

// Kernel is one run's kernel.
type Kernel struct {
	*session.Session
	ks        *Kernels
	remote    bool
	dir       string // remote: the kernel's directory, relative to the server's root
	abs       string // remote: the same, absolute, as the kernel sees it
	removeDir string // embedded, opened ahead: the working directory to remove
	closeOnce sync.Once
	closeErr  error
}

// enter makes (and moves the kernel into) its directory on the server.
func (k *Kernel) enter(ctx context.Context) error {
	code := fmt.Sprintf("def __agentteam_cd():\n    import os, json\n    os.makedirs(%[1]q, exist_ok=True)\n    os.chdir(%[1]q)\n    print(json.dumps(os.getcwd()))\n__agentteam_cd(); del __agentteam_cd\n", k.dir)
	res, err := executor.Execute(ctx, k.Session, executor.Request{Code: code, Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%s", strings.TrimSpace(res.Text()))
	}
	return json.Unmarshal([]byte(strings.TrimSpace(res.Text())), &k.abs)
}

// Run runs code; on a remote server, a kernel that restarted (and so went
// back to the server's root) is moved into its directory again.
func (k *Kernel) Run(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
	if !k.remote {
		return k.Session.Run(ctx, req)
	}
	return func(yield func(executor.Event, error) bool) {
		for ev, err := range k.Session.Run(ctx, req) {
			if ev.Result != nil && (ev.Result.Restarted || ev.Result.StateLost) {
				if e := k.enter(context.WithoutCancel(ctx)); e != nil {
					k.ks.log.Warn("could not move the restarted kernel into its directory", "err", e)
				}
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// Execute runs code and returns its result (see Run).
func (k *Kernel) Execute(ctx context.Context, req executor.Request) (*executor.Result, error) {
	return executor.Execute(ctx, k, req)
}

// Restart discards the kernel's state (and, remote, goes back into its
// directory).
func (k *Kernel) Restart(ctx context.Context) error {
	if err := k.Session.Restart(ctx); err != nil {
		return err
	}
	if k.remote {
		return k.enter(ctx)
	}
	return nil
}

// Close removes the kernel's directory (its files were collected by then)
// and shuts the kernel down.
func (k *Kernel) Close(ctx context.Context) error {
	k.closeOnce.Do(func() {
		if k.remote && k.abs != "" {
			code := fmt.Sprintf("def __agentteam_rm():\n    import os, shutil\n    os.chdir('/')\n    shutil.rmtree(%q, ignore_errors=True)\n__agentteam_rm(); del __agentteam_rm\n", k.abs)
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _ = executor.Execute(rctx, k.Session, executor.Request{Code: code, Timeout: 10 * time.Second})
			cancel()
		}
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
