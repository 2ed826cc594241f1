package agents

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitReasoning(t *testing.T) {
	cases := []struct{ name, in, content, reasoning string }{
		{"none", "Plan:\n1. load", "Plan:\n1. load", ""},
		{"think", "<think>\nI could run ```python\nimport os\n```\n</think>\n\nHere:\n```python\nprint(1)\n```", "Here:\n```python\nprint(1)\n```", "\nI could run ```python\nimport os\n```\n"},
		{"thinking", "<thinking>hmm</thinking>\nanswer", "answer", "hmm"},
		{"reasoning", "  <reasoning>r</reasoning>ok", "  ok", "r"},
		{"unclosed (cut off while reasoning)", "<think>\n```python\nos.remove('x')\n```", "", "\n```python\nos.remove('x')\n```"},
		{"close only (template opened it)", "step by step ```python\nbad()\n```\n</think>\n\n```python\ngood()\n```", "```python\ngood()\n```", "step by step ```python\nbad()\n```"},
		{"mid-line tag is content", "print('<think>')\nok", "print('<think>')\nok", ""},
		{"tag in a later line", "intro\n<think>x</think>\nrest", "intro\nrest", "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, r := SplitReasoning(tc.in)
			assert.Equal(t, tc.content, c)
			assert.Equal(t, tc.reasoning, r)
			// Streamed in pieces of every size, the split is the same.
			for size := 1; size <= 7; size++ {
				var s ReasoningSplitter
				var cb, rb strings.Builder
				for i := 0; i < len(tc.in); i += size {
					c, r := s.Feed(tc.in[i:min(i+size, len(tc.in))])
					cb.WriteString(c)
					rb.WriteString(r)
				}
				c, r := s.Flush()
				cb.WriteString(c)
				rb.WriteString(r)
				if !strings.Contains(tc.name, "close only") {
					assert.Equal(t, tc.content, cb.String(), "size %d", size)
					assert.Equal(t, tc.reasoning, rb.String(), "size %d", size)
				}
			}
		})
	}
}
