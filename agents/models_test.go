package agents_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/internal/fakeopenai"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/openai"
	"github.com/agentteam/agentteam/llm/tokens"
	"github.com/agentteam/agentteam/team"
)

// Real models misbehave in ways scripted ones do not: they reason with code
// in their reasoning, get cut off mid-block, fill the context window, and
// draw charts. These tests run a coder on the fake OpenAI endpoint and an
// executor on a real kernel.

type rig struct {
	srv    *fakeopenai.Server
	kernel *jupyter.Kernel
	coder  *agents.Assistant
	exec   *agents.CodeExecutor
	team   *team.RoundRobin
}

func newRig(t *testing.T, h fakeopenai.Handler, acfg agents.AssistantConfig, ecfg agents.CodeExecutorConfig, maxTurns int) *rig {
	t.Helper()
	js := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jc, err := jupyter.NewClient(jupyter.ClientConfig{URL: js.URL, Token: js.Token})
	require.NoError(t, err)
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: jc, Timeout: 60 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { k.Close(context.Background()) })
	srv := fakeopenai.New(t, h)
	client, err := openai.New(openai.Config{BaseURL: srv.URL, Model: "fake-model", StreamIdleTimeout: 10 * time.Second})
	require.NoError(t, err)
	acfg.Client = client
	coder, err := agents.NewCoder(acfg)
	require.NoError(t, err)
	ecfg.Executor = k
	ecfg.Sources = []string{"coder"}
	ex, err := agents.NewCodeExecutor(ecfg)
	require.NoError(t, err)
	tm, err := team.New(team.Config{Agents: []agents.Agent{coder, ex}, MaxTurns: maxTurns,
		Termination: team.TextMention("TERMINATE", "coder")})
	require.NoError(t, err)
	return &rig{srv: srv, kernel: k, coder: coder, exec: ex, team: tm}
}

func (r *rig) run(t *testing.T, task string) *agents.TaskResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := r.team.Run(ctx, task)
	require.NoError(t, err)
	return res
}

func (r *rig) ask(t *testing.T, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := executor.Execute(ctx, r.kernel, executor.Request{Code: code})
	require.NoError(t, err)
	return res.Text()
}

func ofKind(res *agents.TaskResult, k agents.Kind) []*agents.Message {
	var out []*agents.Message
	for _, m := range res.Messages {
		if m.Kind == k {
			out = append(out, m)
		}
	}
	return out
}

// Code in the reasoning, in either reasoning field or in <think> blocks,
// is never run and never sent back; the reasoning is kept and streamed as
// reasoning events.
func TestReasoningIsNeverRun(t *testing.T) {
	bad := "```python\nopen('pwned-%d', 'w').write('x')\n```"
	h := func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		switch n {
		case 0:
			return fakeopenai.Reply{Reasoning: "I might do " + fmt.Sprintf(bad, 0), Text: "```python\nstep = 1\nprint('first')\n```"}
		case 1:
			return fakeopenai.Reply{Reasoning: "Or " + fmt.Sprintf(bad, 1), ReasoningField: "reasoning", Text: "```python\nprint('second', step)\n```"}
		case 2:
			return fakeopenai.Reply{Text: "<think>\nFirst " + fmt.Sprintf(bad, 2) + "\n</think>\n\n```python\nprint('third')\n```"}
		case 3:
			// A reply cut off while still reasoning: nothing to run.
			return fakeopenai.Reply{Text: "<think>\nHmm " + fmt.Sprintf(bad, 3), FinishReason: "length"}
		default:
			return fakeopenai.Reply{Text: "<think>done?</think>All done. TERMINATE"}
		}
	}
	r := newRig(t, h, agents.AssistantConfig{}, agents.CodeExecutorConfig{}, 20)
	res := r.run(t, "count to three")

	outs := ofKind(res, agents.KindCodeExecution)
	require.Len(t, outs, 3)
	assert.Equal(t, "first", outs[0].Executions[0].Result.Text())
	assert.Equal(t, "second 1", outs[1].Executions[0].Result.Text())
	assert.Equal(t, "third", outs[2].Executions[0].Result.Text())
	assert.Equal(t, "False", r.ask(t, "import glob\nprint(bool(glob.glob('pwned-*')))"), "no reasoning code ran")

	var replies []*agents.Message
	for _, m := range res.Chat() {
		if m.Source == "coder" {
			replies = append(replies, m)
		}
	}
	require.Len(t, replies, 5)
	for i, m := range replies {
		assert.NotContains(t, m.Content, "pwned", "reply %d", i)
		if i < 4 {
			assert.Contains(t, m.Reasoning, fmt.Sprintf("pwned-%d", i), "reply %d keeps its reasoning", i)
		}
	}
	assert.Equal(t, "done?", replies[4].Reasoning)
	var streamed strings.Builder
	for _, ev := range ofKind(res, agents.KindReasoning) {
		streamed.WriteString(ev.Reasoning)
	}
	for i := range 4 {
		assert.Contains(t, streamed.String(), fmt.Sprintf("pwned-%d", i), "reasoning streamed as reasoning events")
	}
	for _, ev := range ofKind(res, agents.KindChunk) {
		assert.NotContains(t, ev.Content, "pwned", "never streamed as content")
	}
	for i, req := range r.srv.Requests() {
		assert.NotContains(t, req.Text(), "pwned", "request %d sends no reasoning back", i)
	}
	assert.Positive(t, replies[2].Usage.ReasoningTokens, "inline reasoning counted")
	assert.Positive(t, replies[0].Usage.ReasoningTokens, "field reasoning counted")
}

