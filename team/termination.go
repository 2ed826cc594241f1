package team

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentteam/agentteam/agents"
)

// Condition decides when a run stops. The team calls Check with the task
// messages when a run starts and then after each turn with the messages of
// that turn (events and the response); a non-empty reason stops the run.
// Reset is called when a run starts. Conditions keep state (counts, start
// times): use a Condition with one team at a time.
type Condition interface {
	Check(msgs []*agents.Message) (reason string)
	Reset()
}

type textMention struct {
	text    string
	sources []string
}

// TextMention stops when a chat message from an agent contains text (the
// task messages never trigger it). With sources, only messages from those
// agents count.
func TextMention(text string, sources ...string) Condition {
	return &textMention{text: text, sources: sources}
}

func (c *textMention) Check(msgs []*agents.Message) string {
	for _, m := range msgs {
		if m.Kind != agents.KindText || m.Source == agents.SourceUser {
			continue
		}
		if len(c.sources) > 0 && !slices.Contains(c.sources, m.Source) {
			continue
		}
		if strings.Contains(m.Content, c.text) {
			return fmt.Sprintf("Text '%s' mentioned", c.text)
		}
	}
	return ""
}

func (c *textMention) Reset() {}

type maxMessages struct {
	max, count int
}

// MaxMessages stops when the run has n chat messages (the task included;
// events do not count).
func MaxMessages(n int) Condition { return &maxMessages{max: n} }

func (c *maxMessages) Check(msgs []*agents.Message) string {
	for _, m := range msgs {
		if !m.Kind.IsEvent() {
			c.count++
		}
	}
	if c.count >= c.max {
		return fmt.Sprintf("Maximum number of messages %d reached, current message count: %d", c.max, c.count)
	}
	return ""
}

func (c *maxMessages) Reset() { c.count = 0 }

type tokenUsage struct {
	max              int
	prompt, complete int
}

// TokenUsage stops when the model usage of the run (prompt plus completion
// tokens, summed over messages and events) reaches max.
func TokenUsage(max int) Condition { return &tokenUsage{max: max} }

func (c *tokenUsage) Check(msgs []*agents.Message) string {
	for _, m := range msgs {
		if m.Usage != nil {
			c.prompt += m.Usage.PromptTokens
			c.complete += m.Usage.CompletionTokens
		}
	}
	if total := c.prompt + c.complete; total >= c.max {
		return fmt.Sprintf("Token usage limit reached, total token count: %d, prompt token count: %d, completion token count: %d.",
			total, c.prompt, c.complete)
	}
	return ""
}

func (c *tokenUsage) Reset() { c.prompt, c.complete = 0, 0 }

type timeout struct {
	d     time.Duration
	start time.Time
}

// Timeout stops at the first check after d has passed since the run
// started. It does not interrupt a turn in progress: bound that with ctx.
func Timeout(d time.Duration) Condition { return &timeout{d: d} }

func (c *timeout) Check([]*agents.Message) string {
	if c.start.IsZero() {
		c.start = time.Now()
	}
	if time.Since(c.start) >= c.d {
		return fmt.Sprintf("Timeout of %g seconds reached", c.d.Seconds())
	}
	return ""
}

func (c *timeout) Reset() { c.start = time.Now() }

// ExternalCondition stops the run when Stop is called, from any goroutine.
type ExternalCondition struct {
	stopped atomic.Bool
}

// External returns a condition controlled by its Stop method. The run stops
// after the turn in progress ends; to interrupt the turn too, cancel ctx.
func External() *ExternalCondition { return &ExternalCondition{} }

// Stop requests the run to stop.
func (c *ExternalCondition) Stop() { c.stopped.Store(true) }

// Check implements Condition.
func (c *ExternalCondition) Check([]*agents.Message) string {
	if c.stopped.Load() {
		return "External termination requested"
	}
	return ""
}

// Reset implements Condition: a Stop before the run starts is forgotten.
func (c *ExternalCondition) Reset() { c.stopped.Store(false) }

type sourceMatch struct{ sources []string }

// SourceMatch stops when one of the named agents has answered.
func SourceMatch(sources ...string) Condition { return &sourceMatch{sources: sources} }

func (c *sourceMatch) Check(msgs []*agents.Message) string {
	for _, m := range msgs {
		if !m.Kind.IsEvent() && slices.Contains(c.sources, m.Source) {
			return fmt.Sprintf("'%s' answered", m.Source)
		}
	}
	return ""
}

func (c *sourceMatch) Reset() {}

type or struct{ conds []Condition }

// Or stops when any of the conditions does; the reasons of all that fired
// at once are joined with ", ".
func Or(conds ...Condition) Condition { return &or{conds: conds} }

func (c *or) Check(msgs []*agents.Message) string {
	var reasons []string
	for _, x := range c.conds {
		if r := x.Check(msgs); r != "" {
			reasons = append(reasons, r)
		}
	}
	return strings.Join(reasons, ", ")
}

func (c *or) Reset() {
	for _, x := range c.conds {
		x.Reset()
	}
}

type and struct {
	mu      sync.Mutex
	conds   []Condition
	reasons []string
}

// And stops once every condition has fired (not necessarily at the same
// check); the reasons are joined with "; ".
func And(conds ...Condition) Condition {
	return &and{conds: conds, reasons: make([]string, len(conds))}
}

func (c *and) Check(msgs []*agents.Message) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := true
	for i, x := range c.conds {
		if c.reasons[i] == "" {
			c.reasons[i] = x.Check(msgs)
		}
		if c.reasons[i] == "" {
			all = false
		}
	}
	if !all || len(c.conds) == 0 {
		return ""
	}
	return strings.Join(c.reasons, "; ")
}

func (c *and) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.conds {
		x.Reset()
		c.reasons[i] = ""
	}
}

// Func adapts a function to a Condition with no state.
type Func func(msgs []*agents.Message) string

// Check implements Condition.
func (f Func) Check(msgs []*agents.Message) string { return f(msgs) }

// Reset implements Condition.
func (Func) Reset() {}

type handoff struct{ target string }

// HandoffTermination stops when an agent hands off to target (e.g. "user",
// so that a person answers before the run continues).
func HandoffTermination(target string) Condition { return &handoff{target: target} }

func (c *handoff) Check(msgs []*agents.Message) string {
	for _, m := range msgs {
		if m.Kind == agents.KindHandoff && m.Target == c.target {
			return fmt.Sprintf("Handoff to %s from %s detected.", c.target, m.Source)
		}
	}
	return ""
}

func (c *handoff) Reset() {}
