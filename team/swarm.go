package team

import (
	"context"
	"fmt"

	"github.com/agentteam/agentteam/agents"
)

// Swarm is a team in which the speaker decides who speaks next by handing
// off (like AutoGen's Swarm): an agent keeps the turn until its response is
// a KindHandoff message (see agents.Handoff), and then the target speaks.
// A handoff to the user ("user") does not change the speaker; stop the run
// there with HandoffTermination("user") and continue it with the person's
// answer as the task. The first agent speaks first, unless a task message
// is a handoff to another one. It runs, streams, stops, saves and loads
// state, and is cancelled exactly like RoundRobin.
type Swarm struct{ *group }

// NewSwarm returns a Swarm team.
func NewSwarm(cfg Config) (*Swarm, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	g.kind = "swarm"
	g.choose = func(_ context.Context, thread []*agents.Message, prev int) (int, *agents.Message, error) {
		// The target of the last handoff speaks (after a handoff to the
		// user, the agent that handed off); else the last speaker.
		for k := len(thread) - 1; k >= 0; k-- {
			m := thread[k]
			if m.Kind != agents.KindHandoff {
				continue
			}
			if i := g.index(m.Target); i >= 0 {
				return i, nil, nil
			}
			if i := g.index(m.Source); i >= 0 {
				return i, nil, nil
			}
			if m.Target != agents.SourceUser {
				return 0, nil, fmt.Errorf("a handoff to %q, who is not in the team", m.Target)
			}
		}
		if prev >= 0 {
			return prev, nil, nil
		}
		return 0, nil, nil
	}
	g.after = func(i int, resp *agents.Message) (int, error) { return i, nil }
	return &Swarm{g}, nil
}
