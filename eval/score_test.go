package eval

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestExtract(t *testing.T) {
	got := Extract("The answer:\n@mean_fare[34.65]\n@count[ 12 ]\n@mean_fare[35]\n@bad name[1] @x[a\nb] @größe[3] @y[]")
	assert.Equal(t, map[string]string{
		"mean_fare": "35", // the last one wins
		"count":     " 12 ",
		"größe":     "3",
		"y":         "",
	}, got)
	assert.Empty(t, Extract("no answers here, just [brackets] and @ signs"))
}

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		pred, label string
		want        bool
	}{
		{"34.65", "34.65", true},
		{"34.650", "34.65", true},
		{" 34.65 ", "34.65", true},
		{"34.6500001", "34.65", true},
		{"34.651", "34.65", false},
		{"1_000", "1000", true},
		{"1__000", "1000", false},
		{"_1000", "1000", false},
		{"1e3", "1000", true},
		{"1E+3", "1000.0", true},
		{"0x10", "16", false},
		{"0x1p4", "16", false},
		{"inf", "inf", true},
		{"Infinity", "inf", false}, // both parse, but inf - inf is nan
		{"nan", "nan", true},       // the same string
		{"NaN", "nan", false},      // nan is never close to anything
		{"abc", "abc", true},
		{"Male", "male", false},
		{"", "0", false},
		{".5", "0.5", true},
		{"5.", "5", true},
		{"-0", "0", true},
		{"1e", "1", false},
		{"e5", "0", false},
		{"1,000", "1000", false},
	} {
		assert.Equal(t, c.want, Equal(c.pred, c.label), "%q vs %q", c.pred, c.label)
	}
}

func TestPyFloatRange(t *testing.T) {
	v, ok := pyFloat("1e999")
	assert.True(t, ok)
	assert.True(t, math.IsInf(v, 1))
	v, ok = pyFloat("-1e-999")
	assert.True(t, ok)
	assert.Equal(t, 0.0, v)
}

func TestScoreAndMetrics(t *testing.T) {
	l1 := Label{ID: 1, Answers: [][2]string{{"a", "1.00"}, {"b", "x"}}}
	l2 := Label{ID: 2, Answers: [][2]string{{"c", "3"}}}
	l3 := Label{ID: 3, Answers: [][2]string{{"d", "4"}, {"e", "5"}, {"f", "6"}}}

	s1, ok1 := Score("@a[1]\n@b[x]", l1)
	assert.True(t, ok1)
	assert.Len(t, s1, 2)
	s2, ok2 := Score("I could not finish.", l2)
	assert.False(t, ok2)
	assert.False(t, s2[0].Given)
	s3, ok3 := Score("@d[4] @e[5.0000001] @f[7]", l3)
	assert.False(t, ok3)
	assert.Equal(t, []bool{true, true, false}, []bool{s3[0].Correct, s3[1].Correct, s3[2].Correct})
	assert.Equal(t, "7", s3[2].Predicted)

	m := Compute([]Scored{{s1, ok1}, {s2, ok2}, {s3, ok3}})
	assert.Equal(t, 3, m.Questions)
	assert.Equal(t, 1, m.Correct)
	assert.Equal(t, 0.3333, m.ABQ)
	// (1 + 0 + 2/3) / 3
	assert.Equal(t, 0.5556, m.PSAQ)
	// 4 right of 6
	assert.Equal(t, 0.6667, m.UASQ)

	assert.Equal(t, Metrics{}, Compute(nil))
	_, ok := Score("", Label{ID: 9})
	assert.True(t, ok, "a label with no sub-answers is correct, as all() of nothing is true")
}

func TestRound4(t *testing.T) {
	assert.Equal(t, 0.0312, Round4(0.03125)) // an exact tie goes to even
	assert.Equal(t, 0.1235, Round4(0.12345)) // 0.12345 is a little above the tie
	assert.Equal(t, 1.0, Round4(0.99995))
}

func TestScoreRepeatedLabelName(t *testing.T) {
	// DABench's question 734 names sub-answers more than once; the reference
	// scorer keeps each name once, with its last value.
	l := Label{ID: 734, Answers: [][2]string{{"r", "0.38"}, {"sig", "significant"}, {"sig", "non-significant"}, {"r", "0.56"}}}
	subs, ok := Score("@r[0.56] @sig[non-significant]", l)
	assert.True(t, ok)
	assert.Len(t, subs, 2)
	assert.Equal(t, "r", subs[0].Name)
	assert.Equal(t, "0.56", subs[0].Expected)
}
