package solve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// The data inspection copes with other separators, other encodings and
// files that are not tables, and keeps the kernel's namespace clean.
func TestInspectCode(t *testing.T) {
	jupytertest.Require(t)
	work := t.TempDir()
	files := map[string]string{
		"semi.csv":  "a;b;c\n1;2;x\n3;;y\n",
		"latin.csv": "name,city\nJos\xe9,M\xfcnchen\nAnn,Paris\n",
		"tabs.tsv":  "k\tv\n1\t2\n",
		"notes.txt": "just some words\n",
		"bad.json":  "{not json",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(work, name), []byte(body), 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := session.Open(ctx, session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disabled: true}})
	require.NoError(t, err)
	defer s.Close(context.Background())
	res, err := s.Execute(ctx, executor.Request{Code: InspectCode([]string{"semi.csv", "latin.csv", "tabs.tsv", "notes.txt", "bad.json"})})
	require.NoError(t, err)
	require.True(t, res.OK(), res.Text())
	out := res.Text()
	assert.Contains(t, out, "=== semi.csv")
	assert.Contains(t, out, "shape: 2 rows x 3 columns")
	assert.Contains(t, out, "München")
	assert.Contains(t, out, "=== tabs.tsv")
	assert.Contains(t, out, "shape: 1 rows x 2 columns")
	assert.Contains(t, out, "=== bad.json")
	assert.Contains(t, out, "could not load it with pandas")
	// Nothing left behind in the namespace.
	res, err = s.Execute(ctx, executor.Request{Code: "print([n for n in dir() if 'agentteam' in n])"})
	require.NoError(t, err)
	assert.Equal(t, "[]", strings.TrimSpace(res.Outputs[0].Text))
}
