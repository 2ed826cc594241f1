// Command embed shows the agentteam pipeline embedded in a Go program: a
// planner and a coder (here a replay of recorded model answers) and a code
// executor on a Jupyter kernel solve a task; the outputs (notebook, report,
// transcript, files) go to a directory of the run's own.
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
	"github.com/agentteam/agentteam/solve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	model := llm.NewReplay(
		"1. Print the greeting.",
		"Here is the program\n```python\nprint(\"Hello, world!\")\n```",
		"It printed the greeting. TERMINATE",
	)
	out, err := os.MkdirTemp("", "agentteam-embed-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(out)

	runner, err := solve.New(solve.Config{Model: model, Session: session.ConfigFromEnv(), OutDir: out})
	if err != nil {
		log.Fatal(err)
	}
	for ev, err := range runner.Run(ctx, solve.Task{Text: "Write a Python program that prints 'Hello, world!'"}) {
		if err != nil {
			log.Fatal(err)
		}
		switch {
		case ev.Type == solve.EventMessage && ev.Message.Kind == agents.KindText:
			fmt.Printf("%s: %s\n", ev.Message.Source, ev.Message.Content)
		case ev.Type == solve.EventSummary:
			fmt.Println("stopped:", ev.Summary.Reason)
			fmt.Println("answer:", ev.Summary.FinalAnswer)
		}
	}
}
