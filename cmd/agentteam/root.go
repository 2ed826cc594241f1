package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Main runs the command tree with the given arguments and streams and
// returns the process exit status. Tests call it directly.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err != nil {
		if cmd == root || cmd == nil {
			err = rootError(root, err)
		}
		err = withHelpHint(cmd, err)
		if msg := errorLine(err); msg != "" {
			io.WriteString(stderr, errorPrefix(stderr)+msg+"\n")
		}
		return exitCode(err)
	}
	return 0
}

// rootError makes an unknown command a one-line usage error with a
// suggestion.
func rootError(root *cobra.Command, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command ") {
		return err
	}
	name := ""
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.IndexByte(msg[i+1:], '"'); j >= 0 {
			name = msg[i+1 : i+1+j]
		}
	}
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return usageErrorf("unknown command %q: did you mean %q?", name, closest(name, s))
	}
	return usageErrorf("unknown command %q", name)
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "agentteam",
		Short:         "A team of AI agents that solve tasks in a stateful Jupyter kernel",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCmd(), newExecCmd(), newSolveCmd(), newEvalCmd(), newServeCmd(), newConfigCmd())
	// Bad flags and arguments are usage errors: exit 2, one line, a hint.
	root.SetFlagErrorFunc(flagError)
	for _, c := range root.Commands() {
		if c.Args != nil {
			c.Args = usageArgs(c.Args)
		}
	}
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agentteam version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), "agentteam "+version+"\n")
			return err
		},
	}
}

// exitCode maps an error to a process exit status; commands wrap errors in
// exitError to pick one.
func exitCode(err error) int {
	if e, ok := err.(interface{ ExitCode() int }); ok {
		return e.ExitCode()
	}
	return 1
}

// errorPrefix starts an error line: red on a terminal, so that it stands
// out (not with NO_COLOR).
func errorPrefix(w io.Writer) string {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if _, noColor := os.LookupEnv("NO_COLOR"); !noColor && os.Getenv("TERM") != "dumb" {
			return "\x1b[1;91magentteam:\x1b[0m "
		}
	}
	return "agentteam: "
}

// closest is the candidate fewest edits away from name, a swap of two
// neighbouring letters counting as one edit ("slove" is "solve", not
// "serve").
func closest(name string, candidates []string) string {
	best, bestD := candidates[0], -1
	for _, c := range candidates {
		if d := swapDistance(name, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// swapDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours.
func swapDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
