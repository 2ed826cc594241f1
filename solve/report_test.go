package solve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor/session"
)

// File names come from kernel code: a newline, an escape sequence or a
// bidi override in one cannot break report.md's lists or hide in them.
// They show as Go escapes, markdown-escaped (a newline reads \n).
func TestReportEscapesFileNames(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	require.NoError(t, os.MkdirAll(files, 0o755))
	names := []string{"new\nline.csv", "esc\x1b]0;title\x07.csv", "rtl\u202egnp.exe", "fig\n# Heading.png", "ok (1).csv"}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(files, n), []byte("x"), 0o644))
	}
	sum := &Summary{Cause: Finished, Reason: "finished", FinalAnswer: "Done.",
		Skipped: []session.Skipped{
			{Path: "huge\n- [click](http://evil)", Size: 5 << 30, Reason: session.ReasonTooLarge},
			{Path: "link\r.txt", Reason: session.ReasonSymlink},
		}}
	r := Report(Header{Task: "t", Unsandboxed: true}, sum, dir)

	assert.Contains(t, r, `- [new\\nline.csv](files/new%0Aline.csv)`)
	assert.Contains(t, r, `esc\\x1b\]0;title\\a.csv`)
	assert.Contains(t, r, `rtl\\u202egnp.exe`)
	assert.Contains(t, r, `![fig\\n\# Heading.png](files/fig%0A%23%20Heading.png)`)
	assert.Contains(t, r, `- [ok (1).csv](files/ok%20%281%29.csv)`)
	assert.Contains(t, r, "## Files not copied")
	assert.Contains(t, r, `- huge\\n- \[click\](http://evil) (5368709120 bytes): larger than the per-file limit`)
	assert.Contains(t, r, `- link\\r.txt: a symbolic link (not followed)`)
	assert.Contains(t, r, "without the sandbox")
	for _, l := range strings.Split(r, "\n") {
		assert.NotContains(t, l, "\x1b")
		assert.NotContains(t, l, "\r")
		assert.NotContains(t, l, "\u202e")
		assert.False(t, strings.HasPrefix(l, "# Heading"), "a name made a heading")
		assert.False(t, strings.HasPrefix(l, "- [click]"), "a name made a list item")
	}
}
