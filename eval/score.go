package eval

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// answerRE finds `@name[value]` answers. Python's `\w` (which the reference
// scorer uses on str patterns) is Unicode-aware, so letters and digits of
// any script count, plus the underscore. As in the reference, `.` does not
// cross a newline and the value ends at the first `]`.
var answerRE = regexp.MustCompile(`@([\p{L}\p{N}_]+)\[(.*?)\]`)

// Extract returns the `@name[value]` answers in text. A name given twice
// keeps its last value, as the reference scorer's dict does.
func Extract(text string) map[string]string {
	out := map[string]string{}
	for _, m := range answerRE.FindAllStringSubmatch(text, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// Equal reports whether a predicted value matches a label: the same string,
// or both numbers (as Python's float() reads them) less than 1e-6 apart.
func Equal(pred, label string) bool {
	if pred == label {
		return true
	}
	p, ok1 := pyFloat(pred)
	l, ok2 := pyFloat(label)
	if !ok1 || !ok2 {
		return false
	}
	return math.Abs(p-l) < 1e-6
}

// pyFloat parses s the way Python's float() does: surrounding whitespace
// ignored, decimal digits with optional single underscores between them,
// an optional exponent, and inf/infinity/nan in any case. Go-only forms
// (hexadecimal floats, "0x...") are refused.
func pyFloat(s string) (float64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		return 0, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case "nan":
		return math.NaN(), true
	}
	var b strings.Builder
	digitsBefore := false // the previous character was a digit
	sawDigit, sawDot, sawExp := false, false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
			digitsBefore = true
			sawDigit = true
		case c == '_':
			// Only between two digits.
			if !digitsBefore || i+1 >= len(body) || body[i+1] < '0' || body[i+1] > '9' {
				return 0, false
			}
			digitsBefore = false
		case c == '.':
			if sawDot || sawExp {
				return 0, false
			}
			sawDot = true
			digitsBefore = false
			b.WriteByte(c)
		case c == 'e' || c == 'E':
			if sawExp || !sawDigit {
				return 0, false
			}
			sawExp = true
			digitsBefore = false
			b.WriteByte('e')
			if i+1 < len(body) && (body[i+1] == '+' || body[i+1] == '-') {
				i++
				b.WriteByte(body[i])
			}
			if i+1 >= len(body) {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	if !sawDigit {
		return 0, false
	}
	sign := ""
	if s[0] == '-' {
		sign = "-"
	}
	v, err := strconv.ParseFloat(sign+b.String(), 64)
	if err != nil {
		// Out of range: Python gives inf for overflow and 0 for underflow,
		// and so does ParseFloat along with the error.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

// Label is a question's expected answers, in the labels file's order.
type Label struct {
	ID      int         `json:"id"`
	Answers [][2]string `json:"common_answers"`
}

// expected returns the label's sub-answers with each name once, at its
// first place and with its last value, as the reference scorer's dict
// keeps them (a few DABench labels name a sub-answer more than once).
func (l Label) expected() [][2]string {
	idx := map[string]int{}
	var out [][2]string
	for _, a := range l.Answers {
		if i, ok := idx[a[0]]; ok {
			out[i][1] = a[1]
			continue
		}
		idx[a[0]] = len(out)
		out = append(out, a)
	}
	return out
}

// SubResult is one expected sub-answer and whether it was given.
type SubResult struct {
	Name      string `json:"name"`
	Expected  string `json:"expected"`
	Predicted string `json:"predicted"`
	Given     bool   `json:"given"`
	Correct   bool   `json:"correct"`
}

// Score compares a final answer with a label. A missing sub-answer is
// wrong; the question is correct when every sub-answer is.
func Score(answer string, label Label) (subs []SubResult, correct bool) {
	got := Extract(answer)
	correct = true // as Python's all() of no sub-answers
	for _, a := range label.expected() {
		p, ok := got[a[0]]
		sr := SubResult{Name: a[0], Expected: a[1], Predicted: p, Given: ok}
		sr.Correct = ok && Equal(p, a[1])
		if !sr.Correct {
			correct = false
		}
		subs = append(subs, sr)
	}
	return subs, correct
}

// Metrics are the suite's three accuracies, as fractions in [0, 1]:
// ABQ (accuracy by question: all sub-answers right), PSAQ (proportional by
// sub-question: each question scores the fraction of its sub-answers that
// are right) and UASQ (uniform by sub-question: right sub-answers over all
// sub-answers).
type Metrics struct {
	Questions int     `json:"questions"`
	Correct   int     `json:"correct"`
	ABQ       float64 `json:"abq"`
	PSAQ      float64 `json:"psaq"`
	UASQ      float64 `json:"uasq"`
}

// Scored is what metrics are computed from: one question's sub-results.
type Scored struct {
	Subs    []SubResult
	Correct bool
}

// Compute returns the metrics of a set of scored questions. Values are
// rounded to four decimals as the reference scorer does (Python's round,
// which rounds the exact binary value, half to even on exact ties).
func Compute(qs []Scored) Metrics {
	m := Metrics{Questions: len(qs)}
	if len(qs) == 0 {
		return m
	}
	var prop float64
	subsRight, subsAll := 0, 0
	for _, q := range qs {
		if q.Correct {
			m.Correct++
		}
		right := 0
		for _, s := range q.Subs {
			if s.Correct {
				right++
			}
		}
		if n := len(q.Subs); n > 0 {
			prop += float64(right) * (1 / float64(n))
		}
		subsRight += right
		subsAll += len(q.Subs)
	}
	m.ABQ = Round4(float64(m.Correct) / float64(len(qs)))
	m.PSAQ = Round4(prop / float64(len(qs)))
	if subsAll > 0 {
		m.UASQ = Round4(float64(subsRight) / float64(subsAll))
	}
	return m
}

// Round4 rounds x to four decimals from its exact binary value, ties to
// even, which is what Python's round(x, 4) does.
func Round4(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 4, 64), 64)
	return v
}
