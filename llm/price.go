package llm

// Price is what a model's tokens cost, per million tokens, in the currency
// of the price table it comes from.
type Price struct {
	// Prompt prices prompt tokens that were not served from a cache.
	Prompt float64 `json:"prompt"`
	// Completion prices completion tokens (reasoning tokens included).
	Completion float64 `json:"completion"`
	// Cached prices cached prompt tokens; 0 means the Prompt price.
	Cached float64 `json:"cached,omitempty"`
}

// Cost is the price of a usage.
func (p Price) Cost(u Usage) float64 {
	cached := p.Cached
	if cached == 0 {
		cached = p.Prompt
	}
	fresh := max(u.PromptTokens-u.CachedTokens, 0)
	return (float64(fresh)*p.Prompt + float64(u.CachedTokens)*cached + float64(u.CompletionTokens)*p.Completion) / 1e6
}
