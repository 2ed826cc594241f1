package local

import (
	"context"
	"syscall"
	"time"
)

func serverProcAttr() *syscall.SysProcAttr { return nil }

// killAll kills the server; kernels it started may survive it (there are
// no process groups to signal here).
func (s *Server) killAll(time.Duration) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
}

// WaitKernelsExit cannot tell here when the kernels have exited.
func (s *Server) WaitKernelsExit(context.Context) bool { return false }
