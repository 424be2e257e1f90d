package emulator

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Listens reports whether the process pid listens on the TCP port (on any local address). Tests that start a
// server on a port chosen free use it to tell the server from another process that bound the port first. It
// reads the socket tables and the process's file descriptors in /proc; where /proc does not tell (another
// operating system), it reports true.
func Listens(pid, port int) bool {
	inodes, ok := listenInodes(port)
	if !ok {
		return true
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue
		}
		if inode, found := strings.CutPrefix(link, "socket:["); found && inodes[strings.TrimSuffix(inode, "]")] {
			return true
		}
	}
	return false
}

// listenInodes returns the inodes of the sockets that listen on the port, from /proc/net/tcp and tcp6; ok is
// false when neither table can be read.
func listenInodes(port int) (inodes map[string]bool, ok bool) {
	inodes = map[string]bool{}
	hexPort := fmt.Sprintf("%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		ok = true
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...; the
		// header's st is "st", a listening socket's 0A.
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			if _, p, found := strings.Cut(f[1], ":"); found && p == hexPort {
				inodes[f[9]] = true
			}
		}
	}
	return inodes, ok
}
