// Command embed shows the agentteam runtime embedded in a Go program: a coder
// (here a replay of recorded model answers) and a code executor backed by a
// Jupyter kernel take turns until the coder says TERMINATE.
//
// The kernel runs on the server named by AGENTTEAM_JUPYTER_URL (and
// AGENTTEAM_JUPYTER_TOKEN), or on an embedded local jupyter-server when that
// is unset. Swap llm.NewReplay for openai.New to use a real model.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/team"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	model := llm.NewReplay(
		"Here is the program\n```python\nprint(\"Hello, world!\")\n```",
		"TERMINATE",
	)

	cfg := session.ConfigFromEnv()
	cfg.WorkDir, _ = os.MkdirTemp("", "agentteam-embed-")
	defer os.RemoveAll(cfg.WorkDir)
	kernel, err := session.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer kernel.Close(context.Background())

	coder, err := agents.NewCoder(agents.AssistantConfig{Client: model})
	if err != nil {
		log.Fatal(err)
	}
	runner, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: kernel})
	if err != nil {
		log.Fatal(err)
	}
	tm, err := team.New(team.Config{
		Agents:      []agents.Agent{coder, runner},
		Termination: team.Or(team.TextMention("TERMINATE"), team.MaxMessages(10)),
	})
	if err != nil {
		log.Fatal(err)
	}

	res, err := tm.Run(ctx, "Write a Python program that prints 'Hello, world!'")
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Messages {
		if !m.Kind.IsEvent() {
			fmt.Printf("%s: %s\n", m.Source, m.Content)
		}
	}
	fmt.Println("stop reason:", res.StopReason)
}
