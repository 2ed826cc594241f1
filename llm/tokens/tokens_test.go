package tokens_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentteam/agentteam/llm/tokens"
)

func samples() map[string]string {
	var table strings.Builder
	table.WriteString("      region     sales   margin        date\n")
	for i := range 200 {
		fmt.Fprintf(&table, "%4d  north-%d  %8.2f  %6.3f  2024-%02d-%02d\n", i, i%7, float64(i)*1234.567, float64(i)/997, i%12+1, i%28+1)
	}
	return map[string]string{
		"english":   strings.Repeat("The quick brown fox jumps over the lazy dog, and then it rests for a while. ", 40),
		"code":      strings.Repeat("import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df.groupby(['region'])['sales'].agg(['mean', 'sum']).round(2))\n", 30),
		"table":     table.String(),
		"traceback": strings.Repeat("Traceback (most recent call last):\n  File \"<ipython-input-3>\", line 1, in <module>\nKeyError: 'Sales'\n", 20),
		"json":      strings.Repeat(`{"id": 12345, "name": "Ünïcödé naïve café", "tags": ["a", "b"], "ok": true}`, 30),
		"cjk":       strings.Repeat("数据分析的结果显示销售额在第三季度增长了百分之十二。", 30),
		"emoji":     strings.Repeat("📈 sales up 🎉 ", 50),
		"hex":       strings.Repeat("0x7f3a9c2b1e 0xdeadbeef ", 60),
	}
}

// The estimate must never undercount what the real tokenizers count, or a
// request sized by it could overflow a window.
func TestEstimateIsConservative(t *testing.T) {
	o200k := tokens.ForModel("gpt-4o")
	cl100k := tokens.ForModel("gpt-4")
	assert.True(t, o200k.Exact())
	assert.Equal(t, "o200k_base", o200k.Name())
	assert.Equal(t, "cl100k_base", cl100k.Name())
	for name, s := range samples() {
		est := tokens.Estimate{}.Count(s)
		a, b := o200k.Count(s), cl100k.Count(s)
		t.Logf("%-10s estimate %5d  o200k %5d  cl100k %5d  (%.2fx)", name, est, a, b, float64(est)/float64(max(a, b)))
		assert.GreaterOrEqual(t, est, a, name)
		assert.GreaterOrEqual(t, est, b, name)
		assert.Less(t, est, 4*max(a, b), name+": not absurdly high")
	}
}

func TestForModel(t *testing.T) {
	for model, want := range map[string]string{
		"gpt-4o-mini": "o200k_base", "openai/gpt-4.1": "o200k_base", "o3-mini": "o200k_base", "gpt-5": "o200k_base",
		"gpt-oss-20b": "o200k_base", "gpt-4-turbo": "cl100k_base", "gpt-3.5-turbo": "cl100k_base",
		"meta-llama/Llama-3.1-8B-Instruct": "cl100k_base", "qwen3:8b": "estimate", "deepseek-r1": "estimate", "": "estimate",
	} {
		assert.Equal(t, want, tokens.ForModel(model).Name(), model)
	}
	assert.Equal(t, 0, tokens.Estimate{}.Count(""))
}
