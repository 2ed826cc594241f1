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

// A suite is data from elsewhere: a table that is a symbolic link (or sits
// under a linked directory) leading outside the suite would copy any file
// the user can read (an SSH key, a credentials file) into the kernel's
// workspace, and onto a remote Jupyter server.
func TestLoadRefusesTablesThatLeadOutsideTheSuite(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "id_rsa")
	require.NoError(t, os.WriteFile(secret, []byte("PRIVATE KEY\n"), 0o600))

	suite := func(t *testing.T, fileName string) string {
		dir := t.TempDir()
		q := `{"id": 1, "question": "Print the file.", "file_name": "` + fileName + `"}` + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "q-questions.jsonl"), []byte(q), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "q-labels.jsonl"), []byte(`{"id": 1, "common_answers": [["x", "1"]]}`+"\n"), 0o644))
		return dir
	}

	t.Run("linked table", func(t *testing.T) {
		dir := suite(t, "data.csv")
		require.NoError(t, os.Mkdir(filepath.Join(dir, "tables"), 0o755))
		require.NoError(t, os.Symlink(secret, filepath.Join(dir, "tables", "data.csv")))
		_, err := Load(dir)
		assert.ErrorIs(t, err, ErrSuite)
		assert.ErrorContains(t, err, "data.csv (question 1) leads outside the suite directory")
	})
	t.Run("linked tables directory", func(t *testing.T) {
		dir := suite(t, "id_rsa")
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "tables")))
		_, err := Load(dir)
		assert.ErrorIs(t, err, ErrSuite)
		assert.ErrorContains(t, err, "leads outside the suite directory")
	})
	t.Run("linked subdirectory", func(t *testing.T) {
		dir := suite(t, "sub/id_rsa")
		require.NoError(t, os.Mkdir(filepath.Join(dir, "tables"), 0o755))
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "tables", "sub")))
		_, err := Load(dir)
		assert.ErrorIs(t, err, ErrSuite)
		assert.ErrorContains(t, err, "leads outside the suite directory")
	})
	t.Run("absolute link to a system file", func(t *testing.T) {
		dir := suite(t, "passwd.csv")
		require.NoError(t, os.Mkdir(filepath.Join(dir, "tables"), 0o755))
		require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "tables", "passwd.csv")))
		_, err := Load(dir)
		assert.ErrorContains(t, err, "leads outside the suite directory")
	})
	t.Run("link inside the suite is fine", func(t *testing.T) {
		dir := suite(t, "data.csv")
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "tables"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "shared.csv"), []byte("x\n1\n"), 0o644))
		require.NoError(t, os.Symlink("../shared.csv", filepath.Join(dir, "tables", "data.csv")))
		s, err := Load(dir)
		require.NoError(t, err)
		assert.Len(t, s.Questions, 1)
	})
}
