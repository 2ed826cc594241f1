// Command agentteam runs a team of AI agents that solve tasks by writing
// Python and running it in a stateful Jupyter kernel.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
