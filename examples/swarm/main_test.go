package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSwarmExampleRunsOffline(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out, []string{"It is XK42."}))
	want := []string{
		"user: I want a refund for my flight.",
		"travel_agent calls transfer_to_refunds_agent",
		"travel_agent hands off to refunds_agent: Transferred to refunds_agent",
		"refunds_agent calls transfer_to_user",
		"refunds_agent hands off to user: What is your booking number?",
		"stop reason: Handoff to user from refunds_agent detected.",
		"user: It is XK42.",
		"refunds_agent calls refund_flight",
		"refunds_agent: Your booking XK42 was refunded: 240 EUR. TERMINATE",
		"stop reason: Text 'TERMINATE' mentioned",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(want), out.String())
	for i, w := range want {
		assert.True(t, strings.HasPrefix(lines[i], w), "line %d: %q", i, lines[i])
	}
}
