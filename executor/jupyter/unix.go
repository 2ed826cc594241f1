package jupyter

import (
	"context"
	"net"
	"net/http"
	"time"
)

// useUnixSocket makes hc dial the unix socket at path for every request,
// whatever the URL's host (the URL then only gives the scheme and path).
func useUnixSocket(hc *http.Client, path string) {
	var base *http.Transport
	if t, ok := hc.Transport.(*http.Transport); ok && t != nil {
		base = t.Clone()
	} else {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	base.Proxy = nil
	base.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: 30 * time.Second}
		return d.DialContext(ctx, "unix", path)
	}
	hc.Transport = base
}

// dialNet opens the network connection under a kernel websocket: the
// configured unix socket, or TCP (with the quick-ack wrapper unless it is
// turned off).
func (c *Client) dialNet(ctx context.Context, nd *net.Dialer, network, addr string) (net.Conn, error) {
	if c.cfg.UnixSocket != "" {
		return nd.DialContext(ctx, "unix", c.cfg.UnixSocket)
	}
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil || c.cfg.DisableQuickAck {
		return nc, err
	}
	return wrapQuickAck(nc), nil
}