// A reply cut off mid-block is never run; the model is asked for a shorter
// step, twice, then the run stops with a clear reason.
func TestCutOffReplies(t *testing.T) {
	cut := "Let me write it all:\n```python\nopen('partial', 'w').write('x')\nfor i in range(10):\n    print("
	t.Run("recovers", func(t *testing.T) {
		h := func(n int, req *fakeopenai.Request) fakeopenai.Reply {
			switch n {
			case 0:
				return fakeopenai.Reply{Text: cut, FinishReason: "length"}
			case 1:
				if !strings.Contains(req.LastUser(), "cut off at the token limit") {
					return fakeopenai.Reply{Text: "TERMINATE: I was not told"}
				}
				return fakeopenai.Reply{Text: "```python\nprint('short')\n```"}
			default:
				return fakeopenai.Reply{Text: "TERMINATE"}
			}
		}
		r := newRig(t, h, agents.AssistantConfig{}, agents.CodeExecutorConfig{}, 10)
		res := r.run(t, "print a lot")
		outs := ofKind(res, agents.KindCodeExecution)
		require.Len(t, outs, 1)
		assert.Equal(t, "short", outs[0].Executions[0].Result.Text())
		assert.Equal(t, "False", r.ask(t, "import os\nprint(os.path.exists('partial'))"))
	})
	t.Run("gives up", func(t *testing.T) {
		h := func(int, *fakeopenai.Request) fakeopenai.Reply {
			return fakeopenai.Reply{Text: cut, FinishReason: "length"}
		}
		r := newRig(t, h, agents.AssistantConfig{}, agents.CodeExecutorConfig{}, 20)
		res := r.run(t, "print a lot")
		assert.Empty(t, ofKind(res, agents.KindCodeExecution), "nothing ran")
		assert.Contains(t, res.StopReason, "cut off at the token limit 3 times in a row")
		assert.Len(t, r.srv.Requests(), 3)
	})
}

// verboseRun runs steps steps whose code prints chars characters each,
// under window, and checks every request: it fits the window less the
// answer and carries the task whole. It returns the requests.
func verboseRun(t *testing.T, window, steps, chars int) []*fakeopenai.Request {
	t.Helper()
	task := "Analyse the data step by step. TASK-MARKER " + strings.Repeat("Keep this detail in mind. ", 40)
	h2 := func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		if n >= steps {
			return fakeopenai.Reply{Text: "Finished. TERMINATE"}
		}
		return fakeopenai.Reply{Text: fmt.Sprintf("Step %d:\n```python\nv%d = %d\ns = 'region north sales %%d rose by %%d percent; ' %% (v%d, v%d * 7)\nprint((s * (%d // len(s) + 1))[:%d])\n```", n+1, n+1, n+1, n+1, n+1, chars, chars)}
	}
	r := newRig(t, h2, agents.AssistantConfig{ContextWindow: window, AnswerTokens: 1000},
		agents.CodeExecutorConfig{MaxOutputChars: chars + 100}, 2*steps+2)
	res := r.run(t, task)
	assert.Contains(t, res.StopReason, "TERMINATE")
	execs := ofKind(res, agents.KindCodeExecution)
	require.Len(t, execs, steps)
	assert.Len(t, execs[steps-1].Executions[0].Result.Text(), chars)

	tc := tokens.ForModel("fake-model")
	reqs := r.srv.Requests()
	require.Len(t, reqs, steps+1)
	for i, req := range reqs {
		total := 0
		for _, m := range req.Messages {
			total += tc.Count(m.Content) + tokens.PerMessage
		}
		assert.LessOrEqual(t, total, window-1000, "request %d fits the window less the answer", i)
		found := false
		for _, m := range req.Messages {
			if m.Content == task {
				found = true
			}
		}
		assert.True(t, found, "request %d carries the whole task", i)
	}
	return reqs
}

