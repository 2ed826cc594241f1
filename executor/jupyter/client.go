// Package jupyter runs code in kernels of a remote Jupyter Server or Jupyter
// Kernel Gateway: Client speaks the REST API, Kernel holds one kernel's
// websocket and implements executor.Executor.
package jupyter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Errors callers branch on; they are wrapped with detail, use errors.Is.
var (
	// ErrUnauthorized: the server refused the token (HTTP 401 or 403).
	ErrUnauthorized = errors.New("jupyter server refused the request (HTTP 401/403): check the token")
	// ErrServerUnreachable: nothing answers at the URL (connection refused,
	// unknown host, timeout).
	ErrServerUnreachable = errors.New("jupyter server unreachable")
	// ErrNoSuchKernelSpec: the server has no kernel spec of that name.
	ErrNoSuchKernelSpec = errors.New("no such kernel spec")
	// ErrKernelNotFound: the server does not know the kernel (it was shut
	// down or culled, or it lives on another replica).
	ErrKernelNotFound = errors.New("kernel not found")
	// ErrListingForbidden: the server does not allow listing kernels (Kernel
	// Gateway with kernel listing turned off); the token itself works.
	ErrListingForbidden = errors.New("the server does not allow listing kernels")
	// ErrNoContentsAPI: the server has no contents API (Kernel Gateway), so
	// files cannot be transferred through it.
	ErrNoContentsAPI = errors.New("server has no contents API")
)

