package executor

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mime types saved to files by SaveOutputFiles, with their file extensions.
var savedTypes = []struct {
	mime, ext string
	binary    bool
}{
	{"image/png", ".png", true},
	{"image/jpeg", ".jpg", true},
	{"image/svg+xml", ".svg", false},
	{"text/html", ".html", false},
}

// SaveOutputFiles writes the images (png, jpeg, svg) and html of a mime bundle
// into dir as base+extension, creating dir if needed, and returns the paths
// written. Binary types are base64 in the bundle, as Jupyter sends them.
// scrub, when not nil, is applied to each file's bytes before they are
// written (a redactor's, say).
func SaveOutputFiles(dir, base string, data map[string]any, scrub func([]byte) []byte) ([]string, error) {
	var files []string
	var errs []error
	for _, t := range savedTypes {
		v, ok := data[t.mime]
		if !ok {
			continue
		}
		s := MimeString(v)
		var b []byte
		if t.binary {
			var err error
			b, err = DecodeBase64(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: bad base64: %w", t.mime, err))
				continue
			}
		} else {
			b = []byte(s)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return files, fmt.Errorf("create output dir: %w", err)
		}
		if scrub != nil {
			b = scrub(b)
		}
		p := filepath.Join(dir, base+t.ext)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("save %s: %w", t.mime, err))
			continue
		}
		files = append(files, p)
	}
	return files, errors.Join(errs...)
}

// DecodeBase64 decodes base64 as Jupyter sends it: image data and file
// contents may be broken into lines.
func DecodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Map(dropSpace, s))
}

func dropSpace(r rune) rune {
	switch r {
	case '\n', '\r', ' ', '\t':
		return -1
	}
	return r
}

// MimeString returns a mime bundle value as a string: kernels send strings,
// nbformat files may hold lists of lines.
func MimeString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, l := range x {
			if s, ok := l.(string); ok {
				b.WriteString(s)
			}
		}
		return b.String()
	case []string:
		return strings.Join(x, "")
	}
	return ""
}
