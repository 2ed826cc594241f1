package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/local"
	"github.com/agentteam/agentteam/executor/session"
	"github.com/agentteam/agentteam/internal/jupytertest"
)

// BenchmarkColdExec measures the cold path of `agentteam exec -c`: start an
// embedded server and a kernel, run one cell, shut everything down.
func BenchmarkColdExec(b *testing.B) {
	for _, sandboxed := range []bool{true, false} {
		name := "sandbox=on"
		if !sandboxed {
			name = "sandbox=off"
		}
		b.Run(name, func(b *testing.B) {
			jupytertest.Require(b)
			work := b.TempDir()
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				s, err := session.Open(ctx, session.Config{WorkDir: work, Sandbox: local.SandboxConfig{Disabled: !sandboxed}})
				if err != nil {
					cancel()
					b.Fatal(err)
				}
				res, err := s.Execute(ctx, executor.Request{Code: "print(1)"})
				if err != nil || res.Text() != "1" {
					b.Fatalf("execute: %v %v", err, res)
				}
				if err := s.Close(ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}