// APIError is an unexpected HTTP status from the server.
type APIError struct {
	Method     string
	Path       string // path below the base URL
	StatusCode int
	Message    string // the server's message, if any
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("jupyter %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// UnauthorizedError is ErrUnauthorized with the status the server answered.
type UnauthorizedError struct {
	StatusCode   int
	Method, Path string
	URL          string // the server, without its token
}

func (e *UnauthorizedError) Error() string {
	return fmt.Sprintf("jupyter server refused the token (HTTP %d): check the token (%s %s at %s)", e.StatusCode, e.Method, e.Path, e.URL)
}

func (e *UnauthorizedError) Unwrap() error { return ErrUnauthorized }

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the server's base URL, with any path prefix:
	// http://127.0.0.1:8888/ or https://host/jupyter/. A token given as
	// ?token=... is taken out of the URL and used as Token.
	URL string
	// Token is sent as "Authorization: token ..."; empty sends none.
	Token string
	// Headers are added to every request, websockets included (e.g. for a
	// proxy in front of the server).
	Headers http.Header
	// HTTPClient is used for REST calls; nil means a client without overall
	// timeout (calls are bounded by their contexts). Its Transport's TLS
	// and proxy settings are used for websockets too. When it has no cookie
	// jar one is added, so that cookies set by the server (e.g. for session
	// affinity behind a load balancer) are sent back, on websockets too.
	HTTPClient *http.Client
	// Logger receives debug logs; nil discards them. Tokens never appear in
	// them.
	Logger *slog.Logger
	// DisableQuickAck turns off re-arming TCP_QUICKACK on kernel websockets
	// (Linux). Only useful for comparing latency.
	DisableQuickAck bool
	// PingInterval is how often kernel websockets are pinged to keep them
	// alive and to notice dead connections; zero means 20s, negative none.
	PingInterval time.Duration
	// ReconnectTimeout is how long a dropped kernel websocket is redialed
	// (same session, so the server replays missed output) before running
	// executions fail; zero means 15s.
	ReconnectTimeout time.Duration
	// RequestTimeout bounds each REST call that the caller's context leaves
	// unbounded; zero means 30s.
	RequestTimeout time.Duration
	// UnixSocket, when set, is the path of a unix socket every request and
	// websocket goes to (a server started with --ServerApp.sock); URL then
	// gives only the scheme and path prefix, e.g. http://localhost/.
	UnixSocket string
}

// Client is a client of one Jupyter Server or Kernel Gateway. It is safe for
// concurrent use.
type Client struct {
	cfg    ClientConfig
	base   *url.URL // ends with "/"
	wsBase *url.URL
	token  string
	hc     *http.Client
	log    *slog.Logger
}

// NewClient checks the configuration; it does not contact the server.
func NewClient(cfg ClientConfig) (*Client, error) {
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		return nil, errors.New("jupyter: no server URL given")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jupyter: malformed server URL %q: expected e.g. http://host:8888/", redactURL(raw))
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("jupyter: malformed server URL %q: scheme must be http or https, e.g. http://host:8888/", redactURL(raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("jupyter: malformed server URL %q: no host", redactURL(raw))
	}
	if p := u.Port(); p != "" {
		for _, r := range p {
			if r < '0' || r > '9' {
				return nil, fmt.Errorf("jupyter: malformed server URL %q: bad port", redactURL(raw))
			}
		}
	}
	token := cfg.Token
	if q := u.Query(); q.Get("token") != "" {
		if token == "" {
			token = q.Get("token")
		}
		q.Del("token")
		u.RawQuery = q.Encode()
	}
	u.RawQuery = ""
	u.Fragment = ""
	u.User = nil
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	ws := *u
	if u.Scheme == "https" {
		ws.Scheme = "wss"
	} else {
		ws.Scheme = "ws"
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	if hc.Jar == nil {
		hc.Jar, _ = cookiejar.New(nil)
	}
	if cfg.UnixSocket != "" {
		useUnixSocket(&hc, cfg.UnixSocket)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.ReconnectTimeout <= 0 {
		cfg.ReconnectTimeout = 15 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 20 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Token = ""
	return &Client{cfg: cfg, base: u, wsBase: &ws, token: token, hc: &hc, log: log}, nil
}

// URL returns the server's base URL (never with a token).
func (c *Client) URL() string { return c.base.String() }

// endpoint returns the absolute URL of an API path below the base URL.
func (c *Client) endpoint(base *url.URL, p string) string {
	u := *base
	if i := strings.IndexByte(p, '?'); i >= 0 {
		u.RawQuery = p[i+1:]
		p = p[:i]
	}
	u.Path = base.Path + strings.TrimPrefix(p, "/")
	return u.String()
}

// header returns the headers sent with every request.
func (c *Client) header() http.Header {
	h := http.Header{}
	for k, v := range c.cfg.Headers {
		h[k] = append([]string(nil), v...)
	}
	if c.token != "" {
		h.Set("Authorization", "token "+c.token)
	}
	return h
}

// redact removes the token from s.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.token, "[token]")
	if q := url.QueryEscape(c.token); q != c.token {
		s = strings.ReplaceAll(s, q, "[token]")
	}
	return s
}

// redactURL strips credentials and query from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		if i := strings.Index(raw, "@"); i >= 0 {
			raw = raw[i+1:]
		}
		return raw
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok && c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(c.base, path), rd)
	if err != nil {
		return 0, fmt.Errorf("jupyter %s %s: %s", method, path, c.redact(err.Error()))
	}
	req.Header = c.header()
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, c.transportError(ctx, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	c.log.Debug("jupyter request", "method", method, "path", path, "status", resp.StatusCode, "took", time.Since(start))
	if err != nil {
		return resp.StatusCode, c.transportError(ctx, method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return resp.StatusCode, &UnauthorizedError{StatusCode: resp.StatusCode, Method: method, Path: path, URL: c.URL()}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: c.redact(serverMessage(data))}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("jupyter %s %s: unexpected answer from %s (is it a Jupyter server?): %v", method, path, c.URL(), err)
		}
	}
	return resp.StatusCode, nil
}

// transportError turns a failed request into a one-line error naming the
// server without its token.
func (c *Client) transportError(ctx context.Context, method, path string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("jupyter %s %s: %w", method, path, ctx.Err())
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("%w at %s: %s", ErrServerUnreachable, c.URL(), c.redact(rootCause(err)))
	}
	return fmt.Errorf("jupyter %s %s at %s: %s", method, path, c.URL(), c.redact(rootCause(err)))
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
			continue
		}
		if _, ok := err.(*net.OpError); ok {
			return err.Error()
		}
		err = u
	}
}

