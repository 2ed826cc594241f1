package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/redact"
)

func TestSanitizeText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain", "hello\n\tworld € ü\n", "hello\n\tworld € ü\n"},
		{"osc52 clipboard", "a\x1b]52;c;ZWNobyBwd25lZA==\x07b", "a^[]52;c;ZWNobyBwd25lZA==^Gb"},
		{"osc0 title", "\x1b]0;pwned\x07", "^[]0;pwned^G"},
		{"osc with ST", "\x1b]8;;http://x\x1b\\link", "^[]8;;http://x^[\\link"},
		{"clear screen", "\x1b[2J\x1b[H", "^[[2J^[[H"},
		{"cursor moves", "\x1b[3A\x1b[10;5H", "^[[3A^[[10;5H"},
		{"bare esc", "x\x1by", "x^[y"},
		{"trailing esc", "x\x1b", "x^["},
		{"colours removed", "\x1b[1;31mred\x1b[0m \x1b[38;5;200mpink\x1b[m", "red pink"},
		{"bell backspace nul del", "a\x07b\x08c\x00d\x7f", "a^Gb^Hc^@d^?"},
		{"c1 csi", "a\u009b2Jb\u009d0;t\u009c", "a<U+009B>2Jb<U+009D>0;t<U+009C>"},
		{"raw c1 byte", "a\x9b2J", "a\uFFFD2J"},
		{"bidi override", "abc\u202edcba", "abc<U+202E>dcba"},
		{"progress bar", "  0%|\r 50%|#####\r100%|##########\ndone\n", "100%|##########\ndone\n"},
		{"crlf", "a\r\nb\r\n", "a\nb\n"},
		{"trailing cr", "50%\r", "50%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sanitizeText(c.in)
			assert.Equal(t, c.want, got)
			assert.NotContains(t, got, "\x1b")
			assert.NotContains(t, got, "\r")
			assert.NotContains(t, got, "\u009b")
		})
	}
}

func TestSanitizeNoControlSurvives(t *testing.T) {
	// Every byte value, alone and after ESC and "ESC [": no control
	// character but \n and \t comes out.
	for b := 0; b < 256; b++ {
		for _, prefix := range []string{"", "\x1b", "\x1b[", "\x1b]"} {
			out := sanitizeText(prefix + string([]byte{byte(b)}) + "x")
			for _, r := range out {
				if r == '\n' || r == '\t' {
					continue
				}
				if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
					t.Fatalf("byte %#x after %q: control %U survived in %q", b, prefix, r, out)
				}
			}
		}
	}
}

func FuzzSanitizeText(f *testing.F) {
	f.Add("\x1b]52;c;Zm9v\x07\x1b[2J\r\x9b")
	f.Fuzz(func(t *testing.T, s string) {
		out := sanitizeText(s)
		for _, r := range out {
			if r == '\n' || r == '\t' {
				continue
			}
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || isBidiControl(r) {
				t.Fatalf("control %U survived in %q", r, out)
			}
		}
	})
}

func TestLineBufferCollapsesProgressAcrossOutputs(t *testing.T) {
	var l lineBuffer
	var shown strings.Builder
	shown.WriteString(l.add("step 1\n"))
	for i := 0; i <= 100; i += 10 {
		shown.WriteString(l.add("\r" + strings.Repeat("#", i/10) + " " + string(rune('0'+i/10)) + "0%"))
	}
	assert.Equal(t, "step 1\n", shown.String(), "an unfinished progress bar is held back")
	assert.Less(t, l.partial.Len(), 20, "only its last state is kept")
	shown.WriteString(l.add("\nafter\npart"))
	assert.Equal(t, "step 1\n########## :0%\nafter\n", shown.String())
	assert.Equal(t, "part", l.flush())

	long := strings.Repeat("y", maxPartialLine+1)
	assert.Equal(t, long+"\n", l.add(long), "a line without end is not held forever")
}

func TestLoggerLinesAreSanitized(t *testing.T) {
	var buf strings.Builder
	log := newLogger(&buf, false, redact.New("sk-log-secret"))
	log.Info("cell said \x1b]0;title\x07", "output", "a\x1b[2Jb sk-log-secret")
	out := buf.String()
	assert.NotContains(t, out, "\x1b]")
	assert.NotContains(t, out, "\x1b[2J")
	assert.NotContains(t, out, "sk-log-secret")
	assert.Contains(t, out, "cell said ^[]0;title^G")
}
