package agents

import "github.com/agentteam/agentteam/executor"

// ResultText renders the outputs of an execution as text for a model (see
// executor.Result.OutputsText).
func ResultText(r *executor.Result) string { return r.OutputsText() }

// clip keeps at most about max bytes of s: its head and tail with a note in
// between (see executor.TruncateText). max <= 0 means no bound.
func clip(s string, max int) string {
	out, _ := executor.TruncateText(s, max)
	return out
}
