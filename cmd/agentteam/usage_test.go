package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// TestUsageErrors: every usage error exits 2 with one line on stderr that
// names the cause and gives a hint.
func TestUsageErrors(t *testing.T) {
	replayFile, err := filepath.Abs(filepath.Join("..", "..", "examples", "messy", "replay.md"))
	require.NoError(t, err)
	clearEnv(t)
	old := ollamaURL
	ollamaURL = "http://127.0.0.1:1/v1" // nothing listens there
	defer func() { ollamaURL = old }()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	replay := "replay:" + replayFile

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown flag", []string{"solve", "Clean data.csv", "--fil", "data.csv"},
			[]string{"unknown flag --fil", "did you mean --file?", "'agentteam solve --help'"}},
		{"unknown flag, prefix", []string{"solve", "x", "--mod", "m"}, []string{"did you mean --model?"}},
		{"unknown flag, nothing close", []string{"solve", "x", "--frobnicate"}, []string{"unknown flag --frobnicate", "--help"}},
		{"unknown shorthand", []string{"solve", "x", "-z"}, []string{"unknown flag -z", "--help"}},
		{"exec flag", []string{"exec", "--timout", "1s", "-c", "1"}, []string{"did you mean --timeout?", "'agentteam exec --help'"}},
		{"unquoted task", []string{"solve", "Clean", "the", "data"},
			[]string{"the task must be one argument", "quote it", `agentteam solve "Clean the data"`}},
		{"no task", []string{"solve"}, []string{"solve needs a task", `agentteam solve "`}},
		{"empty task", []string{"solve", "  "}, []string{"the task is empty"}},
		{"bad duration", []string{"solve", "x", "--timeout", "abc"},
			[]string{`invalid value "abc" for --timeout`, "a duration like 90s, 10m or 1h30m", "--help"}},
		{"bad number", []string{"solve", "x", "--max-turns", "many"}, []string{`invalid value "many" for --max-turns`, "a whole number like 30"}},
		{"bad bool", []string{"solve", "x", "--allow-network=maybe"}, []string{"--allow-network", "true or false"}},
		{"missing value", []string{"solve", "x", "--model"}, []string{"--model needs a value", "replay:FILE"}},
		{"unknown command", []string{"slove", "x"}, []string{`unknown command "slove"`, `did you mean "solve"?`, "'agentteam --help'"}},
		{"extra argument", []string{"version", "x"}, []string{"version takes no arguments", "--help"}},
		{"exec two files", []string{"exec", "a.py", "b.py"}, []string{"too many arguments", "--help"}},
		{"out is a file", []string{"solve", "x", "--model", replay, "--out", file},
			[]string{"cannot write the outputs to " + file, "it must be a directory", "choose another --out"}},
		{"out under a file", []string{"solve", "x", "--model", replay, "--out", filepath.Join(file, "out")},
			[]string{"cannot write the outputs", "choose another --out"}},
		{"out impossible", []string{"solve", "x", "--model", replay, "--out", "/proc/version/out"},
			[]string{"cannot write the outputs to /proc/version/out", "choose another --out"}},
		{"missing key", []string{"solve", "analyze data.csv", "--model", "gpt-4o-mini"},
			[]string{"no API key for the model gpt-4o-mini", "set OPENAI_API_KEY"}},
		{"no endpoint", []string{"solve", "x"}, []string{"no model endpoint configured", "replay:"}},
		{"bad base url", []string{"solve", "x", "--model", "m", "--base-url", "127.0.0.1:8080"},
			[]string{`malformed base URL "127.0.0.1:8080"`, "http://127.0.0.1:11434/v1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := runCLI(t, "", c.args...)
			assert.Equal(t, 2, r.code, "exit status: %s", r.stderr)
			assert.Empty(t, r.stdout)
			line := strings.TrimSuffix(r.stderr, "\n")
			assert.NotContains(t, line, "\n", "one line")
			assert.True(t, strings.HasPrefix(line, "agentteam: "), line)
			for _, w := range c.want {
				assert.Contains(t, line, w)
			}
			if c.name == "missing key" {
				assert.NotContains(t, line, "no model endpoint configured")
			}
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

func TestSolveHelpHasExamples(t *testing.T) {
	r := runCLI(t, "", "solve", "--help")
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Examples:")
	assert.Contains(t, r.stdout, `agentteam solve "Clean examples/messy/sales.csv`)
	assert.Contains(t, r.stdout, "--model replay:examples/messy/replay.md")
}

func TestErrorLineIsOneCause(t *testing.T) {
	cases := map[string]string{
		"team: planner: planner: model: model endpoint unreachable: dial tcp 127.0.0.1:9: connection refused": "model endpoint unreachable: dial tcp 127.0.0.1:9: connection refused",
		"team: executor: execute: kernel died":   "kernel died",
		"copy data.csv to the kernel: timeout":   "copy data.csv to the kernel: timeout",
		"cell 1 raised ValueError: \x1b]0;t\x07": "cell 1 raised ValueError: ^[]0;t^G",
		"two\nlines":                             "two lines",
	}
	for in, want := range cases {
		assert.Equal(t, want, errorLine(errorString(in)), in)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestCheckEndpoint(t *testing.T) {
	// An endpoint that serves no /models at all is not taken for down.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	require.NoError(t, checkEndpoint(context.Background(), srv.URL+"/v1"))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String() + "/v1"
	l.Close()
	start := time.Now()
	err = checkEndpoint(context.Background(), closed)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, "the model endpoint "+closed+" is unreachable: connection refused (is the server running?)", err.Error())
	assert.Equal(t, 1, exitCode(err))

	// Query strings and user info (which may hold keys) are not repeated.
	err = checkEndpoint(context.Background(), "http://user:pw@"+l.Addr().String()+"/v1?key=sekrit")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "sekrit")
	assert.NotContains(t, err.Error(), "pw")
}

// TestSolveUnreachableEndpointIsReportedAtOnce: before any kernel starts,
// in one line naming the endpoint.
func TestSolveUnreachableEndpointIsReportedAtOnce(t *testing.T) {
	jupytertest.Require(t)
	port, err := jupytertest.FreePort()
	require.NoError(t, err)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/v1"
	start := time.Now()
	r := runSolveBinary(t, t.TempDir(), []string{"OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=" + testKey}, "Hi", "--model", "m")
	took := time.Since(start)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "agentteam: the model endpoint "+url+" is unreachable: connection refused (is the server running?)\n", r.stderr)
	assert.Less(t, took, 5*time.Second, "reported within seconds, without starting a kernel")
	assert.NotContains(t, r.stdout, "starting a kernel")
}
