package agents

import (
	"strings"
	"testing"
)

// FuzzExtractCodeBlocks: extraction never panics and every block's code
// comes from the text.
func FuzzExtractCodeBlocks(f *testing.F) {
	for _, s := range []string{
		"Here is the program\n```python\nprint(\"Hello, world!\")\n```\n",
		"```\nuntagged\n```\n```sh\nls -la\n```",
		"~~~py\nx = 1\n~~~",
		"  ```python\n  indented\n  ```",
		"````python\n```\nnested fence\n```\n````",
		"```python\nunterminated",
		"```python {.class}\nx\n```",
		"text only, TERMINATE",
		"```\n```",
		"\r\n```python\r\nwindows\r\n```\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// Segments lose nothing: joined, they are the text.
		var parts []string
		for _, seg := range Segments(text) {
			parts = append(parts, seg.Text)
		}
		if got, want := strings.Join(parts, "\n"), strings.ReplaceAll(text, "\r\n", "\n"); got != want {
			t.Fatalf("segments of %q join to %q", want, got)
		}
		blocks, _ := ExtractCodeBlocksDetail(text)
		for _, b := range blocks {
			for _, line := range strings.Split(b.Code, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.Contains(text, line) {
					t.Fatalf("code line %q is not in the text %q", line, text)
				}
			}
			if strings.ContainsAny(b.Language, " \n") {
				t.Fatalf("language %q has spaces", b.Language)
			}
		}
	})
}
