package emulator

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Listens reports whether the process pid, or a process of the group it leads, listens on the TCP port of
// 127.0.0.1. Tests that start a server on a port chosen free use it to tell the server from another process
// that bound the port first. It reads the socket tables and the file descriptors of /proc; where /proc does
// not tell (another operating system), it reports true.
func Listens(pid, port int) bool {
	inodes, ok := listenInodes(port)
	if !ok {
		return true
	}
	if len(inodes) == 0 {
		return false
	}
	if holdsSocket(pid, inodes) {
		return true
	}
	// A server may listen from a child in its process group.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid || processGroup(child) != pid {
			continue
		}
		if holdsSocket(child, inodes) {
			return true
		}
	}
	return false
}

// listenInodes returns the inodes of the sockets that listen on the port, from /proc/net/tcp and tcp6; ok is
// false when neither table can be read.
func listenInodes(port int) (inodes map[string]bool, ok bool) {
	inodes = map[string]bool{}
	hexPort := strings.ToUpper(strconv.FormatInt(int64(port), 16))
	for len(hexPort) < 4 {
		hexPort = "0" + hexPort
	}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		ok = true
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			if _, p, found := strings.Cut(f[1], ":"); found && p == hexPort {
				inodes[f[9]] = true
			}
		}
	}
	return inodes, ok
}

// holdsSocket reports whether the process has one of the socket inodes open.
func holdsSocket(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if inode, found := strings.CutPrefix(link, "socket:["); found && inodes[strings.TrimSuffix(inode, "]")] {
			return true
		}
	}
	return false
}

// processGroup returns the process group of the process, from /proc/PID/stat, or -1.
func processGroup(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return -1
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return -1
	}
	return pgrp
}
