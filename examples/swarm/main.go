// Command swarm shows a Swarm team with a person in the loop: a travel
// agent hands a refund request to the refunds agent, which asks the user
// for the booking number by handing off to "user". The run stops there
// (HandoffTermination), the person's answer (scripted here, read from the
// terminal in a real program) continues it, and the refunds agent finishes.
// Models are replays of recorded answers, so it runs offline.
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

// RefundIn is what the model passes to the refund tool.
type RefundIn struct {
	Booking string `json:"booking" jsonschema:"the booking number"`
}

func run(ctx context.Context, w io.Writer, answers []string) error {
	refund, err := agents.NewFunctionTool("refund_flight", "Refund a flight booking.", func(_ context.Context, in RefundIn) (string, error) {
		return "Booking " + in.Booking + " refunded: 240 EUR.", nil
	})
	if err != nil {
		return err
	}
	travel, err := agents.NewAssistant(agents.AssistantConfig{
		Name: "travel_agent", Description: "Plans trips; hands refunds to refunds_agent.",
		Client:   llm.NewReplayResponses(llm.ToolCallReply("transfer_to_refunds_agent", map[string]string{})),
		Handoffs: []agents.Handoff{{Target: "refunds_agent", Description: "For refunds."}},
	})
	if err != nil {
		return err
	}
	refunds, err := agents.NewAssistant(agents.AssistantConfig{
		Name: "refunds_agent", Description: "Refunds flights; asks the user for what it needs.",
		Client: llm.NewReplayResponses(
			llm.Response{Content: "What is your booking number?", ToolCalls: []llm.ToolCall{{Name: "transfer_to_user"}}},
			llm.ToolCallReply("refund_flight", RefundIn{Booking: "XK42"}),
			llm.Response{Content: "Your booking XK42 was refunded: 240 EUR. TERMINATE"},
		),
		Tools:            []agents.Tool{refund},
		Handoffs:         []agents.Handoff{{Target: agents.SourceUser, Description: "Ask the user.", Message: "What is your booking number?"}},
		ReflectOnToolUse: true,
	})
	if err != nil {
		return err
	}
	tm, err := team.NewSwarm(team.Config{
		Agents:      []agents.Agent{travel, refunds},
		Termination: team.Or(team.HandoffTermination(agents.SourceUser), team.TextMention("TERMINATE")),
	})
	if err != nil {
		return err
	}
	task := "I want a refund for my flight."
	for {
		res, err := tm.Run(ctx, task)
		if err != nil {
			return err
		}
		for _, m := range res.Messages {
			switch m.Kind {
			case agents.KindText:
				fmt.Fprintf(w, "%s: %s\n", m.Source, strings.TrimSpace(m.Content))
			case agents.KindHandoff:
				fmt.Fprintf(w, "%s hands off to %s: %s\n", m.Source, m.Target, m.Content)
			case agents.KindToolCall:
				for _, c := range m.ToolCalls {
					fmt.Fprintf(w, "%s calls %s\n", m.Source, c.Name)
				}
			}
		}
		fmt.Fprintf(w, "stop reason: %s\n", res.StopReason)
		if !strings.HasPrefix(res.StopReason, "Handoff to user") || len(answers) == 0 {
			return nil
		}
		task, answers = answers[0], answers[1:]
	}
}

func main() {
	if err := run(context.Background(), os.Stdout, []string{"It is XK42."}); err != nil {
		log.Fatal(err)
	}
}
