package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the service's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	created      prometheus.Counter
	executions   prometheus.Counter
	tokens       *prometheus.CounterVec
	kernelStarts prometheus.Counter
}

// runsCollector reports the runs by status and the queue length at scrape
// time.
type runsCollector struct {
	s     *Server
	runs  *prometheus.Desc
	queue *prometheus.Desc
}

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.runs
	ch <- c.queue
}

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[Status]int{}
	for _, st := range []Status{StatusQueued, StatusRunning, StatusFinished, StatusStopped, StatusFailed, StatusCancelled} {
		counts[st] = 0
	}
	for _, r := range c.s.list() {
		counts[r.Status]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(counts[StatusQueued]))
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentteam_runs_created_total", Help: "Runs accepted since the server started.",
		}),
		executions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentteam_code_executions_total", Help: "Code blocks run in kernels.",
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agentteam_model_tokens_total", Help: "Model tokens used, by type (prompt, completion).",
		}, []string{"type"}),
		kernelStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentteam_kernel_starts_total", Help: "Kernels started (including the warm pool's).",
		}),
	}
	m.tokens.WithLabelValues("prompt")
	m.tokens.WithLabelValues("completion")
	m.reg.MustRegister(m.created, m.executions, m.tokens, m.kernelStarts,
		&runsCollector{
			s:     s,
			runs:  prometheus.NewDesc("agentteam_runs", "Runs known to the server, by status.", []string{"status"}, nil),
			queue: prometheus.NewDesc("agentteam_queue_length", "Runs waiting for a free slot.", nil, nil),
		},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) observe(ev Event) {
	if ev.Executions > 0 {
		m.executions.Add(float64(ev.Executions))
	}
	if ev.Usage.PromptTokens > 0 {
		m.tokens.WithLabelValues("prompt").Add(float64(ev.Usage.PromptTokens))
	}
	if ev.Usage.CompletionTokens > 0 {
		m.tokens.WithLabelValues("completion").Add(float64(ev.Usage.CompletionTokens))
	}
}

// KernelStarted counts a kernel start (a run's or the warm pool's).
func (s *Server) KernelStarted() { s.metrics.kernelStarts.Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
