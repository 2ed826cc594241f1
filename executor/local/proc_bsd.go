//go:build unix && !linux

package local

import "syscall"

// serverProcAttr puts the server in its own process group. There is no
// parent-death signal here: a server whose parent was killed keeps running
// until stopped.
func serverProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
