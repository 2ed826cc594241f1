package serve

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The files of a run that can be downloaded: these, and what is under
// files/ and inputs/.
var topFiles = map[string]bool{"notebook.ipynb": true, "report.md": true, "transcript.jsonl": true}

// errBadPath: a path that is not a run's downloadable file.
var errBadPath = errors.New("no such file in this run")

// cleanFilePath checks a requested path (already unescaped once by the
// router) and returns it, or errBadPath. It refuses anything but plain
// names separated by "/": no "..", ".", empty or hidden segments, no
// backslashes, NUL or percent signs left from a second encoding.
func cleanFilePath(p string) (string, error) {
	if p == "" || len(p) > 1024 || strings.ContainsAny(p, "\\\x00%") || strings.HasPrefix(p, "/") {
		return "", errBadPath
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") {
			return "", errBadPath
		}
	}
	if len(segs) == 1 {
		if !topFiles[p] {
			return "", errBadPath
		}
		return p, nil
	}
	if segs[0] != "files" && segs[0] != "inputs" {
		return "", errBadPath
	}
	return p, nil
}

// inlineTypes may be shown by a browser; everything else is a download.
// HTML and SVG are never inline: kernel code wrote them.
var inlineTypes = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/plain; charset=utf-8",
	".csv":  "text/plain; charset=utf-8",
	".log":  "text/plain; charset=utf-8",
}

var downloadTypes = map[string]string{
	".ipynb":   "application/x-ipynb+json",
	".json":    "application/json",
	".jsonl":   "application/jsonl",
	".svg":     "image/svg+xml",
	".pdf":     "application/pdf",
	".zip":     "application/zip",
	".xlsx":    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".parquet": "application/vnd.apache.parquet",
}

// runFile serves one output file of a run, never following a symbolic link
// and never letting the browser run what it holds as this origin's page.
func (s *Server) runFile(w http.ResponseWriter, r *http.Request) {
	rs := s.get(r.PathValue("id"))
	if rs == nil {
		writeError(w, http.StatusNotFound, "no such run")
		return
	}
	rel, err := cleanFilePath(r.PathValue("path"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	f, st, err := openNoFollow(rs.dir, rel)
	if err != nil {
		writeError(w, http.StatusNotFound, errBadPath.Error())
		return
	}
	defer f.Close()
	ext := strings.ToLower(path.Ext(rel))
	name := path.Base(rel)
	disp := "attachment"
	ct, inline := inlineTypes[ext]
	if inline && r.URL.Query().Get("download") == "" {
		disp = "inline"
	} else if !inline {
		ct = downloadTypes[ext]
		if ct == "" {
			ct = "application/octet-stream"
		}
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// openNoFollow opens dir/rel for reading, refusing when any part of rel is
// a symbolic link or the file is not a regular file. os.Root keeps the
// lookup inside dir whatever happens between the checks.
func openNoFollow(dir, rel string) (*os.File, os.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	segs := strings.Split(rel, "/")
	for i := range segs {
		st, err := root.Lstat(filepath.Join(segs[:i+1]...))
		if err != nil {
			return nil, nil, err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, errBadPath
		}
	}
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, errBadPath
	}
	return f, st, nil
}

// outputsOf lists the downloadable files of a run directory.
func outputsOf(dir string) []string {
	var out []string
	for name := range topFiles {
		if st, err := os.Lstat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			out = append(out, name)
		}
	}
	for _, sub := range []string{"files", "inputs"} {
		base := filepath.Join(dir, sub)
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") && p != base {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}
