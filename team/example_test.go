package team_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/team"
)

// A coder and a code executor take turns until the coder says TERMINATE.
// (Here a scripted model and a stand-in executor; see examples/embed for a
// real kernel.)
func Example() {
	model := &agenttest.Model{Replies: []string{
		"Here is the program\n```python\nprint(\"Hello, world!\")\n```",
		"TERMINATE",
	}}
	kernel := &agenttest.Executor{Fn: func(_ context.Context, req executor.Request) (*executor.Result, error) {
		return agenttest.Stdout(req, "Hello, world!\n"), nil
	}}
	coder, _ := agents.NewCoder(agents.AssistantConfig{Client: model})
	runner, _ := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: kernel})
	tm, _ := team.New(team.Config{
		Agents:      []agents.Agent{coder, runner},
		Termination: team.Or(team.TextMention("TERMINATE"), team.MaxMessages(10)),
	})
	for m, err := range tm.Stream(context.Background(), "Print 'Hello, world!' in Python.") {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch m.Kind {
		case agents.KindText:
			fmt.Printf("%s: %s\n", m.Source, strings.ReplaceAll(m.Content, "\n", " "))
		case agents.KindStop:
			fmt.Println("stop:", m.Content)
		}
	}
	// Output:
	// user: Print 'Hello, world!' in Python.
	// coder: Here is the program ```python print("Hello, world!") ```
	// executor: Hello, world!
	// coder: TERMINATE
	// stop: Text 'TERMINATE' mentioned
}
