package team

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
)

func text(source, content string) *agents.Message { return agents.NewText(source, content) }

func TestTextMention(t *testing.T) {
	c := TextMention("TERMINATE")
	assert.Empty(t, c.Check([]*agents.Message{text("user", "say TERMINATE when done")}), "the task never triggers it")
	chunk := agents.NewEvent(agents.KindChunk, "coder")
	chunk.Content = "TERMINATE"
	assert.Empty(t, c.Check([]*agents.Message{chunk}), "events do not count")
	assert.Equal(t, "Text 'TERMINATE' mentioned", c.Check([]*agents.Message{text("coder", "done\nTERMINATE")}))

	only := TextMention("TERMINATE", "coder")
	assert.Empty(t, only.Check([]*agents.Message{text("planner", "TERMINATE")}))
	assert.NotEmpty(t, only.Check([]*agents.Message{text("coder", "TERMINATE")}))
}

func TestMaxMessages(t *testing.T) {
	c := MaxMessages(3)
	assert.Empty(t, c.Check([]*agents.Message{text("user", "task"), agents.NewEvent(agents.KindCodeExecution, "x")}))
	assert.Empty(t, c.Check([]*agents.Message{text("a", "1")}))
	assert.Equal(t, "Maximum number of messages 3 reached, current message count: 3", c.Check([]*agents.Message{text("b", "2")}))
	c.Reset()
	assert.Empty(t, c.Check([]*agents.Message{text("a", "1")}))
}

func TestTokenUsage(t *testing.T) {
	c := TokenUsage(100)
	m := text("coder", "x")
	m.Usage = &llm.Usage{PromptTokens: 60, CompletionTokens: 10}
	assert.Empty(t, c.Check([]*agents.Message{m}))
	assert.Equal(t, "Token usage limit reached, total token count: 140, prompt token count: 120, completion token count: 20.",
		c.Check([]*agents.Message{m}))
	c.Reset()
	assert.Empty(t, c.Check([]*agents.Message{m}))
}

func TestTimeout(t *testing.T) {
	c := Timeout(20 * time.Millisecond)
	c.Reset()
	assert.Empty(t, c.Check(nil))
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, "Timeout of 0.02 seconds reached", c.Check(nil))
	c.Reset()
	assert.Empty(t, c.Check(nil))
}

func TestExternal(t *testing.T) {
	c := External()
	assert.Empty(t, c.Check(nil))
	var wg sync.WaitGroup
	wg.Go(c.Stop)
	wg.Wait()
	assert.Equal(t, "External termination requested", c.Check(nil))
	c.Reset()
	assert.Empty(t, c.Check(nil))
}

func TestSourceMatch(t *testing.T) {
	c := SourceMatch("coder", "planner")
	assert.Empty(t, c.Check([]*agents.Message{text("executor", "x"), agents.NewEvent(agents.KindChunk, "coder")}))
	assert.Equal(t, "'planner' answered", c.Check([]*agents.Message{text("planner", "plan")}))
}

func TestOrAnd(t *testing.T) {
	or := Or(MaxMessages(2), TextMention("TERMINATE"))
	assert.Empty(t, or.Check([]*agents.Message{text("a", "hi")}))
	assert.Equal(t, "Maximum number of messages 2 reached, current message count: 2, Text 'TERMINATE' mentioned",
		or.Check([]*agents.Message{text("a", "TERMINATE")}))
	or.Reset()
	assert.Equal(t, "Text 'TERMINATE' mentioned", or.Check([]*agents.Message{text("a", "TERMINATE")}))

	and := And(MaxMessages(2), TextMention("TERMINATE"))
	assert.Empty(t, and.Check([]*agents.Message{text("a", "TERMINATE")}), "only one fired")
	assert.Equal(t, "Maximum number of messages 2 reached, current message count: 2; Text 'TERMINATE' mentioned",
		and.Check([]*agents.Message{text("a", "hi")}), "both fired by now")
	and.Reset()
	assert.Empty(t, and.Check([]*agents.Message{text("a", "TERMINATE")}))

	nested := Or(And(SourceMatch("b"), TextMention("x")), Func(func(msgs []*agents.Message) string {
		if len(msgs) > 2 {
			return "many"
		}
		return ""
	}))
	assert.Equal(t, "'b' answered; Text 'x' mentioned", nested.Check([]*agents.Message{text("b", "x")}))
	nested.Reset()
	assert.Equal(t, "many", Or(nested).Check([]*agents.Message{text("a", ""), text("a", ""), text("a", "")}))
}
