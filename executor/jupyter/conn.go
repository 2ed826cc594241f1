package jupyter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Reasons a request's wait ends early, delivered as item.err.
var (
	errKernelRestarted = errors.New("the kernel died and the server restarted it")
	errKernelDead      = errors.New("the kernel died and could not be restarted")
	errConnLost        = errors.New("lost the connection to the kernel")
	// errKernelShutdown: the kernel announced on iopub that it is shutting
	// down for a request that is not this client's: a restart or shutdown
	// through the server's REST API, which sends no status of its own.
	errKernelShutdown = errors.New("the kernel is shutting down (restarted or shut down from outside)")
)

// item is what a waiting request receives: a message for it, or an error
// that ends the wait.
type item struct {
	msg *message
	err error
}

// inbox is an unbounded queue of items for one request, so the reader never
// blocks on a slow consumer.
type inbox struct {
	mu     sync.Mutex
	items  []item
	seen   map[string]struct{} // msg_ids delivered, to drop replayed duplicates
	notify chan struct{}
}

func newInbox() *inbox {
	return &inbox{seen: map[string]struct{}{}, notify: make(chan struct{}, 1)}
}

func (b *inbox) push(it item) {
	b.mu.Lock()
	if it.msg != nil {
		if _, dup := b.seen[it.msg.Header.MsgID]; dup {
			b.mu.Unlock()
			return
		}
		b.seen[it.msg.Header.MsgID] = struct{}{}
	}
	b.items = append(b.items, it)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []item {
	b.mu.Lock()
	defer b.mu.Unlock()
	it := b.items
	b.items = nil
	return it
}

// conn is the websocket to one kernel: one reader goroutine that routes
// messages by parent msg_id, one writer goroutine, pings, and reconnection
// with the same session id (the server replays what it buffered).
type conn struct {
	c        *Client
	kernelID string
	session  string
	log      *slog.Logger
	lim      decodeLimits

	mu       sync.Mutex
	ws       *websocket.Conn
	pending  map[string]*inbox
	event    error // kernel-level event not yet consumed (restarted/dead/lost)
	down     error // set when the connection is gone for good
	closing  bool
	attached chan struct{} // closed and replaced on every (re)connect

	out    chan outFrame
	quit   chan struct{}
	ctx    context.Context // cancelled by close, bounds redials
	cancel context.CancelFunc
	done   chan struct{} // reader finished
}

// maxFrameBytes is the largest websocket frame read; a larger one closes the
// connection.
const maxFrameBytes = 1 << 30

// writeTimeout bounds one websocket write.
const writeTimeout = 20 * time.Second

type outFrame struct {
	data []byte
	done chan error
}

func (c *Client) dialer() *websocket.Dialer {
	d := &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		Jar:              c.hc.Jar,
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  16 << 10,
		Proxy:            http.ProxyFromEnvironment,
	}
	if t, ok := c.hc.Transport.(*http.Transport); ok && t != nil {
		d.TLSClientConfig = t.TLSClientConfig
		if t.Proxy != nil {
			d.Proxy = t.Proxy
		}
	}
	nd := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	// TLS (wss) is layered by the websocket library on top of what this
	// returns, so the wrapped TCP connection stays underneath.
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return c.dialNet(ctx, nd, network, addr)
	}
	if c.cfg.UnixSocket != "" {
		d.Proxy = nil
	}
	return d
}

// dial opens the kernel's channels websocket.
func (c *Client) dial(ctx context.Context, kernelID, session string) (*websocket.Conn, error) {
	u := c.endpoint(c.wsBase, "api/kernels/"+url.PathEscape(kernelID)+"/channels") + "?session_id=" + url.QueryEscape(session)
	d := c.dialer()
	if _, ok := ctx.Deadline(); ok {
		// The caller's limit (a kernel's start timeout, say) bounds the
		// handshake; a fixed one would cut a slow start short of it.
		d.HandshakeTimeout = 0
	}
	ws, resp, err := d.DialContext(ctx, u, c.header())
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		switch {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return nil, fmt.Errorf("%w (kernel websocket at %s)", ErrUnauthorized, c.URL())
		case code == http.StatusNotFound:
			return nil, fmt.Errorf("%w: %s (shut down, culled, or on another server)", ErrKernelNotFound, kernelID)
		case code != 0:
			return nil, fmt.Errorf("kernel websocket at %s: HTTP %d", c.URL(), code)
		}
		return nil, c.transportError(ctx, "GET", "api/kernels/"+kernelID+"/channels", err)
	}
	// Frames are decoded as they are read and capped while reading, so
	// their size costs time, not memory.
	ws.SetReadLimit(maxFrameBytes)
	return ws, nil
}

