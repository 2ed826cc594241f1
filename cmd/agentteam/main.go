// Command agentteam runs a team of AI agents that solve tasks by writing
// Python and running it in a stateful Jupyter kernel.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A closed stdout (agentteam solve ... | head -1) must not kill the
	// run before its outputs are written: with SIGPIPE caught, a write to
	// the closed pipe fails with EPIPE instead, and the run goes on. (A
	// handled signal, unlike an ignored one, is reset for the kernels and
	// servers agentteam starts.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