// prefixBreaks counts the turns whose request changed a message that came
// before the last two of the previous request (each turn, the output that
// was newest may shrink; what came before it should stay as it was, for
// prompt caches).
func prefixBreaks(t *testing.T, reqs []*fakeopenai.Request) int {
	breaks := 0
	for i := 1; i < len(reqs); i++ {
		prev, cur := reqs[i-1].Messages, reqs[i].Messages
		for j := range max(0, len(prev)-2) {
			if j >= len(cur) || prev[j].Content != cur[j].Content {
				breaks++
				break
			}
		}
	}
	t.Logf("the prefix changed on %d of %d turns", breaks, len(reqs)-1)
	return breaks
}

// A 25-step run whose steps each print 8,000 characters, under a context
// window of 8,000 tokens, finishes; every request fits and carries the task.
func TestContextWindowLongVerboseRun(t *testing.T) {
	reqs := verboseRun(t, 8000, 25, 8000)
	last := reqs[len(reqs)-1].Text()
	assert.Contains(t, last, "steps 1–", "folded turns are named in a note")
	assert.Contains(t, last, "Names they defined: ", "with the names their code defined")
	assert.Contains(t, last, "v23", "up to the last folded step")
	prefixBreaks(t, reqs)
}

// With room for several steps, compaction happens in large steps: the
// prefix stays the same on most turns.
func TestContextWindowKeepsPrefixStable(t *testing.T) {
	reqs := verboseRun(t, 16000, 25, 3000)
	assert.LessOrEqual(t, prefixBreaks(t, reqs), 4)
	assert.Contains(t, reqs[len(reqs)-1].Text(), "characters (", "shrunk outputs say what was cut")
}

// Images the kernel displayed go to the model with the step's output,
// downscaled, at most three.
func TestVisionSendsFigures(t *testing.T) {
	var mu sync.Mutex
	var seen []llm.Image
	h := func(n int, req *fakeopenai.Request) fakeopenai.Reply {
		switch n {
		case 0:
			return fakeopenai.Reply{Text: "```python\n%matplotlib inline\nimport matplotlib.pyplot as plt\n" +
				"for i in range(5):\n    fig = plt.figure(figsize=(20, 10), dpi=100)\n    plt.plot([0, 1], [i, i + 1])\n    plt.show()\nprint('drawn')\n```"}
		default:
			mu.Lock()
			for _, m := range req.Messages {
				seen = append(seen, m.Images...)
			}
			mu.Unlock()
			return fakeopenai.Reply{Text: "The lines rise. TERMINATE"}
		}
	}
	r := newRig(t, h, agents.AssistantConfig{}, agents.CodeExecutorConfig{Vision: true}, 6)
	res := r.run(t, "draw five lines")
	assert.Contains(t, res.StopReason, "TERMINATE")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 3, "at most three images per message")
	for _, im := range seen {
		require.True(t, strings.HasPrefix(im.URL, "data:image/png;base64,"), im.URL[:30])
		data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(im.URL, "data:image/png;base64,"))
		require.NoError(t, err)
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, 1024, max(cfg.Width, cfg.Height), "downscaled from about 2000 px")
		assert.InDelta(t, 512, min(cfg.Width, cfg.Height), 40, "aspect kept")
	}
	last := r.srv.Requests()[1]
	assert.Contains(t, last.LastUser(), "3 image(s) the code displayed are attached below; 2 more were not sent")
}
