package eval

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadStarterSuite(t *testing.T) {
	s, err := Load("starter")
	require.NoError(t, err)
	assert.Len(t, s.Questions, 13)
	assert.Equal(t, filepath.Join("starter", "tables"), s.TablesDir)
	for _, q := range s.Questions {
		assert.Contains(t, s.Labels, q.ID)
		assert.FileExists(t, filepath.Join("starter", "replay", itoa(q.ID)+".md"), "question %d has a recorded session", q.ID)
	}
	assert.Len(t, s.Select(Filter{Level: "HARD"}), 3)
	got := s.Select(Filter{IDs: []int{9, 0, 5}})
	require.Len(t, got, 3)
	assert.Equal(t, []int{0, 5, 9}, []int{got[0].ID, got[1].ID, got[2].ID}, "suite order, not the order asked")
	assert.Len(t, s.Select(Filter{Limit: 4}), 4)

	task := TaskText(s.Questions[2])
	assert.Contains(t, task, s.Questions[2].Question)
	assert.Contains(t, task, "Treat a missing discount as 0")
	assert.Contains(t, task, "@top_region[name] @top_revenue[value]")
	assert.Contains(t, task, "orders.csv")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestLoadSaysWhatIsMissing(t *testing.T) {
	write := func(dir, name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	dir := t.TempDir()
	_, err := Load(dir)
	assert.ErrorIs(t, err, ErrSuite)
	assert.ErrorContains(t, err, "no questions file (*questions*.jsonl)")

	write(dir, "q-questions.jsonl", `{"id": 1, "question": "How many rows?", "file_name": "a.csv", "level": "easy"}`+"\n")
	_, err = Load(dir)
	assert.ErrorContains(t, err, "no labels file")

	write(dir, "q-labels.jsonl", `{"id": 2, "common_answers": [["rows", "3"]]}`+"\n")
	_, err = Load(dir)
	assert.ErrorContains(t, err, "no tables directory (da-dev-tables/ or tables/)")

	require.NoError(t, os.Mkdir(filepath.Join(dir, "tables"), 0o755))
	_, err = Load(dir)
	assert.ErrorContains(t, err, "has no label for question 1")

	write(dir, "q-labels.jsonl", `{"id": 1, "common_answers": [["rows", "3"]]}`+"\n")
	_, err = Load(dir)
	assert.ErrorContains(t, err, "lacks a.csv (question 1)")

	write(dir, "tables/a.csv", "x\n1\n2\n3\n")
	s, err := Load(dir)
	require.NoError(t, err)
	assert.Len(t, s.Questions, 1)

	write(dir, "q-questions.jsonl", `{"id": 1, "question": "How many rows?", "file_name": "../../etc/passwd"}`+"\n")
	_, err = Load(dir)
	assert.ErrorContains(t, err, "not a plain file name")

	write(dir, "q-questions.jsonl", "{not json\n")
	_, err = Load(dir)
	assert.ErrorContains(t, err, "line 1")

	_, err = Load(filepath.Join(dir, "q-labels.jsonl"))
	assert.ErrorContains(t, err, "is a file")
}
