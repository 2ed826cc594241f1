// Package eval measures how often the solve pipeline answers data questions
// right, on suites in InfiAgent-DABench's layout: a questions file and a
// labels file (JSON lines) and a directory of tables beside them. Answers
// are `@name[value]` lines, scored the way DABench's closed-form scorer does.
package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrSuite is wrapped by every error about a suite directory's contents.
var ErrSuite = errors.New("not an eval suite")

// Question is one line of a questions file.
type Question struct {
	ID          int      `json:"id"`
	Question    string   `json:"question"`
	Concepts    []string `json:"concepts"`
	Constraints string   `json:"constraints"`
	Format      string   `json:"format"`
	FileName    string   `json:"file_name"`
	Level       string   `json:"level"`
}

// Suite is a loaded suite: its questions in file order, each with a label
// and a table.
type Suite struct {
	Dir           string
	QuestionsFile string
	LabelsFile    string
	TablesDir     string
	Questions     []Question
	Labels        map[int]Label
}

// Load reads the suite in dir. It says what is missing when dir does not
// have the layout: a `*questions*.jsonl`, a `*labels*.jsonl`, and a tables
// directory (`da-dev-tables`, `tables`, or one other name ending in
// `tables`) holding every question's file.
func Load(dir string) (*Suite, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSuite, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a file; give the directory that holds the questions, labels and tables", ErrSuite, dir)
	}
	s := &Suite{Dir: dir, Labels: map[int]Label{}}
	if s.QuestionsFile, err = findOne(dir, "*questions*.jsonl", "questions file (*questions*.jsonl)"); err != nil {
		return nil, err
	}
	if s.LabelsFile, err = findOne(dir, "*labels*.jsonl", "labels file (*labels*.jsonl)"); err != nil {
		return nil, err
	}
	if s.TablesDir, err = findTables(dir); err != nil {
		return nil, err
	}
	if err := readJSONL(s.QuestionsFile, func(line int, b []byte) error {
		var q Question
		if err := json.Unmarshal(b, &q); err != nil {
			return err
		}
		if strings.TrimSpace(q.Question) == "" {
			return errors.New(`no "question"`)
		}
		if q.FileName == "" {
			return errors.New(`no "file_name"`)
		}
		s.Questions = append(s.Questions, q)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(s.Questions) == 0 {
		return nil, fmt.Errorf("%w: %s has no questions", ErrSuite, s.QuestionsFile)
	}
	if err := readJSONL(s.LabelsFile, func(line int, b []byte) error {
		var l Label
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		s.Labels[l.ID] = l
		return nil
	}); err != nil {
		return nil, err
	}
	// A suite comes from elsewhere: its tables must stay inside it, so
	// that a linked table cannot copy another file of this machine into
	// the kernel's workspace (or onto a remote server).
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSuite, err)
	}
	defer root.Close()
	tablesRel := filepath.Base(s.TablesDir)
	seen := map[int]bool{}
	var noLabel, noTable, outside []string
	for _, q := range s.Questions {
		if seen[q.ID] {
			return nil, fmt.Errorf("%w: question id %d appears twice in %s", ErrSuite, q.ID, s.QuestionsFile)
		}
		seen[q.ID] = true
		if _, ok := s.Labels[q.ID]; !ok {
			noLabel = append(noLabel, fmt.Sprint(q.ID))
		}
		if !safeName(q.FileName) {
			return nil, fmt.Errorf("%w: question %d names the table %q, which is not a plain file name", ErrSuite, q.ID, q.FileName)
		}
		st, err := root.Stat(filepath.Join(tablesRel, q.FileName))
		if err != nil {
			if _, serr := os.Stat(filepath.Join(s.TablesDir, q.FileName)); serr == nil {
				outside = append(outside, fmt.Sprintf("%s (question %d)", q.FileName, q.ID))
				continue
			}
		}
		if err != nil || !st.Mode().IsRegular() {
			noTable = append(noTable, fmt.Sprintf("%s (question %d)", q.FileName, q.ID))
		}
	}
	if len(outside) > 0 {
		return nil, fmt.Errorf("%w: in %s, %s leads outside the suite directory (a symbolic link); copy the table into the suite", ErrSuite, s.TablesDir, strings.Join(first(outside, 5), ", "))
	}
	if len(noLabel) > 0 {
		return nil, fmt.Errorf("%w: %s has no label for question %s", ErrSuite, s.LabelsFile, strings.Join(first(noLabel, 5), ", "))
	}
	if len(noTable) > 0 {
		return nil, fmt.Errorf("%w: %s lacks %s", ErrSuite, s.TablesDir, strings.Join(first(noTable, 5), ", "))
	}
	return s, nil
}

func first(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

// safeName accepts a file name relative to the tables directory that stays
// inside it.
func safeName(name string) bool {
	if name == "" || filepath.IsAbs(name) || strings.ContainsAny(name, "\x00\\") {
		return false
	}
	clean := filepath.Clean(name)
	return clean == name && clean != "." && clean != ".." && !strings.HasPrefix(clean, "../")
}

func findOne(dir, pattern, what string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	var files []string
	for _, f := range m {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	switch len(files) {
	case 0:
		return "", fmt.Errorf("%w: %s has no %s", ErrSuite, dir, what)
	case 1:
		return files[0], nil
	}
	sort.Strings(files)
	return "", fmt.Errorf("%w: %s has more than one %s: %s", ErrSuite, dir, what, strings.Join(files, ", "))
}

func findTables(dir string) (string, error) {
	for _, name := range []string{"da-dev-tables", "tables"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*tables"))
	var dirs []string
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) == 1 {
		return dirs[0], nil
	}
	return "", fmt.Errorf("%w: %s has no tables directory (da-dev-tables/ or tables/)", ErrSuite, dir)
}

func readJSONL(path string, each func(line int, b []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSuite, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := each(n, b); err != nil {
			return fmt.Errorf("%w: %s line %d: %v", ErrSuite, path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSuite, path, err)
	}
	return nil
}

// Filter is a selection of questions. Zero values select everything.
type Filter struct {
	IDs   []int
	Level string
	Limit int
}

// Select returns the questions the filter keeps, in suite order.
func (s *Suite) Select(f Filter) []Question {
	ids := map[int]bool{}
	for _, id := range f.IDs {
		ids[id] = true
	}
	var out []Question
	for _, q := range s.Questions {
		if len(ids) > 0 && !ids[q.ID] {
			continue
		}
		if f.Level != "" && !strings.EqualFold(q.Level, f.Level) {
			continue
		}
		out = append(out, q)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

// TaskText is the task a question becomes: the question, its constraints
// and its required answer format, and how to give the final answer.
func TaskText(q Question) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Answer this question about the data in %s.\n\n", q.FileName)
	fmt.Fprintf(&b, "Question: %s\n", strings.TrimSpace(q.Question))
	if c := strings.TrimSpace(q.Constraints); c != "" {
		fmt.Fprintf(&b, "\nConstraints:\n%s\n", c)
	}
	if f := strings.TrimSpace(q.Format); f != "" {
		fmt.Fprintf(&b, "\nRequired answer format:\n%s\n", f)
	}
	b.WriteString("\nCompute the answer with code, step by step. Give the final answer as the @name[value] lines of the required format, one per line, with the values filled in and nothing else inside the brackets.")
	return b.String()
}
