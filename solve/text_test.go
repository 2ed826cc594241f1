package solve

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A model's prose keeps its markdown, but a stray backtick must not switch
// off the escaping of "<" and "$" for the rest of the line: markdown shows
// an unmatched backtick as itself, so what follows it is live HTML.
func TestEscapeProseStrayBackticks(t *testing.T) {
	for in, want := range map[string]string{
		"the `a<b` test and a<b":               "the `a<b` test and a&lt;b",
		"a stray ` then <img src=x onerror=y>": "a stray ` then &lt;img src=x onerror=y>",
		"``code with ` inside`` then <b>":      "``code with ` inside`` then &lt;b>",
		"`` ` `` <script>":                     "`` ` `` &lt;script>",
		"costs $5 and `$x` and ``` <i> $y":     "costs \\$5 and `$x` and ``` &lt;i> \\$y",
		"```python\nx = '<b>'\n```\nafter <b>": "```python\nx = '<b>'\n```\nafter &lt;b>",
	} {
		assert.Equal(t, want, EscapeProse(in), "%q", in)
	}
}
