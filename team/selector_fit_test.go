package team

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/llm/tokens"
)

// The selector's history within a token budget: the newest messages whole,
// the next cut in the middle, a note for the rest, never over the budget.
func TestFitTokens(t *testing.T) {
	for _, tc := range []tokens.Counter{tokens.ForModel("gpt-4o"), tokens.Estimate{}} {
		t.Run(tc.Name(), func(t *testing.T) {
			long := "coder: " + strings.Repeat("the quick brown fox jumps over the lazy dog ", 60) + "END\n"
			lines := []string{"user: the task\n", long, long, "planner: step two next\n", "coder: done\n"}
			total := 0
			for _, l := range lines {
				total += tc.Count(l)
			}
			assert.Equal(t, lines, fitTokens(lines, total, tc), "all of it fits")

			budget := tc.Count(lines[3]) + tc.Count(lines[4]) + 200
			got := fitTokens(lines, budget, tc)
			used := 0
			for _, l := range got {
				used += tc.Count(l)
			}
			assert.LessOrEqual(t, used, budget+tc.Count("[3 earlier messages left out]\n"))
			assert.Equal(t, "[2 earlier messages left out]\n", got[0])
			assert.True(t, strings.HasPrefix(got[1], "coder: the quick"), got[1])
			assert.Contains(t, got[1], "END", "the cut keeps the tail")
			assert.Less(t, len(got[1]), len(long))
			assert.Equal(t, lines[3:], got[2:], "the newest whole")

			got = fitTokens(lines, tc.Count(lines[4])+1, tc)
			assert.Equal(t, []string{"[4 earlier messages left out]\n", "coder: done\n"}, got, "no room to cut one")
		})
	}
}
