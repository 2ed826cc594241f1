//go:build unix

package local

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/agentteam/agentteam/internal/procs"
)

// killAll asks the server to stop (waiting at most grace), then kills what
// is left: the server's
// process group, every kernel (found by our runtime dir in its command
// line), every process in a kernel's session, and every process in the
// sandbox's cgroups.
func (s *Server) killAll(grace time.Duration) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	kernels := procs.Matching(s.runtime)
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	kernels = append(kernels, procs.Matching(s.runtime)...)
	victims := map[int]bool{}
	for _, pid := range kernels {
		victims[pid] = true
		for _, p := range procs.SessionMembers(pid) {
			victims[p] = true
		}
	}
	if s.sandbox != nil {
		for _, p := range s.sandbox.processes() {
			victims[p] = true
		}
	}
	for pid := range victims {
		if pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
	if s.sandbox != nil {
		s.sandbox.waitEmpty()
	}
}

// WaitKernelsExit waits until every kernel process of this server has
// exited (after each was asked to shut down), checking every few
// milliseconds, until ctx ends. It reports whether they all exited.
func (s *Server) WaitKernelsExit(ctx context.Context) bool {
	if s.cmd == nil || s.cmd.Process == nil {
		return true
	}
	pids := procs.Matching(s.runtime)
	for {
		live := pids[:0]
		for _, p := range pids {
			if procs.Alive(p) {
				live = append(live, p)
			}
		}
		pids = live
		if len(pids) == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
}
