package local

import "syscall"

// serverProcAttr puts the server in its own process group and kills it
// when this process dies.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
