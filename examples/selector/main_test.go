package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelectorExampleRunsOffline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out))
	want := []string{
		"user: How much larger",
		"-> next speaker: planner",
		"planner: 1. The researcher",
		"-> next speaker: researcher",
		"researcher: Oslo had",
		"-> next speaker: writer",
		"writer: Oslo (about 709,000 people)",
		"stop reason: Text 'DONE' mentioned",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(want), out.String())
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w), "line %d: %q", i, lines[i])
	}
}
