package team_test

import (
	"context"
	"iter"
	"testing"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/team"
)

// BenchmarkTurn measures the runtime's own cost of one agent turn: a
// scripted model (streamed word by word) and a no-op executor, so nothing
// but the team, the agents, extraction and message plumbing is measured.
// One op is one turn; coder and executor alternate.
func BenchmarkTurn(b *testing.B) {
	model := &agenttest.Model{Repeat: "Here is the next step.\n```python\nx = df.groupby('region')['amount'].sum()\nprint(x)\n```", NoRecord: true}
	coder, err := agents.NewCoder(agents.AssistantConfig{Client: model, MaxHistory: 20})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: nopExecutor{}})
	if err != nil {
		b.Fatal(err)
	}
	tm, err := team.New(team.Config{Agents: []agents.Agent{coder, ex}, MaxTurns: 1,
		Termination: team.Or(team.TextMention("TERMINATE"), team.MaxMessages(1<<30))})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tm.Run(ctx, "Sum the amounts by region."); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Run(ctx, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// nopExecutor runs nothing and reports success.
type nopExecutor struct{}

func (nopExecutor) Run(context.Context, executor.Request) iter.Seq2[executor.Event, error] {
	return func(yield func(executor.Event, error) bool) {
		yield(executor.Event{Result: &executor.Result{Status: executor.StatusOK}}, nil)
	}
}
func (nopExecutor) Restart(context.Context) error { return nil }
func (nopExecutor) Close(context.Context) error   { return nil }
