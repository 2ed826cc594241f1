// Package procs finds processes through /proc (Linux): by command line, and
// by session. The embedded server uses it to leave nothing behind, and the
// tests use it to check that nothing was left.
package procs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Matching lists the live processes (not this one, not zombies) whose
// command line contains substr.
func Matching(substr string) []int {
	var pids []int
	forEachProc(func(pid int, cmdline string, _ []string) {
		if strings.Contains(cmdline, substr) {
			pids = append(pids, pid)
		}
	})
	return pids
}

// SessionMembers lists the live processes in the session of pid.
func SessionMembers(pid int) []int {
	sid := statField(pid, 5)
	if sid <= 1 {
		return nil
	}
	var pids []int
	forEachProc(func(p int, _ string, stat []string) {
		if len(stat) > 5 {
			if v, _ := strconv.Atoi(stat[5]); v == sid {
				pids = append(pids, p)
			}
		}
	})
	return pids
}

// statField returns field i of /proc/pid/stat as split by statFields
// (5 is the session id).
func statField(pid, i int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := statFields(b)
	if len(f) <= i {
		return 0
	}
	v, _ := strconv.Atoi(f[i])
	return v
}

// statFields splits /proc/pid/stat after the ")" that ends the command:
// index 0 is pid, 1 comm, 2 state, 3 ppid, 4 pgrp, 5 session.
func statFields(b []byte) []string {
	end := bytes.LastIndexByte(b, ')')
	start := bytes.IndexByte(b, '(')
	if end < 0 || start < 0 {
		return nil
	}
	rest := strings.Fields(string(b[end+1:]))
	return append([]string{strings.TrimSpace(string(b[:start])), string(b[start+1 : end])}, rest...)
}

func forEachProc(fn func(pid int, cmdline string, stat []string)) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := statFields(stat)
		if len(f) > 2 && f[2] == "Z" {
			continue
		}
		fn(pid, strings.ReplaceAll(string(cmd), "\x00", " "), f)
	}
}

// Alive reports whether pid is a live process (it exists and is not a
// zombie).
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := statFields(b)
	return len(f) > 2 && f[2] != "Z" && f[2] != "X"
}
