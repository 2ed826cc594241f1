package solve

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/llm"
)

// report.md says plainly, for every way a run ends, whether there is an
// answer, and if not why and what the last step did.
func TestReportWording(t *testing.T) {
	h := Header{Task: "Sum the $ amounts in <data.csv>", Model: "m"}
	last := "step 4 ran `df.sum()` and completed; its last output was: 42"
	for _, tc := range []struct {
		name string
		sum  Summary
		want []string
		not  []string
	}{
		{"finished", Summary{Cause: Finished, Reason: "finished", FinalAnswer: "The total is $42.", Usage: &llm.Usage{PromptTokens: 5, CompletionTokens: 2}},
			[]string{"## Final answer\n\nThe total is \\$42.\n", "- Stopped: finished", "- Tokens: 7 (prompt 5, completion 2)"}, []string{"No final answer"}},
		{"finished without words", Summary{Cause: Finished, Reason: "finished"},
			[]string{"## Final answer\n\nThe team said the task is done but gave no answer in words"}, nil},
		{"max turns", Summary{Cause: MaxTurns, Reason: "30 turns reached", Step: 4, LastStep: last},
			[]string{"## No final answer\n\nThe run ended without a final answer: 30 turns reached.\n\nThe last step: " + last + "."}, []string{"## Final answer"}},
		{"timeout", Summary{Cause: Timeout, Reason: "time limit of 10m0s reached", Step: 4, LastStep: last},
			[]string{"without a final answer: time limit of 10m0s reached at step 4."}, nil},
		{"loop", Summary{Cause: Loop, Reason: "loop: loop detected: the same failing code was sent 3 times", Step: 6, LastStep: last},
			[]string{"without a final answer: loop: loop detected: the same failing code was sent 3 times."}, nil},
		{"model error", Summary{Cause: ModelError, Reason: "model error: the model endpoint rejected the API key (HTTP 401)", Err: errors.New("x")},
			[]string{"without a final answer: model error: the model endpoint rejected the API key (HTTP 401).", "No code had run.", "- Tokens: none (no model was called)"}, nil},
		{"kernel error", Summary{Cause: KernelError, Reason: "kernel error: kernel start failed: the Jupyter server refused the token (HTTP 403)"},
			[]string{"without a final answer: kernel error: kernel start failed: the Jupyter server refused the token (HTTP 403)."}, nil},
		{"cancelled", Summary{Cause: Cancelled, Reason: "interrupted by SIGINT", Step: 5, LastStep: "step 5 ran `for i in range(9):` and was interrupted; its last output was: 11"},
			[]string{"without a final answer: interrupted by SIGINT at step 5.", "The last step: step 5 ran `for i in range(9):` and was interrupted; its last output was: 11."}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.sum.Duration = time.Second
			r := Report(h, &tc.sum, t.TempDir())
			assert.Contains(t, r, "> Sum the \\$ amounts in &lt;data.csv&gt;")
			for _, w := range tc.want {
				assert.Contains(t, r, w)
			}
			for _, n := range tc.not {
				assert.NotContains(t, r, n)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	assert.Equal(t, `costs \$18.90 \*each\* &lt;b&gt;x&lt;/b&gt; \[a\](b) \# h`, EscapeMarkdown("costs $18.90 *each* <b>x</b> [a](b) # h"))
	assert.Equal(t, "**14 orders** cost \\$18.90, `df['$']` &lt;script>\n```\n$x <y>\n```", EscapeProse("**14 orders** cost $18.90, `df['$']` <script>\n```\n$x <y>\n```"))
	assert.Equal(t, "Done, file saved.", Prose("Done, file saved.\n```python\nx=1\n```\nTERMINATE"))
	assert.Equal(t, "héllo…", Truncate("héllo wörld", 6))
	assert.Equal(t, "ab", Truncate("ab", 6))
}
