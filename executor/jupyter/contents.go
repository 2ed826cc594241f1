package jupyter

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/agentteam/agentteam/executor"
)

// FileInfo is an entry of a directory listing of the contents API.
type FileInfo struct {
	Name         string    `json:"name"`
	Path         string    `json:"path"`
	Type         string    `json:"type"` // "file", "directory" or "notebook"
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

type contentsModel struct {
	Name         string          `json:"name"`
	Path         string          `json:"path"`
	Type         string          `json:"type"`
	Format       string          `json:"format"`
	Size         *int64          `json:"size"`
	LastModified time.Time       `json:"last_modified"`
	Content      any             `json:"content"`
	Entries      []contentsModel `json:"-"`
}

func contentsPath(p string) string {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" || p == "." {
		return "api/contents"
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "api/contents/" + strings.Join(parts, "/")
}

// contentsErr maps a contents API failure: 404/405 on the API root means
// there is none (Kernel Gateway).
func (c *Client) contentsErr(ctx context.Context, code int, err error, what string) error {
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		// Tell "no such file" from "no contents API" by asking for the root.
		if code == http.StatusMethodNotAllowed || !c.hasContentsAPI(ctx) {
			return fmt.Errorf("%s: %w at %s", what, ErrNoContentsAPI, c.URL())
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *Client) hasContentsAPI(ctx context.Context) bool {
	code, err := c.do(ctx, http.MethodGet, "api/contents?content=0", nil, nil)
	return err == nil && code == http.StatusOK
}

// UploadFile writes data to remotePath (relative to the server's root
// directory), creating missing directories. ErrNoContentsAPI when the
// server has none.
func (c *Client) UploadFile(ctx context.Context, remotePath string, data []byte) error {
	clean := strings.Trim(path.Clean("/"+remotePath), "/")
	if clean == "" || clean == "." {
		return fmt.Errorf("upload: empty file path")
	}
	if dir := path.Dir(clean); dir != "." {
		if err := c.mkdirAll(ctx, dir); err != nil {
			return fmt.Errorf("upload %s: %w", clean, err)
		}
	}
	body := map[string]any{
		"type":    "file",
		"format":  "base64",
		"content": base64.StdEncoding.EncodeToString(data),
	}
	code, err := c.do(ctx, http.MethodPut, contentsPath(clean), body, nil)
	if err != nil {
		return c.contentsErr(ctx, code, err, "upload "+clean)
	}
	return nil
}

func (c *Client) mkdirAll(ctx context.Context, dir string) error {
	var cur string
	for _, part := range strings.Split(dir, "/") {
		cur = path.Join(cur, part)
		var m contentsModel
		code, err := c.do(ctx, http.MethodGet, contentsPath(cur)+"?content=0", nil, &m)
		if err == nil {
			if m.Type != "directory" {
				return fmt.Errorf("%s exists and is not a directory", cur)
			}
			continue
		}
		if code != http.StatusNotFound {
			return c.contentsErr(ctx, code, err, "mkdir "+cur)
		}
		code, err = c.do(ctx, http.MethodPut, contentsPath(cur), map[string]any{"type": "directory"}, nil)
		if err != nil {
			return c.contentsErr(ctx, code, err, "mkdir "+cur)
		}
	}
	return nil
}

// DownloadFile reads a file (relative to the server's root directory).
// ErrNoContentsAPI when the server has none.
func (c *Client) DownloadFile(ctx context.Context, remotePath string) ([]byte, error) {
	var m contentsModel
	code, err := c.do(ctx, http.MethodGet, contentsPath(remotePath)+"?type=file&format=base64&content=1", nil, &m)
	if err != nil {
		return nil, c.contentsErr(ctx, code, err, "download "+remotePath)
	}
	s, _ := m.Content.(string)
	if m.Format == "text" {
		return []byte(s), nil
	}
	b, err := executor.DecodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("download %s: bad base64 from server: %w", remotePath, err)
	}
	return b, nil
}

// ListDir lists a directory (relative to the server's root directory; ""
// is the root). ErrNoContentsAPI when the server has none.
func (c *Client) ListDir(ctx context.Context, dir string) ([]FileInfo, error) {
	var raw struct {
		Type    string     `json:"type"`
		Content []FileInfo `json:"content"`
	}
	code, err := c.do(ctx, http.MethodGet, contentsPath(dir)+"?type=directory&content=1", nil, &raw)
	if err != nil {
		return nil, c.contentsErr(ctx, code, err, "list "+dir)
	}
	if raw.Type != "directory" {
		return nil, errors.New("list " + dir + ": not a directory")
	}
	return raw.Content, nil
}

// Delete removes a file, or a directory with everything in it, relative to
// the server's root directory. A path that does not exist is not an error.
func (c *Client) Delete(ctx context.Context, remotePath string) error {
	clean := strings.Trim(path.Clean("/"+remotePath), "/")
	if clean == "" || clean == "." {
		return fmt.Errorf("delete: refusing to delete the server's root directory")
	}
	var m contentsModel
	code, err := c.do(ctx, http.MethodGet, contentsPath(clean)+"?content=0", nil, &m)
	if code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return c.contentsErr(ctx, code, err, "delete "+clean)
	}
	if m.Type == "directory" {
		entries, err := c.ListDir(ctx, clean)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := c.Delete(ctx, e.Path); err != nil {
				return err
			}
		}
	}
	code, err = c.do(ctx, http.MethodDelete, contentsPath(clean), nil, nil)
	if err != nil && code != http.StatusNotFound {
		return c.contentsErr(ctx, code, err, "delete "+clean)
	}
	return nil
}

// MkdirAll creates a directory and its parents, relative to the server's
// root directory. ErrNoContentsAPI when the server has none.
func (c *Client) MkdirAll(ctx context.Context, dir string) error {
	return c.mkdirAll(ctx, strings.Trim(path.Clean("/"+dir), "/"))
}
