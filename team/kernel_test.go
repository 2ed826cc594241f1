package team_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/agenttest"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/internal/jupytertest"
	"github.com/agentteam/agentteam/team"
)

// The round-robin case with a real kernel: [assistant, code executor] with
// text-mention termination, then the same after Reset.
func TestRoundRobinHelloWorldRealKernel(t *testing.T) {
	srv := jupytertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := jupyter.NewClient(jupyter.ClientConfig{URL: srv.URL, Token: srv.Token})
	require.NoError(t, err)
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{Client: client})
	require.NoError(t, err)
	defer k.Close(context.Background())

	const program = "Here is the program\n```python\nprint(\"Hello, world!\")\n```"
	model := &agenttest.Model{Replies: []string{program, "TERMINATE", program, "TERMINATE"}}
	coder, err := agents.NewCoder(agents.AssistantConfig{Client: model})
	require.NoError(t, err)
	runner, err := agents.NewCodeExecutor(agents.CodeExecutorConfig{Executor: k})
	require.NoError(t, err)
	tm, err := team.New(team.Config{
		Agents:      []agents.Agent{coder, runner},
		Termination: team.TextMention("TERMINATE"),
	})
	require.NoError(t, err)

	want := []string{
		"user: Write a program that prints 'Hello, world!'",
		"coder: " + program,
		"executor: Hello, world!",
		"coder: TERMINATE",
	}
	for round := 0; round < 2; round++ {
		res, err := tm.Run(ctx, "Write a program that prints 'Hello, world!'")
		require.NoError(t, err)
		assert.Equal(t, want, chatContents(res), "round %d", round)
		assert.Equal(t, "Text 'TERMINATE' mentioned", res.StopReason)
		require.NoError(t, tm.Reset(ctx))
	}
}
