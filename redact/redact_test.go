package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const key = "sk-test-Very+Secret/Key=42"

func TestStringForms(t *testing.T) {
	r := New(key)
	js, _ := json.Marshal(key + "<&>")
	cases := map[string]string{
		"plain":     "the key is " + key + ".",
		"json":      string(js),
		"hex":       "x" + hex.EncodeToString([]byte(key)) + "y",
		"hex upper": strings.ToUpper(hex.EncodeToString([]byte(key))),
	}
	for name, in := range cases {
		out := r.String(in)
		assert.NotContains(t, out, key, name)
		assert.Contains(t, out, Replacement, name)
	}
	// base64 at every offset, both alphabets, with and without padding.
	for pre := 0; pre < 5; pre++ {
		data := append(bytes.Repeat([]byte{0xAB}, pre), key...)
		data = append(data, "trailing bytes"...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			e := enc.EncodeToString(data)
			out := r.String("data:image/png;base64," + e)
			assert.Contains(t, out, Replacement, "offset %d", pre)
			dec, _ := enc.DecodeString(strings.ReplaceAll(strings.TrimPrefix(out, "data:image/png;base64,"), Replacement, ""))
			assert.NotContains(t, string(dec), key[1:len(key)-1], "offset %d: the key survives decoding", pre)
		}
	}
	assert.Equal(t, "nothing to see", r.String("nothing to see"))
}

func TestShortAndEmptyAreIgnored(t *testing.T) {
	r := New("", "short", "  ")
	assert.Equal(t, 0, r.Len())
	assert.Equal(t, "short text", r.String("short text"))
	var nilR *Redactor
	assert.Equal(t, "x", nilR.String("x"))
	var b bytes.Buffer
	w := nilR.Writer(&b)
	_, _ = w.Write([]byte("abc"))
	require.NoError(t, w.Flush())
	assert.Equal(t, "abc", b.String())
}

func TestEnvSecrets(t *testing.T) {
	env := []string{
		"OPENAI_API_KEY=sk-abcdefgh123",
		"GITHUB_TOKEN=ghp_0123456789",
		"DB_PASSWORD=hunter2hunter2",
		"aws_secret=lowercase-name-value",
		"SHORT_KEY=abc",
		"HOME=/root/keyfile-not-secret",
		"KEYBOARD=not-a-secret-name",
		"EMPTY_TOKEN=",
	}
	got := EnvSecrets(env)
	assert.ElementsMatch(t, []string{"sk-abcdefgh123", "ghp_0123456789", "hunter2hunter2", "lowercase-name-value"}, got)
	r := FromEnv(env, "explicit-token-value")
	out := r.String("sk-abcdefgh123 ghp_0123456789 hunter2hunter2 explicit-token-value /root/keyfile-not-secret abc")
	assert.Equal(t, "[REDACTED] [REDACTED] [REDACTED] [REDACTED] /root/keyfile-not-secret abc", out)
}

func TestWith(t *testing.T) {
	base := New("base-secret-1")
	run := base.With("run-token-123")
	assert.Equal(t, "[REDACTED] [REDACTED]", run.String("base-secret-1 run-token-123"))
	assert.Equal(t, "[REDACTED] run-token-123", base.String("base-secret-1 run-token-123"), "the parent is unchanged")
	var nilR *Redactor
	assert.Equal(t, "[REDACTED]", nilR.With("run-token-123").String("run-token-123"))
}

func TestAddLater(t *testing.T) {
	r := New()
	var b bytes.Buffer
	w := r.Writer(&b)
	_, _ = w.Write([]byte("before "))
	r.Add("later-secret-123")
	_, _ = w.Write([]byte("later-secret-123 after"))
	require.NoError(t, w.Flush())
	assert.Equal(t, "before [REDACTED] after", b.String())
}

// A secret split across writes, at every split point, one byte at a time,
// and inside random data, is caught.
func TestWriterSplits(t *testing.T) {
	r := New(key, "another-secret-value")
	text := "line one\nthe key: " + key + " and " + base64.StdEncoding.EncodeToString([]byte("xx"+key)) + "\nanother-secret-value\n"
	want := r.String(text)
	require.NotContains(t, want, key)
	for split := 0; split <= len(text); split++ {
		var b bytes.Buffer
		w := r.Writer(&b)
		_, err := w.Write([]byte(text[:split]))
		require.NoError(t, err)
		_, err = w.Write([]byte(text[split:]))
		require.NoError(t, err)
		require.NoError(t, w.Flush())
		require.Equal(t, want, b.String(), "split at %d", split)
	}
	var b bytes.Buffer
	w := r.Writer(&b)
	for i := 0; i < len(text); i++ {
		_, _ = w.Write([]byte{text[i]})
	}
	require.NoError(t, w.Close())
	assert.Equal(t, want, b.String())

	// Random chunking of a long stream.
	rng := rand.New(rand.NewPCG(1, 2))
	var long strings.Builder
	for i := 0; i < 200; i++ {
		long.WriteString(strings.Repeat("sk-te", rng.IntN(3)))
		long.WriteString(key[:rng.IntN(len(key))])
		if rng.IntN(3) == 0 {
			long.WriteString(key)
		}
		long.WriteString("\n")
	}
	in := long.String()
	want = r.String(in)
	b.Reset()
	w = r.Writer(&b)
	for rest := in; rest != ""; {
		n := min(len(rest), 1+rng.IntN(40))
		_, _ = w.Write([]byte(rest[:n]))
		rest = rest[n:]
	}
	require.NoError(t, w.Flush())
	assert.Equal(t, want, b.String())
	assert.NotContains(t, b.String(), key)
}

// Text that cannot start a secret goes through at once: a log line or a
// streamed sentence is not held back.
func TestWriterHoldsOnlyPossiblePrefixes(t *testing.T) {
	r := New(key)
	var b bytes.Buffer
	w := r.Writer(&b)
	_, _ = w.Write([]byte("a full line\n"))
	assert.Equal(t, "a full line\n", b.String())
	_, _ = w.Write([]byte("then sk-te"))
	assert.Equal(t, "a full line\nthen ", b.String(), "a possible start of the key waits")
	_, _ = w.Write([]byte("a\n"))
	assert.Equal(t, "a full line\nthen sk-tea\n", b.String())
}

func TestOverlappingSecrets(t *testing.T) {
	r := New("aaaa-bbbb-cccc", "cccc-dddd-eeee")
	assert.Equal(t, "x[REDACTED]y", r.String("xaaaa-bbbb-cccc-dddd-eeeey"))
	var b bytes.Buffer
	w := r.Writer(&b)
	_, _ = w.Write([]byte("xaaaa-bbbb-cc"))
	_, _ = w.Write([]byte("cc-dddd-ee"))
	_, _ = w.Write([]byte("eey"))
	require.NoError(t, w.Flush())
	assert.Equal(t, "x[REDACTED]y", b.String())
}

func BenchmarkWriter(b *testing.B) {
	r := FromEnv([]string{"A_KEY=aaaaaaaaaaaaaaaaaaaaaa", "B_TOKEN=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "C_SECRET=cccccccccccccccccccc"}, key)
	data := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	b.SetBytes(int64(len(data)))
	w := r.Writer(io_Discard{})
	for b.Loop() {
		_, _ = w.Write(data)
	}
}

type io_Discard struct{}

func (io_Discard) Write(p []byte) (int, error) { return len(p), nil }
