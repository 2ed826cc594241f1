package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentteam/agentteam/llm"
)

// Attempt is what solving one question gave.
type Attempt struct {
	// Answer is the final answer text (empty when there was none).
	Answer string
	// Stop is why the run stopped, in words ("finished", "30 turns reached").
	Stop string
	// Finished reports whether the run ended with a final answer.
	Finished bool
	Turns    int
	Usage    llm.Usage
	// Cost is the run's cost in the price table's currency, when known.
	Cost *float64
}

// SolveFunc solves one question: its task text, with the table at
// tablePath staged into the kernel's working directory under the
// question's file name, writing its notebook, report and transcript into
// outDir. An error is recorded as the question's failure; the eval goes on.
type SolveFunc func(ctx context.Context, q Question, task, tablePath, outDir string) (Attempt, error)

// Config is an eval run.
type Config struct {
	Suite *Suite
	// Questions to run (default: all of the suite's).
	Questions []Question
	// Out is the output directory; results already there are kept and
	// re-scored, and only the other questions run.
	Out string
	// Jobs is the number of questions solved at once (default 1).
	Jobs int
	// Solve solves one question.
	Solve SolveFunc
	// Model names the model in the summary.
	Model  string
	Logger *slog.Logger
}

// Result is one question's line in results.jsonl.
type Result struct {
	ID        int               `json:"id"`
	Level     string            `json:"level,omitempty"`
	Concepts  []string          `json:"concepts,omitempty"`
	Correct   bool              `json:"correct"`
	Predicted map[string]string `json:"predicted"`
	Expected  map[string]string `json:"expected"`
	Subs      []SubResult       `json:"sub_answers"`
	Response  string            `json:"response"`
	Stop      string            `json:"stop,omitempty"`
	Turns     int               `json:"turns"`
	Usage     llm.Usage         `json:"usage"`
	Cost      *float64          `json:"cost,omitempty"`
	Seconds   float64           `json:"seconds"`
	Error     string            `json:"error,omitempty"`
	// Resumed marks a result read back from an earlier run and re-scored.
	Resumed bool `json:"-"`
}

