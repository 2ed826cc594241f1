// Package prompts holds the system prompts of the team's agents as files
// embedded in the binary (planner.md, coder.md, debugger.md), and lets users
// override them from a directory or a map.
package prompts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Names of the built-in prompts.
const (
	Planner  = "planner"
	Coder    = "coder"
	Debugger = "debugger"
)

//go:embed *.md
var builtin embed.FS

// ErrNotFound is returned for a prompt name that is neither built in nor
// overridden.
var ErrNotFound = errors.New("prompt not found")

// Get returns the built-in prompt with the given name (without ".md").
func Get(name string) (string, error) {
	return defaultSet.Get(name)
}

// MustGet is Get for built-in names known to exist; it panics otherwise.
func MustGet(name string) string {
	s, err := Get(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Names lists the built-in prompt names, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(builtin, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".md"))
	}
	sort.Strings(names)
	return names
}

// Config says where overrides come from. The zero value gives the built-in
// prompts.
type Config struct {
	// Dir, when set, is a directory of NAME.md files; a file there replaces
	// the built-in prompt of that name (and may add new names).
	Dir string
	// Overrides maps a name to prompt text; it wins over Dir and built-ins.
	Overrides map[string]string
}

// Set resolves prompt names: Overrides first, then Dir, then the built-ins.
type Set struct {
	dir       string
	overrides map[string]string
}

var defaultSet = &Set{}

// New returns a Set. It fails when Dir is set but is not a readable
// directory.
func New(cfg Config) (*Set, error) {
	if cfg.Dir != "" {
		st, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("prompts directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("prompts directory %s is not a directory", cfg.Dir)
		}
	}
	ov := make(map[string]string, len(cfg.Overrides))
	for k, v := range cfg.Overrides {
		ov[k] = v
	}
	return &Set{dir: cfg.Dir, overrides: ov}, nil
}

// Get returns the prompt with the given name.
func (s *Set) Get(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: invalid name %q", ErrNotFound, name)
	}
	if s != nil {
		if v, ok := s.overrides[name]; ok {
			return v, nil
		}
		if s.dir != "" {
			b, err := os.ReadFile(filepath.Join(s.dir, name+".md"))
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("read prompt %q: %w", name, err)
			}
		}
	}
	b, err := builtin.ReadFile(name + ".md")
	if err != nil {
		return "", fmt.Errorf("%w: %q (built-in prompts: %s)", ErrNotFound, name, strings.Join(Names(), ", "))
	}
	return string(b), nil
}
