//go:build linux

package jupyter

import (
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAckConn re-arms TCP_QUICKACK around every read and write. Linux falls
// back to delayed ACKs after each exchange, and Tornado-based servers do not
// set TCP_NODELAY, so without this each small message burst from the server
// can wait for our delayed ACK (~40 ms).
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func wrapQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{Conn: c, raw: raw}
	q.arm()
	quickAckWrapped.Add(1)
	return q
}

func (c *quickAckConn) arm() {
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}

func (c *quickAckConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.arm()
	return n, err
}

func (c *quickAckConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.arm()
	return n, err
}

// quickAckWrapped counts wrapped connections (for tests).
var quickAckWrapped atomic.Int64

// quickAckSupported reports whether wrapQuickAck does anything here.
const quickAckSupported = true
