package agents

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExtractCodeBlocks(t *testing.T) {
	cases := []struct {
		name         string
		text         string
		want         []CodeBlock
		unterminated bool
	}{
		{"none", "just text", nil, false},
		{"python", "Here is the program\n```python\nprint(\"Hello, world!\")\n```", []CodeBlock{{"python", "print(\"Hello, world!\")"}}, false},
		{"untagged", "```\nx = 1\n```\n", []CodeBlock{{"", "x = 1"}}, false},
		{"several", "a\n```py\n1\n```\nb\n```sh\nls -l\n```\n~~~python3\n2\n~~~", []CodeBlock{{"py", "1"}, {"sh", "ls -l"}, {"python3", "2"}}, false},
		{"tilde with backticks inside", "~~~python\ns = '```'\n~~~", []CodeBlock{{"python", "s = '```'"}}, false},
		{"longer fence nests", "````markdown\n```python\nx\n```\n````", []CodeBlock{{"markdown", "```python\nx\n```"}}, false},
		{"indented fence in a list", "1. step\n   ```python\n   for i in range(2):\n       print(i)\n   ```", []CodeBlock{{"python", "for i in range(2):\n    print(i)"}}, false},
		{"info string", "```python title=\"a.py\"\nx\n```", []CodeBlock{{"python", "x"}}, false},
		{"braced info", "```{python}\nx\n```", []CodeBlock{{"python", "x"}}, false},
		{"crlf", "```python\r\nx = 1\r\ny = 2\r\n```\r\n", []CodeBlock{{"python", "x = 1\ny = 2"}}, false},
		{"empty block", "```python\n```", []CodeBlock{{"python", ""}}, false},
		{"inline is no fence", "use ```print(1)``` here", nil, false},
		{"unterminated", "```python\nprint(1)\n", nil, true},
		{"closed then unterminated", "```python\n1\n```\n```python\n2", []CodeBlock{{"python", "1"}}, true},
		{"closing fence must be as long", "````python\nx\n```\n````", []CodeBlock{{"python", "x\n```"}}, false},
		{"closing fence with text is content", "```python\nx\n``` not closed\n```", []CodeBlock{{"python", "x\n``` not closed"}}, false},
		{"two backticks is no fence", "``python\nx\n``", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, unterminated := ExtractCodeBlocksDetail(c.text)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.unterminated, unterminated)
			assert.Equal(t, c.want, ExtractCodeBlocks(c.text))
		})
	}
}

func TestExtractCodeBlocksOddInputsDoNotPanic(t *testing.T) {
	inputs := []string{"", "`", "```", "~~~", "```\n", "\n```\n```", "   ```", "```\x00\xff", strings.Repeat("```\n", 1001),
		"```python\n\xff\xfe\n```", "\t```py\n\tx\n```", "``` ```\n"}
	for _, in := range inputs {
		assert.NotPanics(t, func() { ExtractCodeBlocksDetail(in) }, "%q", in)
	}
	blocks := ExtractCodeBlocks(strings.Repeat("```\n", 1001))
	assert.Len(t, blocks, 500)
}

func TestSegmentsAndStripCodeBlocks(t *testing.T) {
	text := "Plan:\n```python\nx = 1\n```\nThen `inline` and\n~~~\ny\n~~~\nTERMINATE"
	segs := Segments(text)
	require.Len(t, segs, 5)
	assert.False(t, segs[0].Code)
	assert.True(t, segs[1].Code)
	assert.True(t, segs[1].Closed)
	assert.Equal(t, CodeBlock{Language: "python", Code: "x = 1"}, segs[1].Block)
	assert.Equal(t, "```python\nx = 1\n```", segs[1].Text)
	assert.Equal(t, "Then `inline` and", segs[2].Text)
	assert.Equal(t, "Plan:\nThen `inline` and\nTERMINATE", StripCodeBlocks(text))
	assert.Equal(t, "Cut off:", StripCodeBlocks("Cut off:\n```python\nprint(1"))
}
