package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// clearEnv unsets the variables that configure agentteam for one test.
func clearEnv(t *testing.T) {
	for _, k := range []string{"AGENTTEAM_MODEL_NAME", "AGENTTEAM_MODEL_BASE_URL", "AGENTTEAM_JUPYTER_URL", "AGENTTEAM_JUPYTER_TOKEN",
		"AGENTTEAM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "AGENTTEAM_TEAM_MAX_TURNS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Chdir(t.TempDir())
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "agentteam.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestConfigYAMLDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../config.yaml")
	require.NoError(t, err)
	require.NoError(t, checkKeys(b, "config.yaml"), "config.yaml has only known keys")
	var doc map[string]map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc))
	for _, k := range fieldKeys() {
		sec, key, _ := cut(k)
		_, ok := doc[sec][key]
		assert.True(t, ok, "config.yaml documents %s", k)
	}
	// And its values are the defaults.
	abs, err := filepath.Abs("../../config.yaml")
	require.NoError(t, err)
	clearEnv(t)
	fromFile, _, err := loadSettings(abs, nil, nil)
	require.NoError(t, err)
	defaults, _, err := loadSettings("", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, defaults, fromFile)
}

func cut(k string) (string, string, bool) {
	for i := range k {
		if k[i] == '.' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

func TestConfigPrecedence(t *testing.T) {
	clearEnv(t)
	file := writeConfig(t, "model:\n  name: from-file\n  base_url: http://file/v1\nteam:\n  max_turns: 7\n")
	s, _, err := loadSettings(file, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "from-file", s.Model.Name)
	assert.Equal(t, 7, s.Team.MaxTurns)

	t.Setenv("AGENTTEAM_MODEL_NAME", "from-env")
	s, _, err = loadSettings(file, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "from-env", s.Model.Name, "env over file")
	assert.Equal(t, "http://file/v1", s.Model.BaseURL)

	cmd := newSolveCmd()
	require.NoError(t, cmd.Flags().Parse([]string{"--model", "from-flag", "--max-turns", "3"}))
	s, _, err = loadSettings(file, cmd.Flags(), solveFlagKeys)
	require.NoError(t, err)
	assert.Equal(t, "from-flag", s.Model.Name, "flags over all")
	assert.Equal(t, 3, s.Team.MaxTurns)

	// ./agentteam.yaml is read only when named (it may have come with the
	// data); AGENTTEAM_CONFIG names a file too.
	require.NoError(t, os.WriteFile("agentteam.yaml", []byte("jupyter:\n  kernel: other\n"), 0o644))
	s, _, err = loadSettings("", nil, nil)
	require.NoError(t, err)
	assert.NotEqual(t, "other", s.Jupyter.Kernel)
	assert.Contains(t, localConfigNote(""), "./agentteam.yaml is not read unless named")
	assert.Empty(t, localConfigNote("agentteam.yaml"))
	s, _, err = loadSettings("agentteam.yaml", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "other", s.Jupyter.Kernel)
	t.Setenv("AGENTTEAM_CONFIG", "agentteam.yaml")
	s, _, err = loadSettings("", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "other", s.Jupyter.Kernel)
	assert.Empty(t, localConfigNote(""))
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	clearEnv(t)
	for body, want := range map[string]string{
		"model:\n  nmae: x\n":               "unknown setting model.nmae",
		"colour: blue\n":                    "unknown setting colour",
		"team:\n  max_turns: lots\n":        "max_turns",
		"jupyter:\n  timeout: -5s\n":        "jupyter.timeout must not be negative",
		"team:\n  timeout: soon\n":          "timeout",
		"sandbox:\n  memory: plenty\n":      "sandbox.memory",
		"output:\n  max_mime_bytes: huge\n": "output.max_mime_bytes",
		"sandbox:\n  processes: -5\n":       "sandbox.processes must be a count, or -1 for no limit",
		"sandbox:\n  memory: -2GiB\n":       "sandbox.memory",
		"model:\n  temperature: 9\n":        "model.temperature",
		"model: [1, 2]\n":                   "\"model\" must be a mapping",
		"model:\n  name: [unclosed\n":       "not valid YAML",
	} {
		_, _, err := loadSettings(writeConfig(t, body), nil, nil)
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), want, body)
		assert.Equal(t, 2, exitCode(err))
	}
	r := runCLI(t, "", "solve", "x", "--config", writeConfig(t, "team:\n  max_turns: -1\n"))
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "team.max_turns must not be negative")
}

