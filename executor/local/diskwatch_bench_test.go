//go:build linux

package local

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDiskWatchUsage measures one measurement of a work directory of
// 10,000 files in 100 directories (the cost the watcher pays per poll).
func BenchmarkDiskWatchUsage(b *testing.B) {
	dir := b.TempDir()
	for d := 0; d < 100; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", f)), []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	w := &diskWatch{dir: dir, runtime: "/nonexistent-runtime-dir", limit: 1 << 30, log: slog.New(slog.DiscardHandler)}
	b.ResetTimer()
	for range b.N {
		if _, err := w.usage(nil); err != nil {
			b.Fatal(err)
		}
	}
}
