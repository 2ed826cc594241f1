package jupyter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ErrTooLarge is returned when a file is longer than the caller's limit.
var ErrTooLarge = errors.New("file larger than the limit")

// DownloadTo streams the file at remotePath (relative to the server's root
// directory) into w through the server's /files/ handler, never holding it
// in memory, and stops with ErrTooLarge once more than max bytes came
// (what was written by then stays written; max <= 0 means no limit). It
// returns the bytes written. A server without a /files/ handler (Kernel
// Gateway) gives an *APIError with status 404.
func (c *Client) DownloadTo(ctx context.Context, remotePath string, w io.Writer, max int64) (int64, error) {
	clean := strings.Trim(path.Clean("/"+remotePath), "/")
	if clean == "" || clean == "." {
		return 0, fmt.Errorf("download: empty file path")
	}
	parts := strings.Split(clean, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	p := "files/" + strings.Join(parts, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(c.base, p), nil)
	if err != nil {
		return 0, fmt.Errorf("jupyter GET %s: %s", p, c.redact(err.Error()))
	}
	req.Header = c.header()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, c.transportError(ctx, http.MethodGet, p, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return 0, fmt.Errorf("%w (GET %s at %s)", ErrUnauthorized, p, c.URL())
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, &APIError{Method: http.MethodGet, Path: p, StatusCode: resp.StatusCode, Message: c.redact(serverMessage(data))}
	}
	if max > 0 && resp.ContentLength > max {
		return 0, fmt.Errorf("download %s: %d bytes: %w of %d bytes", clean, resp.ContentLength, ErrTooLarge, max)
	}
	var body io.Reader = resp.Body
	if max > 0 {
		body = io.LimitReader(resp.Body, max)
	}
	n, err := io.Copy(w, body)
	if err != nil {
		if ctx.Err() != nil {
			return n, fmt.Errorf("download %s: %w", clean, ctx.Err())
		}
		return n, fmt.Errorf("download %s: %s", clean, c.redact(err.Error()))
	}
	if max > 0 && n == max {
		if m, _ := io.ReadFull(resp.Body, make([]byte, 1)); m > 0 {
			return n, fmt.Errorf("download %s: %w of %d bytes", clean, ErrTooLarge, max)
		}
	}
	return n, nil
}