// output.max_mime_bytes reaches the kernel's session: a size, 10MiB by
// default, 0 for no bound.
func TestConfigMimeCapReachesTheSession(t *testing.T) {
	clearEnv(t)
	for body, want := range map[string]int64{
		"":                                  10 << 20,
		"output:\n  max_mime_bytes: 2KiB\n": 2048,
		"output:\n  max_mime_bytes: 0\n":    -1,
	} {
		s, _, err := loadSettings(writeConfig(t, body), nil, nil)
		require.NoError(t, err, body)
		cfg, err := solveConfig(s, nil, nil, nil)
		require.NoError(t, err, body)
		assert.Equal(t, want, cfg.Session.MaxMimeBytes, body)
	}
}

// The sandbox's limits can be turned off as config.yaml says: memory none
// (or -1), processes -1.
func TestConfigSandboxLimitsCanBeTurnedOff(t *testing.T) {
	clearEnv(t)
	for body, want := range map[string][2]int64{
		"":                           {4 << 30, 512},
		"sandbox:\n  memory: none\n": {-1, 512},
		"sandbox:\n  memory: -1\n":   {-1, 512},
		"sandbox:\n  memory: 1GiB\n  processes: -1\n": {1 << 30, -1},
	} {
		s, _, err := loadSettings(writeConfig(t, body), nil, nil)
		require.NoError(t, err, body)
		cfg, err := solveConfig(s, nil, nil, nil)
		require.NoError(t, err, body)
		assert.Equal(t, want[0], cfg.Session.Sandbox.Memory, body)
		assert.Equal(t, want[1], int64(cfg.Session.Sandbox.Processes), body)
	}
}

func TestConfigCommandRedactsSecrets(t *testing.T) {
	clearEnv(t)
	t.Setenv("AGENTTEAM_JUPYTER_TOKEN", "jupyter-secret-token")
	t.Setenv("OPENAI_API_KEY", "sk-config-secret")
	r := runCLI(t, "", "config", "--config", writeConfig(t, "model:\n  name: gpt-test\n"))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "name: gpt-test")
	assert.Contains(t, r.stdout, "token: '[REDACTED]'")
	assert.Contains(t, r.stdout, "# API key: found in OPENAI_API_KEY (not shown)")
	assert.NotContains(t, r.stdout, "jupyter-secret-token")
	assert.NotContains(t, r.stdout, "sk-config-secret")
	assert.Contains(t, r.stdout, "timeout: 2m0s")
}

// A URL setting can carry a password or a key: `config` (whose output is
// what people paste into bug reports) shows neither.
func TestConfigCommandHidesCredentialsInURLs(t *testing.T) {
	clearEnv(t)
	t.Setenv("AGENTTEAM_MODEL_BASE_URL", "https://user:hunter2pass@models.example.com/v1?api-key=QUERYSECRET123")
	t.Setenv("AGENTTEAM_JUPYTER_URL", "https://jupyter.example.com/lab?token=JUPYTERQUERYTOKEN")
	r := runCLI(t, "", "config")
	require.Equal(t, 0, r.code, r.stderr)
	for _, s := range []string{"hunter2pass", "QUERYSECRET123", "JUPYTERQUERYTOKEN"} {
		assert.NotContains(t, r.stdout+r.stderr, s)
	}
	assert.Contains(t, r.stdout, "base_url: https://models.example.com/v1")
	assert.Contains(t, r.stdout, "url: https://jupyter.example.com/lab")
	assert.Contains(t, r.stdout, "user info and query not shown")
}

