//go:build !linux

package jupyter

import "net"

func wrapQuickAck(c net.Conn) net.Conn { return c }

const quickAckSupported = false
