package jupyter

import (
	"context"
	"testing"

	"github.com/agentteam/agentteam/executor"
)

// BenchmarkExecuteTiny measures the round trip of a tiny cell on a real
// jupyter-server, with and without re-arming TCP_QUICKACK.
func BenchmarkExecuteTiny(b *testing.B) {
	for _, tc := range []struct {
		name    string
		disable bool
	}{{"quickack=on", false}, {"quickack=off", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := realClient(b, func(cfg *ClientConfig) { cfg.DisableQuickAck = tc.disable })
			ctx := context.Background()
			k, err := NewKernel(ctx, KernelConfig{Client: c})
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close(ctx)
			req := executor.Request{Code: "x = 1"}
			if _, err := k.Execute(ctx, req); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				res, err := k.Execute(ctx, req)
				if err != nil || !res.OK() {
					b.Fatalf("execute: %v %v", err, res)
				}
			}
		})
	}
}