func TestEndpointResolution(t *testing.T) {
	clearEnv(t)
	old := ollamaURL
	ollamaURL = "http://127.0.0.1:1/v1" // nothing listens there
	defer func() { ollamaURL = old }()

	s, _, err := loadSettings("", nil, nil)
	require.NoError(t, err)
	_, err = resolveEndpoint(s)
	require.ErrorIs(t, err, errNoEndpoint)

	t.Setenv("OPENAI_BASE_URL", "http://openai-compatible/v1")
	t.Setenv("OPENAI_API_KEY", "k1")
	s.Model.Name = "m"
	ep, err := resolveEndpoint(s)
	require.NoError(t, err)
	assert.Equal(t, endpoint{BaseURL: "http://openai-compatible/v1", APIKey: "k1", Model: "m", Source: "OPENAI_BASE_URL"}, *ep)

	s.Model.BaseURL = "http://configured/v1"
	t.Setenv("MY_KEY", "k2")
	s.Model.APIKeyEnv = "MY_KEY"
	ep, err = resolveEndpoint(s)
	require.NoError(t, err)
	assert.Equal(t, "http://configured/v1", ep.BaseURL)
	assert.Equal(t, "k2", ep.APIKey)

	s.Model.APIKeyEnv = "UNSET_KEY_VAR"
	_, err = resolveEndpoint(s)
	assert.ErrorContains(t, err, "UNSET_KEY_VAR")

	s.Model.Name = "replay:some/file.md"
	ep, err = resolveEndpoint(s)
	require.NoError(t, err)
	assert.Equal(t, "some/file.md", ep.Replay)
}

// TestConfigCommandSaysWhereEachSettingCameFrom: flag, env, file and
// default, the file read, the endpoint that would be used, and whether a
// key was found.
func TestConfigCommandSaysWhereEachSettingCameFrom(t *testing.T) {
	clearEnv(t)
	old := ollamaURL
	ollamaURL = "http://127.0.0.1:1/v1"
	defer func() { ollamaURL = old }()
	file := writeConfig(t, "model:\n  name: from-file\nteam:\n  max_turns: 12\n")
	t.Setenv("AGENTTEAM_MODEL_BASE_URL", "http://127.0.0.1:11434/v1")
	t.Setenv("AGENTTEAM_JUPYTER_TOKEN", "tok-secret-4711")
	t.Setenv("OPENAI_API_KEY", "sk-config-key-4711")
	r := runCLI(t, "", "config", "--config", file, "--timeout", "5m", "--no-sandbox")
	require.Equal(t, 0, r.code, r.stderr)
	lines := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && !strings.HasPrefix(k, "#") {
			lines[k] = strings.TrimSpace(v)
		}
	}
	assert.Regexp(t, `^from-file +# file$`, lines["name"])
	assert.Regexp(t, `^http://127.0.0.1:11434/v1 +# env AGENTTEAM_MODEL_BASE_URL$`, lines["base_url"])
	assert.Regexp(t, `^5m0s +# flag --timeout$`, lines["timeout"])
	assert.Regexp(t, `^false +# flag --no-sandbox$`, lines["enabled"])
	assert.Regexp(t, `^12 +# file$`, lines["max_turns"])
	assert.Regexp(t, `^python3 +# default$`, lines["kernel"])
	assert.Regexp(t, `^'\[REDACTED\]' +# env AGENTTEAM_JUPYTER_TOKEN$`, lines["token"])
	assert.Contains(t, r.stdout, "# config file: "+file+"\n")
	assert.Contains(t, r.stdout, "# model endpoint: http://127.0.0.1:11434/v1 (from model.base_url, env AGENTTEAM_MODEL_BASE_URL), model from-file\n")
	assert.Contains(t, r.stdout, "# API key: found in OPENAI_API_KEY (not shown)\n")
	assert.NotContains(t, r.stdout, "sk-config-key-4711")
	assert.NotContains(t, r.stdout, "tok-secret-4711")
	// The output is YAML that reads back as the same settings.
	var doc map[string]map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(r.stdout), &doc))
	assert.Equal(t, "from-file", doc["model"]["name"])

	// Nothing configured: no file, no endpoint, no key, and each says so.
	clearEnv(t)
	r = runCLI(t, "", "config")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "# config file: none")
	assert.Contains(t, r.stdout, "# model endpoint: none: no model endpoint configured")
	assert.Contains(t, r.stdout, "# API key: none found")
	assert.Regexp(t, `max_turns: 30 +# default`, r.stdout)

	// OPENAI_* variables count too: the endpoint names its source.
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
	r = runCLI(t, "", "config", "--model", "m")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "# model endpoint: http://127.0.0.1:8000/v1 (from OPENAI_BASE_URL), model m\n")
	assert.Regexp(t, `name: m +# flag --model`, r.stdout)
}