func serverMessage(data []byte) string {
	var m struct {
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if json.Unmarshal(data, &m) == nil {
		if m.Message != "" {
			return m.Message
		}
		return m.Reason
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if strings.Contains(s, "<html") || strings.Contains(s, "<!DOCTYPE") {
		return ""
	}
	return s
}

// KernelSpec describes one kernel spec.
type KernelSpec struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Language    string `json:"language"`
}

// KernelSpecs is the server's kernel specs and its default.
type KernelSpecs struct {
	Default string
	Specs   map[string]KernelSpec
}

// Names lists the spec names, sorted.
func (s *KernelSpecs) Names() []string {
	var n []string
	for k := range s.Specs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// KernelSpecs lists the server's kernel specs.
func (c *Client) KernelSpecs(ctx context.Context) (*KernelSpecs, error) {
	var raw struct {
		Default     string `json:"default"`
		Kernelspecs map[string]struct {
			Name string `json:"name"`
			Spec struct {
				DisplayName string `json:"display_name"`
				Language    string `json:"language"`
			} `json:"spec"`
		} `json:"kernelspecs"`
	}
	if _, err := c.do(ctx, http.MethodGet, "api/kernelspecs", nil, &raw); err != nil {
		return nil, err
	}
	out := &KernelSpecs{Default: raw.Default, Specs: map[string]KernelSpec{}}
	for name, s := range raw.Kernelspecs {
		if s.Name != "" {
			name = s.Name
		}
		out.Specs[name] = KernelSpec{Name: name, DisplayName: s.Spec.DisplayName, Language: s.Spec.Language}
	}
	return out, nil
}

// KernelInfo is a kernel as the server describes it.
type KernelInfo struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	LastActivity   string `json:"last_activity,omitempty"`
	ExecutionState string `json:"execution_state,omitempty"`
	Connections    int    `json:"connections,omitempty"`
}

// ListKernels lists the running kernels. A server that forbids listing
// (Kernel Gateway with listing off) gives ErrListingForbidden; nothing else
// here needs listing (use GetKernel for one kernel).
func (c *Client) ListKernels(ctx context.Context) ([]KernelInfo, error) {
	var ks []KernelInfo
	code, err := c.do(ctx, http.MethodGet, "api/kernels", nil, &ks)
	if err != nil {
		if code == http.StatusForbidden {
			// Kernel Gateway forbids listing while the token works: tell
			// the two apart.
			if _, serr := c.KernelSpecs(ctx); serr == nil {
				return nil, fmt.Errorf("%w (%s)", ErrListingForbidden, c.URL())
			}
		}
		return nil, err
	}
	return ks, nil
}

// StartKernel starts a kernel of the named spec ("" = the server's default).
// An unknown name gives ErrNoSuchKernelSpec listing the available ones.
func (c *Client) StartKernel(ctx context.Context, name string) (*KernelInfo, error) {
	return c.StartKernelAt(ctx, name, "")
}

// StartKernelAt is StartKernel with the kernel's working directory: dir,
// relative to the server's root directory, must exist. "" sends no path,
// and the server picks the directory (jupyter-server: its process's cwd,
// which is not its root directory when it was started with a root_dir).
func (c *Client) StartKernelAt(ctx context.Context, name, dir string) (*KernelInfo, error) {
	body := map[string]any{}
	if name != "" {
		body["name"] = name
	}
	if dir != "" {
		body["path"] = strings.Trim(path.Clean("/"+dir), "/")
	}
	var k KernelInfo
	code, err := c.do(ctx, http.MethodPost, "api/kernels", body, &k)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (code == http.StatusNotFound || code == http.StatusBadRequest || code == http.StatusInternalServerError) {
			if specs, serr := c.KernelSpecs(ctx); serr == nil {
				if _, ok := specs.Specs[name]; !ok {
					return nil, fmt.Errorf("%w: %q (available: %s)", ErrNoSuchKernelSpec, name, strings.Join(specs.Names(), ", "))
				}
			}
		}
		return nil, fmt.Errorf("start kernel %q: %w", name, err)
	}
	if k.ID == "" {
		return nil, fmt.Errorf("start kernel %q: the server returned no kernel id", name)
	}
	c.log.Debug("kernel started", "id", k.ID, "name", k.Name)
	return &k, nil
}

func (c *Client) kernelCall(ctx context.Context, method, id, action string, out any) error {
	if id == "" {
		return fmt.Errorf("%w: empty kernel id", ErrKernelNotFound)
	}
	p := "api/kernels/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	code, err := c.do(ctx, method, p, nil, out)
	if err != nil && code == http.StatusNotFound {
		return fmt.Errorf("%w: %s (shut down, culled, or on another server)", ErrKernelNotFound, id)
	}
	return err
}

// GetKernel describes one kernel; ErrKernelNotFound when it is gone.
func (c *Client) GetKernel(ctx context.Context, id string) (*KernelInfo, error) {
	var k KernelInfo
	if err := c.kernelCall(ctx, http.MethodGet, id, "", &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// InterruptKernel sends the kernel an interrupt (SIGINT or its interrupt
// message).
func (c *Client) InterruptKernel(ctx context.Context, id string) error {
	return c.kernelCall(ctx, http.MethodPost, id, "interrupt", nil)
}

// RestartKernel restarts the kernel: same id, all state lost.
func (c *Client) RestartKernel(ctx context.Context, id string) error {
	return c.kernelCall(ctx, http.MethodPost, id, "restart", nil)
}

// DeleteKernel shuts the kernel down. A kernel that is already gone is not an
// error.
func (c *Client) DeleteKernel(ctx context.Context, id string) error {
	err := c.kernelCall(ctx, http.MethodDelete, id, "", nil)
	if errors.Is(err, ErrKernelNotFound) {
		return nil
	}
	return err
}
