package loadtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/team"
)

// rssBytes is this process's resident set size.
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// peakSampler records the peak RSS and Go heap while it runs.
type peakSampler struct {
	rss, heap atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

func samplePeaks() *peakSampler {
	p := &peakSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > p.heap.Load() {
				p.heap.Store(ms.HeapInuse)
			}
			if r := rssBytes(); r > p.rss.Load() {
				p.rss.Store(r)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakSampler) Stop() { close(p.stop); <-p.done }

// TestConcurrentTeams runs 16 teams at once, each with a scripted coder and
// its own kernel on one jupyter-server: every team finishes, sees only its
// own variables and output, memory stays bounded, and no kernel is left.
func TestConcurrentTeams(t *testing.T) {
	srv := jupytertest.Start(t)
	teams, rounds := 16, 2
	if os.Getenv("AGENTTEAM_LOADTEST_LONG") == "1" {
		teams, rounds = 32, 20
	}
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)

	peaks := samplePeaks()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, teams)
	results := make([]*agents.TaskResult, teams)
	for i := 0; i < teams; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			marker := fmt.Sprintf("team-%02d-%d", i, time.Now().UnixNano())
			replies := []string{fmt.Sprintf("```python\nmarker = %q\nprint('set', marker)\n```", marker)}
			for r := 0; r < rounds; r++ {
				replies = append(replies, fmt.Sprintf("```python\nprint('round %d', marker)\n```", r))
			}
			replies = append(replies, "Done. TERMINATE")
			k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client, Timeout: time.Minute})
			if err != nil {
				errs[i] = err
				return
			}
			defer k.Close(context.Background())
			coder, _ := agents.NewCoder(agents.AssistantConfig{Client: &agenttest.Model{Replies: replies}})
			runner, _ := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: k})
			tm, err := team.New(team.Config{
				Agents:      []agents.Agent{coder, runner},
				Termination: team.Or(team.TextMention("TERMINATE"), team.MaxMessages(4*rounds+10)),
			})
			if err != nil {
				errs[i] = err
				return
			}
			res, err := tm.Run(ctx, "load test "+marker)
			errs[i], results[i] = err, res
			if err == nil {
				// Every execution output of this team names its own marker
				// and no other team's.
				for _, m := range res.Messages {
					if m.Source != runner.Name() || m.Kind != agents.KindText {
						continue
					}
					if !strings.Contains(m.Content, marker) {
						errs[i] = fmt.Errorf("team %d: output %q lacks its marker %q", i, m.Content, marker)
						return
					}
					if strings.Count(m.Content, "team-") != 1 {
						errs[i] = fmt.Errorf("team %d: output %q mentions another team", i, m.Content)
						return
					}
				}
			}
		}(i)
	}
	wg.Wait()
	peaks.Stop()
	for i, err := range errs {
		require.NoError(t, err, "team %d", i)
		require.NotNil(t, results[i])
		assert.Equal(t, "Text 'TERMINATE' mentioned", results[i].StopReason, "team %d", i)
	}
	t.Logf("%d teams × %d rounds: peak RSS %.1f MiB, peak Go heap in use %.1f MiB",
		teams, rounds+1, float64(peaks.rss.Load())/(1<<20), float64(peaks.heap.Load())/(1<<20))
	assert.Less(t, peaks.heap.Load(), uint64(256<<20), "Go heap stays bounded")
	assert.Eventually(t, func() bool { return len(srv.KernelPids()) == 0 }, 20*time.Second, 100*time.Millisecond, "every kernel is shut down")
}

// BenchmarkExecConcurrent measures executions per second of a tiny cell
// with 1, 4 and 16 kernels working at once on one server.
func BenchmarkExecConcurrent(b *testing.B) {
	srv := jupytertest.Start(b)
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(b, err)
	ctx := context.Background()
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("kernels=%d", n), func(b *testing.B) {
			kernels := make([]*jupyter.Kernel, n)
			for i := range kernels {
				k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client})
				require.NoError(b, err)
				kernels[i] = k
			}
			defer func() {
				for _, k := range kernels {
					k.Close(ctx)
				}
			}()
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, k := range kernels {
				wg.Add(1)
				go func(k *jupyter.Kernel) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						res, err := k.Execute(ctx, executor.Request{Code: "x = 1"})
						if err != nil || !res.OK() {
							b.Error(err)
							return
						}
					}
				}(k)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "execs/s")
		})
	}
}
