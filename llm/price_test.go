package llm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/llm"
)

func TestPriceCost(t *testing.T) {
	p := llm.Price{Prompt: 2.5, Completion: 10, Cached: 1.25}
	u := llm.Usage{PromptTokens: 1_000_000, CachedTokens: 400_000, CompletionTokens: 100_000, ReasoningTokens: 60_000}
	assert.InDelta(t, 0.6*2.5+0.4*1.25+0.1*10, p.Cost(u), 1e-9)
	assert.InDelta(t, 2.5+1, llm.Price{Prompt: 2.5, Completion: 10}.Cost(llm.Usage{PromptTokens: 1e6, CachedTokens: 5e5, CompletionTokens: 1e5}), 1e-9, "no cached price: the prompt price")
	assert.Zero(t, p.Cost(llm.Usage{}))
}
