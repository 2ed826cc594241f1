// Command selector shows a Selector team: a model chooses who speaks next
// from the agents' names and descriptions and the conversation. Every model
// here is a replay of recorded answers, so it runs offline; swap them for
// openai.New to use real ones.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/team"
)

func run(ctx context.Context, w io.Writer) error {
	mk := func(name, desc string, replies ...string) (agents.Agent, error) {
		return agents.NewAssistant(agents.AssistantConfig{Name: name, Description: desc, Client: llm.NewReplay(replies...)})
	}
	planner, err := mk("planner", "Breaks the question into steps and says who should do each.",
		"1. The researcher finds the population figures. 2. The writer answers in one sentence.")
	if err != nil {
		return err
	}
	researcher, err := mk("researcher", "Looks up facts and figures.",
		"Oslo had about 709,000 inhabitants in 2023; Bergen about 291,000.")
	if err != nil {
		return err
	}
	writer, err := mk("writer", "Writes the final answer for the user.",
		"Oslo (about 709,000 people) is roughly 2.4 times as populous as Bergen (about 291,000). DONE")
	if err != nil {
		return err
	}
	// The selector's answers: who speaks after the planner, then after the
	// researcher. The first turn goes to the planner by a selector
	// function; later turns are left to the model.
	chooser := llm.NewReplay("researcher", "The writer should answer now: writer")
	tm, err := team.NewSelector(team.SelectorConfig{
		Config: team.Config{Agents: []agents.Agent{planner, researcher, writer},
			Termination: team.Or(team.TextMention("DONE"), team.MaxMessages(10))},
		Client: chooser,
		SelectorFunc: func(thread []*agents.Message) string {
			if len(thread) == 1 {
				return "planner"
			}
			return ""
		},
	})
	if err != nil {
		return err
	}
	for m, err := range tm.Stream(ctx, "How much larger is Oslo than Bergen, by population?") {
		if err != nil {
			return err
		}
		switch m.Kind {
		case agents.KindSelectSpeaker:
			fmt.Fprintf(w, "-> next speaker: %s\n", m.Content)
		case agents.KindText:
			fmt.Fprintf(w, "%s: %s\n", m.Source, strings.TrimSpace(m.Content))
		case agents.KindStop:
			fmt.Fprintf(w, "stop reason: %s\n", m.Content)
		}
	}
	return nil
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}
