package prompts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuiltins(t *testing.T) {
	assert.Equal(t, []string{"coder", "debugger", "planner"}, Names())
	coder, err := Get(Coder)
	require.NoError(t, err)
	assert.Contains(t, coder, "TERMINATE")
	assert.Contains(t, coder, "```python")
	assert.Contains(t, coder, "stateful")
	planner := MustGet(Planner)
	assert.Contains(t, planner, "numbered plan")
	assert.Contains(t, planner, "stateful")
}

func TestUnknownAndInvalidNames(t *testing.T) {
	_, err := Get("nope")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "coder")
	_, err = Get("../prompts")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestOverrides(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "coder.md"), []byte("dir coder"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.md"), []byte("extra"), 0o600))
	s, err := New(Config{Dir: dir, Overrides: map[string]string{"planner": "map planner", "extra": "map extra"}})
	require.NoError(t, err)

	got, err := s.Get(Coder)
	require.NoError(t, err)
	assert.Equal(t, "dir coder", got)
	got, err = s.Get(Planner)
	require.NoError(t, err)
	assert.Equal(t, "map planner", got)
	got, err = s.Get("extra")
	require.NoError(t, err)
	assert.Equal(t, "map extra", got, "map wins over directory")
	got, err = s.Get(Debugger)
	require.NoError(t, err)
	assert.Equal(t, MustGet(Debugger), got, "built-in when not overridden")

	_, err = New(Config{Dir: filepath.Join(dir, "missing")})
	assert.Error(t, err)
}
