package team

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
	"github.com/agentteam/agentteam/llm/tokens"
)

// DefaultSelectorPrompt is the selector's prompt. {roles} is replaced by
// the agents' names and descriptions, {participants} by the candidates'
// names, and {history} by the conversation.
const DefaultSelectorPrompt = `You choose who speaks next in a team working on a task.

The team members and what they do:
{roles}

The conversation so far:
{history}

Who should speak next? Choose exactly one of: {participants}.
Answer with the name only.`

// SelectorConfig configures a Selector team: Config, and how the next
// speaker is chosen. Client is required unless SelectorFunc always
// chooses.
type SelectorConfig struct {
	Config
	// Client is the model that chooses the next speaker.
	Client llm.Client
	// Prompt replaces DefaultSelectorPrompt.
	Prompt string
	// AllowRepeat lets the last speaker speak again (default false: it is
	// not a candidate, unless it is the only agent).
	AllowRepeat bool
	// MaxAttempts bounds the model's tries to name a valid candidate
	// (default 3); then the previous speaker, or else the first candidate,
	// speaks.
	MaxAttempts int
	// CandidateFunc, when set, returns the names of the candidates for the
	// next turn from the conversation so far (chat messages); empty or nil
	// means every agent. One candidate speaks without asking the model.
	CandidateFunc func(thread []*agents.Message) []string
	// SelectorFunc, when set, chooses the next speaker itself; "" leaves
	// the choice to the model.
	SelectorFunc func(thread []*agents.Message) string
	// MaxHistory bounds the conversation shown to the model to its last
	// messages (0: all of it); each message is clipped to 2000 characters.
	MaxHistory int
	// MaxHistoryTokens bounds the conversation shown to the model by tokens,
	// counted for Client's model (an estimate that never counts low where
	// its tokenizer is unknown): the newest messages are kept while they
	// fit, the next one is cut in the middle to fill what is left, and the
	// older ones are left out with a note saying how many. 0: no bound.
	MaxHistoryTokens int
}

// Selector is a team in which a model chooses who speaks next from the
// agents' names and descriptions and the conversation (like AutoGen's
// SelectorGroupChat). It runs, streams, stops, saves and loads state, and
// is cancelled exactly like RoundRobin. The choice is streamed as a
// KindSelectSpeaker event that carries the model's usage.
type Selector struct{ *group }

type group = RoundRobin

// ErrUnknownSpeaker is returned when a selector or candidate function names
// an agent that is not in the team.
var ErrUnknownSpeaker = errors.New("no agent of that name in the team")

// NewSelector returns a Selector team.
func NewSelector(cfg SelectorConfig) (*Selector, error) {
	if cfg.Client == nil && cfg.SelectorFunc == nil {
		return nil, errors.New("team: a selector needs a Client (or a SelectorFunc)")
	}
	g, err := New(cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Prompt == "" {
		cfg.Prompt = DefaultSelectorPrompt
	}
	sel := &selector{cfg: cfg, g: g}
	g.kind = "selector"
	g.choose = sel.choose
	g.after = func(i int, _ *agents.Message) (int, error) { return i, nil }
	return &Selector{g}, nil
}

type selector struct {
	cfg SelectorConfig
	g   *RoundRobin
}

func (s *selector) event(name string, u *llm.Usage) *agents.Message {
	ev := agents.NewEvent(agents.KindSelectSpeaker, s.g.name)
	ev.Content = name
	ev.Usage = u
	return ev
}

func (s *selector) choose(ctx context.Context, thread []*agents.Message, prev int) (int, *agents.Message, error) {
	g := s.g
	if f := s.cfg.SelectorFunc; f != nil {
		if name := f(thread); name != "" {
			i := g.index(name)
			if i < 0 {
				return 0, nil, fmt.Errorf("the selector function chose %q: %w", name, ErrUnknownSpeaker)
			}
			return i, s.event(name, nil), nil
		}
		if s.cfg.Client == nil {
			return 0, nil, errors.New("the selector function chose nobody and there is no model to ask")
		}
	}
	var cands []int
	if f := s.cfg.CandidateFunc; f != nil {
		for _, name := range f(thread) {
			i := g.index(name)
			if i < 0 {
				return 0, nil, fmt.Errorf("the candidate function named %q: %w", name, ErrUnknownSpeaker)
			}
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		for i := range g.agents {
			if i != prev || s.cfg.AllowRepeat || len(g.agents) == 1 {
				cands = append(cands, i)
			}
		}
	}
	if len(cands) == 1 {
		return cands[0], s.event(g.agents[cands[0]].Name(), nil), nil
	}
	names := make([]string, len(cands))
	for k, i := range cands {
		names[k] = g.agents[i].Name()
	}
	msgs := []llm.Message{{Role: llm.RoleSystem, Content: s.prompt(thread, names)}}
	var usage llm.Usage
	for attempt := 1; attempt <= s.cfg.MaxAttempts; attempt++ {
		resp, err := s.cfg.Client.Complete(ctx, llm.Request{Messages: msgs})
		if err != nil {
			return 0, nil, fmt.Errorf("selector model: %w", err)
		}
		usage = usage.Add(resp.Usage)
		found := mentioned(resp.Content, g.agents)
		var valid []int
		for _, i := range found {
			for _, c := range cands {
				if i == c {
					valid = append(valid, i)
				}
			}
		}
		if len(found) == 1 && len(valid) == 1 {
			return valid[0], s.event(g.agents[valid[0]].Name(), &usage), nil
		}
		var fb string
		switch {
		case len(found) == 0:
			fb = "No valid name was mentioned."
		case len(found) > 1:
			fb = "Several names were mentioned."
		default:
			fb = fmt.Sprintf("%s cannot speak now.", g.agents[found[0]].Name())
		}
		g.log.Debug("selector answer not usable", "attempt", attempt, "answer", resp.Content)
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: resp.Content},
			llm.Message{Role: llm.RoleUser, Content: fb + " Answer with exactly one of: " + strings.Join(names, ", ") + "."})
	}
	pick := cands[0]
	if prev >= 0 {
		pick = prev
	}
	g.log.Debug("selector gave no valid name; falling back", "speaker", g.agents[pick].Name())
	return pick, s.event(g.agents[pick].Name(), &usage), nil
}

