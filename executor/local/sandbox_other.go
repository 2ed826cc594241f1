//go:build !linux

package local

import (
	"log/slog"
	"runtime"
)

type sandbox struct{ workDir, jupyterPath string }

func newSandbox(cfg Config, s *Server) (*sandbox, error) {
	return nil, missing("kernel sandbox", "it needs Linux (bubblewrap, namespaces, seccomp); this is %s", runtime.GOOS)
}

func (sb *sandbox) processes() []int                  { return nil }
func (sb *sandbox) waitEmpty()                        {}
func (sb *sandbox) cleanup() error                    { return nil }
func (sb *sandbox) deathCause(kernelID string) string { return "" }
func (sb *sandbox) limitNotes() []string              { return nil }
func (sb *sandbox) limitSummary() []string            { return nil }
func mountedUnder(dir string) bool                    { return false }
func writeOwner(dir string) error                     { return nil }
func sweepStale(log *slog.Logger)                     {}