// Event is one step of an eval as it goes.
type Event struct {
	// Type is "start" (a question began), "result" (one finished) or
	// "resumed" (an earlier result was re-scored).
	Type     string  `json:"type"`
	ID       int     `json:"id"`
	Result   *Result `json:"result,omitempty"`
	Done     int     `json:"done"`
	Total    int     `json:"total"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// Summary is summary.json.
type Summary struct {
	Suite     string             `json:"suite"`
	Model     string             `json:"model,omitempty"`
	Questions int                `json:"questions"`
	Answered  int                `json:"answered"`
	Correct   int                `json:"correct"`
	ABQ       float64            `json:"abq"`
	PSAQ      float64            `json:"psaq"`
	UASQ      float64            `json:"uasq"`
	ByLevel   map[string]Metrics `json:"by_level"`
	ByConcept map[string]Metrics `json:"by_concept"`
	Usage     llm.Usage          `json:"tokens"`
	Cost      *float64           `json:"cost,omitempty"`
	Seconds   float64            `json:"wall_seconds"`
	Errors    int                `json:"errors"`
	// Interrupted is set when the eval was stopped before every question
	// ran; the metrics then cover the questions that did.
	Interrupted bool `json:"interrupted,omitempty"`
}

// ResultsFile and the other names of files an eval writes in its output
// directory.
const (
	ResultsFile   = "results.jsonl"
	ResponsesFile = "responses.jsonl"
	SummaryJSON   = "summary.json"
	SummaryMD     = "summary.md"
)

// Run runs the questions not already answered in cfg.Out, cfg.Jobs at a
// time, and yields an event as each starts and ends. When the sequence
// ends (every question ran, ctx was cancelled, or the caller stopped
// reading), it writes summary.json, summary.md and responses.jsonl for
// every result so far and returns; call Summarize to get the summary.
func Run(ctx context.Context, cfg Config) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if cfg.Suite == nil || cfg.Solve == nil {
			yield(Event{}, errors.New("eval: Config needs a Suite and a Solve function"))
			return
		}
		qs := cfg.Questions
		if qs == nil {
			qs = cfg.Suite.Questions
		}
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			yield(Event{}, fmt.Errorf("eval: output directory: %w", err))
			return
		}
		start := time.Now()
		prior, err := readResults(filepath.Join(cfg.Out, ResultsFile))
		if err != nil {
			yield(Event{}, err)
			return
		}
		rf, err := os.OpenFile(filepath.Join(cfg.Out, ResultsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			yield(Event{}, fmt.Errorf("eval: %w", err))
			return
		}
		defer rf.Close()

		results := map[int]*Result{}
		total := len(qs)
		correct := 0
		progress := func(typ string, r *Result) Event {
			if r.Correct {
				correct++
			}
			results[r.ID] = r
			acc := 0.0
			if len(results) > 0 {
				acc = float64(correct) / float64(len(results))
			}
			return Event{Type: typ, ID: r.ID, Result: r, Done: len(results), Total: total, Correct: correct, Accuracy: acc}
		}
		stopped := false
		defer func() {
			_ = writeOutputs(cfg, qs, results, time.Since(start), stopped || ctx.Err() != nil)
		}()

		var todo []Question
		for _, q := range qs {
			if p, ok := prior[q.ID]; ok {
				r := cfg.rescore(q, p)
				if !yield(progress("resumed", r), nil) {
					stopped = true
					return
				}
				continue
			}
			todo = append(todo, q)
		}

		jobs := cfg.Jobs
		if jobs < 1 {
			jobs = 1
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		type msg struct {
			ev  string
			q   Question
			res *Result
		}
		ch := make(chan msg)
		var wg sync.WaitGroup
		next := make(chan Question)
		for range min(jobs, max(len(todo), 1)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for q := range next {
					select {
					case ch <- msg{ev: "start", q: q}:
					case <-runCtx.Done():
						return
					}
					r := cfg.solveOne(runCtx, q)
					select {
					case ch <- msg{ev: "result", q: q, res: r}:
					case <-runCtx.Done():
						return
					}
				}
			}()
		}
		go func() {
			defer close(next)
			for _, q := range todo {
				select {
				case next <- q:
				case <-runCtx.Done():
					return
				}
			}
		}()
		go func() { wg.Wait(); close(ch) }()

		enc := json.NewEncoder(rf)
		for m := range ch {
			if m.ev == "start" {
				if !stopped && !yield(Event{Type: "start", ID: m.q.ID, Done: len(results), Total: total, Correct: correct}, nil) {
					stopped = true
					cancel()
				}
				continue
			}
			if ctx.Err() != nil && m.res.Error != "" {
				// Cut short by the interrupt: not an answer; it runs
				// again when the eval is resumed.
				continue
			}
			if err := enc.Encode(m.res); err != nil {
				cancel()
				if !stopped {
					yield(Event{}, fmt.Errorf("eval: writing results: %w", err))
				}
				stopped = true
				continue
			}
			ev := progress("result", m.res)
			if !stopped && !yield(ev, nil) {
				stopped = true
				cancel()
			}
		}
	}
}

func (cfg Config) solveOne(ctx context.Context, q Question) *Result {
	t0 := time.Now()
	dir := filepath.Join(cfg.Out, strconv.Itoa(q.ID))
	r := &Result{ID: q.ID, Level: q.Level, Concepts: q.Concepts}
	// A question that ran before but left no result line (the eval was
	// stopped) starts afresh.
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Error = err.Error()
		return cfg.score(q, r)
	}
	a, err := cfg.Solve(ctx, q, TaskText(q), filepath.Join(cfg.Suite.TablesDir, q.FileName), dir)
	r.Seconds = time.Since(t0).Seconds()
	r.Response = a.Answer
	r.Stop = a.Stop
	r.Turns = a.Turns
	r.Usage = a.Usage
	r.Cost = a.Cost
	if err != nil {
		r.Error = oneLine(err.Error())
	} else if !a.Finished && r.Error == "" && a.Stop != "" {
		r.Error = "no final answer: " + a.Stop
	}
	return cfg.score(q, r)
}

func (cfg Config) score(q Question, r *Result) *Result {
	label := cfg.Suite.Labels[q.ID]
	subs, ok := Score(r.Response, label)
	r.Subs = subs
	r.Correct = ok
	r.Predicted = Extract(r.Response)
	r.Expected = map[string]string{}
	for _, a := range label.expected() {
		r.Expected[a[0]] = a[1]
	}
	return r
}

// rescore scores an earlier result again against the suite's labels (they
// may have been corrected since), keeping what the model said.
func (cfg Config) rescore(q Question, p *Result) *Result {
	r := &Result{ID: q.ID, Level: q.Level, Concepts: q.Concepts, Response: p.Response, Stop: p.Stop,
		Turns: p.Turns, Usage: p.Usage, Cost: p.Cost, Seconds: p.Seconds, Error: p.Error, Resumed: true}
	return cfg.score(q, r)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// readResults reads an earlier run's results; the last line for an id wins.
// A torn last line (the process died while writing it) is ignored.
func readResults(path string) (map[int]*Result, error) {
	out := map[int]*Result{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var r Result
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out[r.ID] = &r
		}
	}
	return out, sc.Err()
}

// Summarize computes the summary of the results, in question order.
func Summarize(suite *Suite, model string, qs []Question, results map[int]*Result, wall time.Duration) Summary {
	s := Summary{Suite: suite.Dir, Model: model, Questions: len(qs), ByLevel: map[string]Metrics{}, ByConcept: map[string]Metrics{}, Seconds: wall.Seconds()}
	var all []Scored
	levels := map[string][]Scored{}
	concepts := map[string][]Scored{}
	for _, q := range qs {
		r, ok := results[q.ID]
		var sc Scored
		if ok {
			sc = Scored{Subs: r.Subs, Correct: r.Correct}
			s.Answered++
			s.Usage = s.Usage.Add(r.Usage)
			if r.Cost != nil {
				c := *r.Cost
				if s.Cost != nil {
					c += *s.Cost
				}
				s.Cost = &c
			}
			if r.Error != "" {
				s.Errors++
			}
		} else {
			// Not run: every sub-answer missing, so wrong.
			subs, _ := Score("", suite.Labels[q.ID])
			sc = Scored{Subs: subs}
		}
		all = append(all, sc)
		if q.Level != "" {
			levels[q.Level] = append(levels[q.Level], sc)
		}
		for _, c := range q.Concepts {
			concepts[c] = append(concepts[c], sc)
		}
	}
	m := Compute(all)
	s.Correct, s.ABQ, s.PSAQ, s.UASQ = m.Correct, m.ABQ, m.PSAQ, m.UASQ
	for k, v := range levels {
		s.ByLevel[k] = Compute(v)
	}
	for k, v := range concepts {
		s.ByConcept[k] = Compute(v)
	}
	s.Interrupted = s.Answered < s.Questions
	return s
}

func writeOutputs(cfg Config, qs []Question, results map[int]*Result, wall time.Duration, interrupted bool) error {
	sum := Summarize(cfg.Suite, cfg.Model, qs, results, wall)
	sum.Interrupted = interrupted || sum.Interrupted
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, SummaryJSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, SummaryMD), []byte(SummaryMarkdown(sum)), 0o644); err != nil {
		return err
	}
	// responses.jsonl in DABench's response format, every question that
	// ran. The reference scorer skips an empty response; a failed question
	// gets a non-empty one, so that it counts there as wrong, as here.
	var lines []byte
	for _, q := range qs {
		r, ok := results[q.ID]
		if !ok {
			continue
		}
		resp := r.Response
		if strings.TrimSpace(resp) == "" {
			resp = "(no answer"
			if r.Error != "" {
				resp += ": " + r.Error
			}
			resp += ")"
		}
		line, _ := json.Marshal(map[string]any{"id": q.ID, "response": resp})
		lines = append(append(lines, line...), '\n')
	}
	return os.WriteFile(filepath.Join(cfg.Out, ResponsesFile), lines, 0o644)
}

// SummaryMarkdown renders a summary as summary.md.
func SummaryMarkdown(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Eval: %s\n\n", s.Suite)
	if s.Model != "" {
		fmt.Fprintf(&b, "Model: `%s`\n\n", s.Model)
	}
	if s.Interrupted {
		fmt.Fprintf(&b, "**Incomplete**: %d of %d questions ran; the rest count as wrong below. Run again with the same --out to finish.\n\n", s.Answered, s.Questions)
	}
	b.WriteString("| metric | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| questions | %d |\n| correct | %d |\n", s.Questions, s.Correct)
	fmt.Fprintf(&b, "| accuracy by question (ABQ) | %s |\n", pct(s.ABQ))
	fmt.Fprintf(&b, "| proportional by sub-question (PSAQ) | %s |\n", pct(s.PSAQ))
	fmt.Fprintf(&b, "| uniform by sub-question (UASQ) | %s |\n", pct(s.UASQ))
	fmt.Fprintf(&b, "| errors or no final answer | %d |\n", s.Errors)
	fmt.Fprintf(&b, "| tokens (prompt / completion) | %d / %d |\n", s.Usage.PromptTokens, s.Usage.CompletionTokens)
	if s.Cost != nil {
		fmt.Fprintf(&b, "| cost | %.4f |\n", *s.Cost)
	}
	fmt.Fprintf(&b, "| wall time | %.1f s |\n", s.Seconds)
	table := func(title string, m map[string]Metrics) {
		if len(m) == 0 {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "\n## By %s\n\n| %s | questions | ABQ | PSAQ | UASQ |\n| --- | --- | --- | --- | --- |\n", title, title)
		for _, k := range keys {
			v := m[k]
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", mdCell(k), v.Questions, pct(v.ABQ), pct(v.PSAQ), pct(v.UASQ))
		}
	}
	table("level", s.ByLevel)
	table("concept", s.ByConcept)
	return b.String()
}

func pct(x float64) string { return strconv.FormatFloat(x*100, 'f', 2, 64) + "%" }

func mdCell(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.ReplaceAll(s, "|", `\|`)
}