func (c *Client) openConn(ctx context.Context, kernelID string, lim decodeLimits, log *slog.Logger) (*conn, error) {
	session := newID()
	ws, err := c.dial(ctx, kernelID, session)
	if err != nil {
		return nil, err
	}
	k := &conn{
		c: c, kernelID: kernelID, session: session, log: log, lim: lim,
		ws: ws, pending: map[string]*inbox{}, attached: make(chan struct{}),
		out: make(chan outFrame), quit: make(chan struct{}), done: make(chan struct{}),
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.setupConn(ws)
	go k.readLoop()
	go k.writeLoop()
	return k, nil
}

func (k *conn) readTimeout() time.Duration {
	if k.c.cfg.PingInterval < 0 {
		return 0
	}
	return 3 * k.c.cfg.PingInterval
}

func (k *conn) setupConn(ws *websocket.Conn) {
	if rt := k.readTimeout(); rt > 0 {
		_ = ws.SetReadDeadline(time.Now().Add(rt))
		ws.SetPongHandler(func(string) error {
			return ws.SetReadDeadline(time.Now().Add(rt))
		})
	}
}

// register starts routing replies to msgID into the returned inbox.
func (k *conn) register(msgID string) *inbox {
	b := newInbox()
	k.mu.Lock()
	k.pending[msgID] = b
	k.mu.Unlock()
	return b
}

// registerInto routes replies to msgID into an existing inbox too.
func (k *conn) registerInto(msgID string, b *inbox) {
	k.mu.Lock()
	k.pending[msgID] = b
	k.mu.Unlock()
}

func (k *conn) unregister(msgID string) {
	k.mu.Lock()
	delete(k.pending, msgID)
	k.mu.Unlock()
}

// takeEvent returns and clears the last kernel-level event.
func (k *conn) takeEvent() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.event
	k.event = nil
	return e
}

// broken reports why the connection is unusable, or nil.
func (k *conn) broken() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.down
}

// send writes a message through the writer goroutine. A context that is
// already done sends nothing. Once the writer has taken the message, send
// waits for the write to finish whatever ctx does, so that an error return
// means the message was not sent: a caller that sees ctx.Err() with a nil
// error knows it was, and must interrupt what it started.
func (k *conn) send(ctx context.Context, m outMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f := outFrame{data: data, done: make(chan error, 1)}
	select {
	case k.out <- f:
	case <-k.quit:
		return errConnLost
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-f.done
}

func (k *conn) current() (*websocket.Conn, chan struct{}) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ws, k.attached
}

func (k *conn) writeLoop() {
	var ping <-chan time.Time
	if k.c.cfg.PingInterval > 0 {
		t := time.NewTicker(k.c.cfg.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-k.quit:
			return
		case f := <-k.out:
			ws, _ := k.current()
			_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			err := ws.WriteMessage(websocket.TextMessage, f.data)
			if err != nil {
				// The reader notices the broken socket and reconnects;
				// retry once on the new one.
				if nws, ok := k.waitReattach(ws, 15*time.Second); ok {
					_ = nws.SetWriteDeadline(time.Now().Add(writeTimeout))
					err = nws.WriteMessage(websocket.TextMessage, f.data)
				}
			}
			f.done <- err
		case <-ping:
			ws, _ := k.current()
			_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second))
		}
	}
}

