package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// endpointDialTimeout bounds the reachability check of a model endpoint.
var endpointDialTimeout = 2 * time.Second

// checkEndpoint reports an unreachable model endpoint within seconds, before
// any kernel is started: it opens a TCP connection to the endpoint's host
// and closes it. No request is sent, so an endpoint that does not serve
// /models (or charges for requests) is not misjudged. Behind a proxy
// (HTTPS_PROXY and the like) the check is left to the first request.
func checkEndpoint(ctx context.Context, baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return usageErrorf("the model base URL %q is not a URL like http://127.0.0.1:11434/v1", baseURL)
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: endpointDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: the caller reports that
		}
		return &exitError{code: 1, err: errors.New("the model endpoint " + displayURL(baseURL) + " is unreachable: " + dialReason(err))}
	}
	conn.Close()
	return nil
}

// dialReason says in a few words why a connection failed.
func dialReason(err error) string {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running?)"
	case errors.As(err, &dnsErr):
		return "no such host " + dnsErr.Name
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer within " + endpointDialTimeout.String()
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// displayURL is a URL without what may hold a secret: user info, query and
// fragment.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
