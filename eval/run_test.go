package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/llm"
)

// answerFromLabel answers every question right except those in wrong, which
// get a wrong first sub-answer, and those in fail, which error.
func answerFromLabel(s *Suite, wrong, fail map[int]bool, calls *atomic.Int32, concurrent *maxCounter) SolveFunc {
	return func(ctx context.Context, q Question, task, table, out string) (Attempt, error) {
		calls.Add(1)
		concurrent.enter()
		defer concurrent.leave()
		if _, err := os.Stat(table); err != nil {
			return Attempt{}, err
		}
		if err := os.WriteFile(filepath.Join(out, "report.md"), []byte(task), 0o644); err != nil {
			return Attempt{}, err
		}
		time.Sleep(20 * time.Millisecond) // long enough for the jobs to overlap
		if fail[q.ID] {
			return Attempt{Stop: "model error: endpoint unreachable"}, errors.New("model endpoint unreachable\nsecond line")
		}
		ans := ""
		for i, a := range s.Labels[q.ID].Answers {
			v := a[1]
			if i == 0 && wrong[q.ID] {
				v += "9"
			}
			ans += fmt.Sprintf("@%s[%s]\n", a[0], v)
		}
		return Attempt{Answer: ans, Stop: "finished", Finished: true, Turns: 4, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 10}}, nil
	}
}

type maxCounter struct {
	mu       sync.Mutex
	cur, top int
}

func (m *maxCounter) enter() { m.mu.Lock(); m.cur++; m.top = max(m.top, m.cur); m.mu.Unlock() }
func (m *maxCounter) leave() { m.mu.Lock(); m.cur--; m.mu.Unlock() }

func TestRunParallelScoresAndWritesOutputs(t *testing.T) {
	s, err := Load("starter")
	require.NoError(t, err)
	out := t.TempDir()
	var calls atomic.Int32
	var conc maxCounter
	cfg := Config{Suite: s, Out: out, Jobs: 3, Model: "test-model",
		Solve: answerFromLabel(s, map[int]bool{2: true}, map[int]bool{7: true}, &calls, &conc)}
	var last Event
	starts := 0
	for ev, err := range Run(context.Background(), cfg) {
		require.NoError(t, err)
		if ev.Type == "start" {
			starts++
			continue
		}
		last = ev
	}
	assert.Equal(t, 13, starts)
	assert.Equal(t, int32(13), calls.Load())
	assert.Equal(t, 3, conc.top, "three questions at once")
	assert.Equal(t, 13, last.Done)
	assert.Equal(t, 11, last.Correct)

	var sum Summary
	b, err := os.ReadFile(filepath.Join(out, SummaryJSON))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.Equal(t, 13, sum.Questions)
	assert.Equal(t, 11, sum.Correct)
	assert.Equal(t, Round4(11.0/13), sum.ABQ)
	// Question 2 has two sub-answers and gets one right; 7 gets none of 1.
	assert.Equal(t, Round4((11+0.5)/13), sum.PSAQ)
	assert.Equal(t, Round4(18.0/20), sum.UASQ, "20 sub-answers, two wrong")
	assert.Equal(t, 1, sum.Errors)
	assert.False(t, sum.Interrupted)
	assert.Equal(t, 3, sum.ByLevel["hard"].Questions)
	assert.Equal(t, 1.0, sum.ByLevel["hard"].ABQ)
	assert.Contains(t, sum.ByConcept, "Outlier Detection")
	assert.Equal(t, 1200, sum.Usage.PromptTokens, "12 answered questions of 100 prompt tokens, and one error")

	md, err := os.ReadFile(filepath.Join(out, SummaryMD))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| accuracy by question (ABQ) | 84.62% |")
	assert.Contains(t, string(md), "## By level")

	res := readLines(t, filepath.Join(out, ResultsFile))
	require.Len(t, res, 13)
	var r7 Result
	for _, l := range res {
		var r Result
		require.NoError(t, json.Unmarshal(l, &r))
		if r.ID == 7 {
			r7 = r
		}
	}
	assert.False(t, r7.Correct)
	assert.Equal(t, "model endpoint unreachable", r7.Error, "one line")
	assert.Equal(t, "72.15", r7.Expected["mean_math"])

	resp := readLines(t, filepath.Join(out, ResponsesFile))
	require.Len(t, resp, 13)
	var first map[string]any
	require.NoError(t, json.Unmarshal(resp[0], &first))
	assert.EqualValues(t, 0, first["id"])
	assert.Equal(t, "@mean_unit_price[10.12]\n", first["response"])
	assert.Contains(t, string(resp[7]), "(no answer: model endpoint unreachable)")
	assert.FileExists(t, filepath.Join(out, "5", "report.md"))
}

func TestRunResumesWithoutSolvingAgain(t *testing.T) {
	s, err := Load("starter")
	require.NoError(t, err)
	out := t.TempDir()
	var calls atomic.Int32
	var conc maxCounter
	solve := answerFromLabel(s, nil, nil, &calls, &conc)

	// The first eval is stopped after four results.
	ctx, cancel := context.WithCancel(context.Background())
	results := 0
	for ev, err := range Run(ctx, Config{Suite: s, Out: out, Jobs: 2, Solve: solve}) {
		require.NoError(t, err)
		if ev.Type == "result" {
			results++
			if results == 4 {
				cancel()
			}
		}
	}
	cancel()
	firstCalls := calls.Load()
	kept := len(readLines(t, filepath.Join(out, ResultsFile)))
	assert.GreaterOrEqual(t, kept, 4)
	assert.Less(t, kept, 13)
	var sum Summary
	b, _ := os.ReadFile(filepath.Join(out, SummaryJSON))
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.True(t, sum.Interrupted)
	assert.Equal(t, kept, sum.Answered)

	// Resuming solves only the rest.
	calls.Store(0)
	resumed, ran := 0, 0
	for ev, err := range Run(context.Background(), Config{Suite: s, Out: out, Jobs: 2, Solve: solve}) {
		require.NoError(t, err)
		switch ev.Type {
		case "resumed":
			resumed++
		case "result":
			ran++
		}
	}
	assert.Equal(t, kept, resumed)
	assert.Equal(t, 13-kept, ran)
	assert.Equal(t, int32(13-kept), calls.Load(), "no question asked twice (first run asked %d)", firstCalls)
	b, _ = os.ReadFile(filepath.Join(out, SummaryJSON))
	sum = Summary{}
	require.NoError(t, json.Unmarshal(b, &sum))
	assert.False(t, sum.Interrupted, "%+v", sum)
	assert.Equal(t, 13, sum.Correct)

	// A third run asks nothing at all.
	calls.Store(0)
	for _, err := range Run(context.Background(), Config{Suite: s, Out: out, Jobs: 2, Solve: solve}) {
		require.NoError(t, err)
	}
	assert.Zero(t, calls.Load())
}

func TestRunBreakStopsEarly(t *testing.T) {
	s, err := Load("starter")
	require.NoError(t, err)
	out := t.TempDir()
	var calls atomic.Int32
	var conc maxCounter
	for ev := range Run(context.Background(), Config{Suite: s, Out: out, Jobs: 1, Solve: answerFromLabel(s, nil, nil, &calls, &conc)}) {
		if ev.Type == "result" {
			break
		}
	}
	assert.LessOrEqual(t, calls.Load(), int32(2))
	assert.FileExists(t, filepath.Join(out, SummaryJSON))
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}
