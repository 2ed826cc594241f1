package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestToolsExampleRunsOffline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out))
	s := out.String()
	assert.Contains(t, s, `analyst calls stats({"values": [18.5, 21, 24.5]})`)
	assert.Contains(t, s, `stats -> {"n":3,"mean":21.333333333333332,"max":24.5}`)
	assert.Contains(t, s, "to_fahrenheit -> 76.1 F")
	assert.Contains(t, s, "analyst: Over 3 days")
	assert.Contains(t, s, "stop reason: Text 'TERMINATE' mentioned")
}