func (s *selector) prompt(thread []*agents.Message, names []string) string {
	var roles strings.Builder
	for _, a := range s.g.agents {
		fmt.Fprintf(&roles, "%s: %s\n", a.Name(), a.Description())
	}
	h := thread
	if s.cfg.MaxHistory > 0 && len(h) > s.cfg.MaxHistory {
		h = h[len(h)-s.cfg.MaxHistory:]
	}
	lines := make([]string, len(h))
	for i, m := range h {
		text := agents.ChatText(m)
		if len(text) > 2000 {
			text = text[:2000] + "…"
		}
		lines[i] = fmt.Sprintf("%s: %s\n", m.Source, text)
	}
	if s.cfg.MaxHistoryTokens > 0 && s.cfg.Client != nil {
		lines = fitTokens(lines, s.cfg.MaxHistoryTokens, tokens.ForModel(s.cfg.Client.ModelName()))
	}
	var hist strings.Builder
	for _, l := range lines {
		hist.WriteString(l)
	}
	r := strings.NewReplacer("{roles}", strings.TrimRight(roles.String(), "\n"),
		"{participants}", strings.Join(names, ", "), "{history}", strings.TrimRight(hist.String(), "\n"))
	return r.Replace(s.cfg.Prompt)
}

// fitTokens keeps the newest lines within budget tokens: whole while they
// fit, the next cut in the middle to what is left, and a note in place of
// the older ones.
func fitTokens(lines []string, budget int, tc tokens.Counter) []string {
	used, i := 0, len(lines)
	for i > 0 {
		n := tc.Count(lines[i-1])
		if used+n > budget {
			break
		}
		used += n
		i--
	}
	if i == 0 {
		return lines
	}
	kept := lines[i:]
	left := i
	// What is left of the budget, in bytes at the line's own ratio, for a
	// cut of the next older line (when there is room for more than the
	// marker).
	if room := budget - used - 32; room > 32 {
		l := lines[i-1]
		cut, _ := executor.TruncateText(l, len(l)*room/max(tc.Count(l), 1))
		for cut != l && tc.Count(cut) > budget-used && len(cut) > 64 {
			cut, _ = executor.TruncateText(l, len(cut)*3/4)
		}
		if tc.Count(cut) <= budget-used {
			kept = append([]string{strings.TrimRight(cut, "\n") + "\n"}, kept...)
			left--
		}
	}
	if left > 0 {
		kept = append([]string{fmt.Sprintf("[%d earlier messages left out]\n", left)}, kept...)
	}
	return kept
}

// mentioned returns the agents whose names appear as words in text.
func mentioned(text string, as []agents.Agent) []int {
	var out []int
	for i, a := range as {
		re := regexp.MustCompile(`(^|[^\w])` + regexp.QuoteMeta(a.Name()) + `($|[^\w])`)
		if re.MatchString(text) {
			out = append(out, i)
		}
	}
	return out
}