// waitReattach waits until the connection was replaced after old broke.
func (k *conn) waitReattach(old *websocket.Conn, limit time.Duration) (*websocket.Conn, bool) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		ws, attached := k.current()
		if ws != old {
			return ws, true
		}
		if k.broken() != nil {
			return nil, false
		}
		select {
		case <-attached:
		case <-k.quit:
			return nil, false
		case <-deadline.C:
			return nil, false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (k *conn) readLoop() {
	defer close(k.done)
	dec := newDecoder(k.lim)
	for {
		ws, _ := k.current()
		typ, r, err := ws.NextReader()
		if err == nil && typ != websocket.TextMessage {
			// Binary frames (the v1 protocol, which is not offered) are
			// skipped.
			_, err = io.Copy(io.Discard, r)
			continue
		}
		var m message
		if err == nil {
			err = dec.decodeSized(r, frameRemaining(ws), &m)
			if errors.Is(err, errSyntax) {
				// Skip the rest of a frame that is not a kernel message.
				k.log.Debug("undecodable kernel message", "err", err)
				if _, err = io.Copy(io.Discard, r); err == nil {
					continue
				}
			}
		}
		if err != nil {
			k.mu.Lock()
			closing := k.closing
			k.mu.Unlock()
			if closing {
				return
			}
			k.log.Debug("kernel websocket dropped; reconnecting", "kernel", k.kernelID, "err", k.c.redact(err.Error()))
			if !k.reconnect(ws) {
				return
			}
			continue
		}
		if rt := k.readTimeout(); rt > 0 {
			_ = ws.SetReadDeadline(time.Now().Add(rt))
		}
		k.route(&m)
	}
}

func (k *conn) route(m *message) {
	if m.Header.MsgType == "status" && m.Channel == "iopub" {
		st := m.Content
		var ev error
		switch st.ExecutionState {
		case "restarting", "autorestarting":
			ev = errKernelRestarted
		case "dead":
			ev = errKernelDead
		}
		if ev != nil {
			k.log.Debug("kernel status", "kernel", k.kernelID, "state", st.ExecutionState)
			k.broadcast(ev, true)
			return
		}
	}
	k.mu.Lock()
	b := k.pending[m.ParentHeader.MsgID]
	k.mu.Unlock()
	if b != nil {
		b.push(item{msg: m})
		return
	}
	if m.Header.MsgType == "shutdown_reply" && m.Channel == "iopub" {
		// ipykernel tells every client of a shutdown; this one did not ask
		// for it. Kept for the next request even when one is pending: the
		// pending one may have been sent to the old process or the new.
		k.log.Debug("kernel shutting down at another's request", "kernel", k.kernelID)
		k.mu.Lock()
		if k.event == nil {
			k.event = errKernelShutdown
		}
		k.mu.Unlock()
		k.broadcast(errKernelShutdown, false)
	}
}

// broadcast ends every pending wait with err; remember keeps it for the next
// request when none is pending.
func (k *conn) broadcast(err error, remember bool) {
	k.mu.Lock()
	boxes := make([]*inbox, 0, len(k.pending))
	for _, b := range k.pending {
		boxes = append(boxes, b)
	}
	if remember && len(boxes) == 0 {
		k.event = err
	}
	k.mu.Unlock()
	for _, b := range boxes {
		b.push(item{err: err})
	}
}

// reconnect redials with the same session id for a while. It returns false
// when the connection is gone for good (pending waits then get an error).
func (k *conn) reconnect(old *websocket.Conn) bool {
	_ = old.Close()
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(k.c.cfg.ReconnectTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-k.quit:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(k.ctx, 5*time.Second)
		ws, err := k.c.dial(ctx, k.kernelID, k.session)
		cancel()
		if err == nil {
			k.setupConn(ws)
			k.mu.Lock()
			if k.closing {
				k.mu.Unlock()
				_ = ws.Close()
				return false
			}
			k.ws = ws
			close(k.attached)
			k.attached = make(chan struct{})
			k.mu.Unlock()
			k.log.Debug("kernel websocket reconnected", "kernel", k.kernelID)
			return true
		}
		lastErr = err
		if errors.Is(err, ErrKernelNotFound) || errors.Is(err, ErrUnauthorized) {
			break
		}
		select {
		case <-k.quit:
			return false
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
	var down error
	if errors.Is(lastErr, ErrKernelNotFound) {
		down = fmt.Errorf("%w: %w", errKernelDead, lastErr)
	} else {
		down = fmt.Errorf("%w: %w", errConnLost, lastErr)
	}
	k.mu.Lock()
	k.down = down
	k.mu.Unlock()
	k.broadcast(down, true)
	return false
}

// close shuts the websocket; pending waits get errConnLost.
func (k *conn) close() {
	k.mu.Lock()
	if k.closing {
		k.mu.Unlock()
		return
	}
	k.closing = true
	ws := k.ws
	k.mu.Unlock()
	close(k.quit)
	k.cancel()
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = ws.Close()
	<-k.done
	k.broadcast(errConnLost, false)
}

// frameRemaining is the number of payload bytes left in the frame the
// websocket is reading, or -1 when unknown. The websocket library keeps it
// in an unexported field, read here through reflection (read only); if the
// library changes, the decoder just does without the hint.
func frameRemaining(ws *websocket.Conn) int64 {
	v := reflect.ValueOf(ws).Elem().FieldByName("readRemaining")
	if !v.IsValid() || v.Kind() != reflect.Int64 {
		return -1
	}
	return v.Int()
}
