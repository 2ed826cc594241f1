// Command tools shows Go functions as tools of an agent: the model (here a
// replay of recorded answers, so it runs offline) calls two tools in
// parallel, reads their results and answers. Swap the replay for
// openai.New to use a real model.
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

// StatsIn is what the model passes to the stats tool.
type StatsIn struct {
	Values []float64 `json:"values" jsonschema:"the numbers to summarize"`
}

// StatsOut is what the stats tool returns.
type StatsOut struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// ConvertIn is what the model passes to the convert tool.
type ConvertIn struct {
	Celsius float64 `json:"celsius" jsonschema:"a temperature in degrees Celsius"`
}

func stats(_ context.Context, in StatsIn) (StatsOut, error) {
	if len(in.Values) == 0 {
		return StatsOut{}, fmt.Errorf("no values given")
	}
	out := StatsOut{N: len(in.Values), Max: in.Values[0]}
	for _, v := range in.Values {
		out.Mean += v
		out.Max = max(out.Max, v)
	}
	out.Mean /= float64(len(in.Values))
	return out, nil
}

func toFahrenheit(_ context.Context, in ConvertIn) (string, error) {
	return fmt.Sprintf("%.1f F", in.Celsius*9/5+32), nil
}

func run(ctx context.Context, w io.Writer) error {
	statsTool, err := agents.NewFunctionTool("stats", "Count, mean and maximum of a list of numbers.", stats)
	if err != nil {
		return err
	}
	convert, err := agents.NewFunctionTool("to_fahrenheit", "Convert Celsius to Fahrenheit.", toFahrenheit)
	if err != nil {
		return err
	}
	model := llm.NewReplayResponses(
		llm.Response{Content: "Let me compute both.", ToolCalls: []llm.ToolCall{
			{Name: "stats", Arguments: `{"values": [18.5, 21, 24.5]}`},
			{Name: "to_fahrenheit", Arguments: `{"celsius": 24.5}`},
		}},
		llm.Response{Content: "Over 3 days the mean was 21.3 C; the warmest day reached 24.5 C (76.1 F). TERMINATE"},
	)
	analyst, err := agents.NewAssistant(agents.AssistantConfig{
		Name: "analyst", Client: model, SystemPrompt: "Answer with the help of your tools.",
		Tools: []agents.Tool{statsTool, convert}, ReflectOnToolUse: true,
	})
	if err != nil {
		return err
	}
	tm, err := team.New(team.Config{Agents: []agents.Agent{analyst}, Termination: team.TextMention("TERMINATE"), MaxTurns: 3})
	if err != nil {
		return err
	}
	for m, err := range tm.Stream(ctx, "Temperatures were 18.5, 21 and 24.5 C. Summarize them, with the maximum in Fahrenheit too.") {
		if err != nil {
			return err
		}
		switch m.Kind {
		case agents.KindToolCall:
			for _, c := range m.ToolCalls {
				fmt.Fprintf(w, "%s calls %s(%s)\n", m.Source, c.Name, c.Arguments)
			}
		case agents.KindToolResult:
			for _, r := range m.ToolResults {
				fmt.Fprintf(w, "  %s -> %s\n", r.Name, r.Content)
			}
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
