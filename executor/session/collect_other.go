//go:build !unix

package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
)

// walkLocal collects the embedded server's working directory through an
// os.Root, which refuses any name that leads outside it, symbolic links
// included; links are skipped, not followed.
func (c *collector) walkLocal(ctx context.Context, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("session: open the working directory: %w", err)
	}
	defer root.Close()
	return c.walkRoot(ctx, root, ".", 0)
}

func (c *collector) walkRoot(ctx context.Context, root *os.Root, rel string, depth int) error {
	d, err := root.Open(rel)
	if err != nil {
		return nil // vanished
	}
	entries, _ := d.ReadDir(-1)
	d.Close()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		p, ok, err := c.entry(ctx, rel, name)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		st, err := root.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			c.skip(p, 0, ReasonSymlink)
		case st.IsDir():
			if depth+1 >= maxDepth {
				c.skip(p+"/", 0, ReasonTooDeep)
				continue
			}
			if err := c.walkRoot(ctx, root, p, depth+1); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			f, err := root.Open(p)
			if err != nil {
				c.skip(p, 0, ReasonUnreadable+": "+err.Error())
				continue
			}
			fst, err := f.Stat()
			if err != nil || !fst.Mode().IsRegular() {
				f.Close()
				c.skip(p, st.Size(), ReasonNotRegular)
				continue
			}
			if max, ok := c.admit(p, fst.Size()); ok {
				c.copy(p, fst.Size(), fst.ModTime(), max, func(w io.Writer, max int64) (int64, error) {
					return copyMax(w, f, max)
				})
			}
			f.Close()
		default:
			c.skip(p, st.Size(), ReasonNotRegular)
		}
	}
	return nil
}

// openBeneath opens the regular file rel below root through an os.Root:
// nothing outside root is reached, links included.
func openBeneath(root, rel string) (*os.File, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if st, err := r.Lstat(rel); err != nil {
		return nil, err
	} else if st.Mode()&fs.ModeSymlink != 0 {
		return nil, errors.New(ReasonSymlink)
	}
	f, err := r.Open(rel)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, errors.New(ReasonNotRegular)
	}
	return f, nil
}
