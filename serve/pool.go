package serve

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Closer is what a Pool holds: anything that must be shut down.
type Closer interface {
	Close(ctx context.Context) error
}

// Pool keeps up to n kernels (or anything else slow to open) started and
// waiting, so that a run does not wait for one. Each is handed out once
// and never returns to the pool: the run that takes it closes it, and the
// pool opens another in its place. No state passes from one run to the next.
type Pool[K Closer] struct {
	open    func(ctx context.Context) (K, error)
	onOpen  func()
	log     *slog.Logger
	ready   chan K
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once
}

// PoolConfig configures a Pool.
type PoolConfig[K Closer] struct {
	// Size is how many are kept waiting (0: none; Get always opens one).
	Size int
	// Open starts one.
	Open func(ctx context.Context) (K, error)
	// OnOpen, when set, is called after each one opened (e.g. to count
	// kernel starts).
	OnOpen func()
	// Retry is the pause after a failed Open (default 5s).
	Retry  time.Duration
	Logger *slog.Logger
}

// NewPool starts filling a pool in the background.
func NewPool[K Closer](cfg PoolConfig[K]) *Pool[K] {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool[K]{open: cfg.Open, onOpen: cfg.OnOpen, log: cfg.Logger, ready: make(chan K), ctx: ctx, cancel: cancel}
	for i := 0; i < cfg.Size; i++ {
		p.wg.Add(1)
		go p.fill(cfg.Retry)
	}
	return p
}

// fill keeps one opened and offered until the pool closes.
func (p *Pool[K]) fill(retry time.Duration) {
	defer p.wg.Done()
	for p.ctx.Err() == nil {
		k, err := p.open(p.ctx)
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Warn("could not start a kernel for the pool", "err", err)
			}
			select {
			case <-p.ctx.Done():
			case <-time.After(retry):
			}
			continue
		}
		if p.onOpen != nil {
			p.onOpen()
		}
		select {
		case p.ready <- k:
		case <-p.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = k.Close(ctx)
			cancel()
			return
		}
	}
}

// ErrPoolClosed: Get after Close.
var ErrPoolClosed = errors.New("the kernel pool is closed")

// Get hands out a waiting one, or opens one when none is waiting.
func (p *Pool[K]) Get(ctx context.Context) (K, error) {
	var zero K
	if p.ctx.Err() != nil {
		return zero, ErrPoolClosed
	}
	select {
	case k := <-p.ready:
		return k, nil
	default:
	}
	k, err := p.open(ctx)
	if err == nil && p.onOpen != nil {
		p.onOpen()
	}
	return k, err
}

// Close stops filling and closes every one still waiting. Those handed
// out are their takers' to close.
func (p *Pool[K]) Close() {
	p.closeMu.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
}
