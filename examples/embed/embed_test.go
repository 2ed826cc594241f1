package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// The example runs as a program, against a remote server and embedded.
func TestEmbedExample(t *testing.T) {
	jupytertest.Require(t)
	bin := t.TempDir() + "/embed"
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))

	srv := jupytertest.Start(t)
	for name, env := range map[string][]string{
		"remote":   {"AGENTTEAM_JUPYTER_URL=" + srv.URL, "AGENTTEAM_JUPYTER_TOKEN=" + srv.Token},
		"embedded": {"AGENTTEAM_JUPYTER_URL=", "AGENTTEAM_JUPYTER_TOKEN="},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Equal(t, "user: Write a Python program that prints 'Hello, world!'\n"+
				"planner: 1. Print the greeting.\n"+
				"coder: Here is the program\n```python\nprint(\"Hello, world!\")\n```\n"+
				"executor: Hello, world!\n"+
				"planner: It printed the greeting. TERMINATE\n"+
				"stopped: finished\n"+
				"answer: It printed the greeting.\n", string(out))
		})
	}
}
