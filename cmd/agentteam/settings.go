package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/agentteam/agentteam/mcp"
)

// Settings is the effective configuration of a run. Every field has a
// default (see defaultSettings and config.yaml).
type Settings struct {
	Model   ModelSettings   `mapstructure:"model" yaml:"model"`
	Jupyter JupyterSettings `mapstructure:"jupyter" yaml:"jupyter"`
	Sandbox SandboxSettings `mapstructure:"sandbox" yaml:"sandbox"`
	Team    TeamSettings    `mapstructure:"team" yaml:"team"`
	Prompts PromptSettings  `mapstructure:"prompts" yaml:"prompts"`
	Output  OutputSettings  `mapstructure:"output" yaml:"output"`
	MCP     MCPSettings     `mapstructure:"mcp" yaml:"mcp"`
}

// MCPSettings: MCP servers whose tools the coder may call.
type MCPSettings struct {
	Servers []mcp.ServerConfig `mapstructure:"servers" yaml:"servers"`
}

// ModelSettings: the OpenAI-compatible endpoint.
type ModelSettings struct {
	Name              string        `mapstructure:"name" yaml:"name"`
	BaseURL           string        `mapstructure:"base_url" yaml:"base_url"`
	APIKeyEnv         string        `mapstructure:"api_key_env" yaml:"api_key_env"`
	Temperature       float64       `mapstructure:"temperature" yaml:"temperature"`
	MaxTokens         int           `mapstructure:"max_tokens" yaml:"max_tokens"`
	RequestTimeout    time.Duration `mapstructure:"request_timeout" yaml:"request_timeout"`
	StreamIdleTimeout time.Duration `mapstructure:"stream_idle_timeout" yaml:"stream_idle_timeout"`
	MaxRetries        int           `mapstructure:"max_retries" yaml:"max_retries"`
	ToolCalls         bool          `mapstructure:"tool_calls" yaml:"tool_calls"`
	ContextWindow     int           `mapstructure:"context_window" yaml:"context_window"`
	Vision            bool          `mapstructure:"vision" yaml:"vision"`
	Prices            []PriceEntry  `mapstructure:"prices" yaml:"prices"`
}

// PriceEntry is one row of the price table: a model's price per million
// tokens.
type PriceEntry struct {
	Model      string  `mapstructure:"model" yaml:"model"`
	Prompt     float64 `mapstructure:"prompt" yaml:"prompt"`
	Completion float64 `mapstructure:"completion" yaml:"completion"`
	Cached     float64 `mapstructure:"cached" yaml:"cached"`
}

// JupyterSettings: where kernels run.
type JupyterSettings struct {
	URL          string        `mapstructure:"url" yaml:"url"`
	Token        string        `mapstructure:"token" yaml:"token"`
	Kernel       string        `mapstructure:"kernel" yaml:"kernel"`
	Timeout      time.Duration `mapstructure:"timeout" yaml:"timeout"`
	StartTimeout time.Duration `mapstructure:"start_timeout" yaml:"start_timeout"`
	Binary       string        `mapstructure:"binary" yaml:"binary"`
	RemoteDir    string        `mapstructure:"remote_dir" yaml:"remote_dir"`
	KeepRemote   bool          `mapstructure:"keep_remote" yaml:"keep_remote"`
	// RestoreAfterRestart re-runs the cells that succeeded since the last
	// restart when the kernel dies.
	RestoreAfterRestart bool `mapstructure:"restore_after_restart" yaml:"restore_after_restart"`
}

// SandboxSettings: confinement of the embedded server's kernels.
type SandboxSettings struct {
	Enabled   bool   `mapstructure:"enabled" yaml:"enabled"`
	Network   bool   `mapstructure:"network" yaml:"network"`
	Memory    string `mapstructure:"memory" yaml:"memory"`
	Processes int    `mapstructure:"processes" yaml:"processes"`
	// Disk limits what kernels add to the workspace ("none": no limit).
	Disk string `mapstructure:"disk" yaml:"disk"`
	// Env names host environment variables passed into the kernel.
	Env []string `mapstructure:"env" yaml:"env"`
}

// TeamSettings: the plan → code → run loop.
type TeamSettings struct {
	MaxTurns   int           `mapstructure:"max_turns" yaml:"max_turns"`
	Timeout    time.Duration `mapstructure:"timeout" yaml:"timeout"`
	LoopLimit  int           `mapstructure:"loop_limit" yaml:"loop_limit"`
	MaxHistory int           `mapstructure:"max_history" yaml:"max_history"`
}

// PromptSettings: where prompt overrides live.
type PromptSettings struct {
	Dir string `mapstructure:"dir" yaml:"dir"`
}

// OutputSettings: where a run's outputs go.
type OutputSettings struct {
	Dir            string `mapstructure:"dir" yaml:"dir"`
	MaxOutputBytes int    `mapstructure:"max_output_bytes" yaml:"max_output_bytes"`
	// MaxFileBytes bounds each file copied into files/, MaxFilesBytes all
	// of them together (sizes like 100MiB; 0: no bound).
	MaxFileBytes  string `mapstructure:"max_file_bytes" yaml:"max_file_bytes"`
	MaxFilesBytes string `mapstructure:"max_files_bytes" yaml:"max_files_bytes"`
	// MaxMimeBytes bounds each image, html or other non-text value of a
	// display (sizes like 10MiB; 0: no bound).
	MaxMimeBytes string `mapstructure:"max_mime_bytes" yaml:"max_mime_bytes"`
}

// fileLimits are the output.max_file_bytes and output.max_files_bytes
// limits as session.CollectConfig takes them (negative: none).
func (o OutputSettings) fileLimits() (perFile, total int64) {
	perFile, _ = parseBytes(o.MaxFileBytes)
	total, _ = parseBytes(o.MaxFilesBytes)
	if perFile == 0 {
		perFile = -1
	}
	if total == 0 {
		total = -1
	}
	return perFile, total
}

// mimeLimit is output.max_mime_bytes as session.Config takes it
// (negative: none).
func (o OutputSettings) mimeLimit() int64 {
	n, _ := parseBytes(o.MaxMimeBytes)
	if n == 0 {
		return -1
	}
	return n
}

func defaultSettings() map[string]any {
	return map[string]any{
		"model.name":                    "",
		"model.base_url":                "",
		"model.api_key_env":             "",
		"model.temperature":             0.0,
		"model.max_tokens":              0,
		"model.request_timeout":         "5m",
		"model.stream_idle_timeout":     "60s",
		"model.max_retries":             3,
		"model.context_window":          0,
		"model.vision":                  false,
		"model.prices":                  []any{},
		"model.tool_calls":              false,
		"jupyter.url":                   "",
		"jupyter.token":                 "",
		"jupyter.kernel":                "python3",
		"jupyter.timeout":               "120s",
		"jupyter.start_timeout":         "60s",
		"jupyter.binary":                "",
		"jupyter.remote_dir":            "agentteam",
		"jupyter.keep_remote":           false,
		"jupyter.restore_after_restart": true,
		"sandbox.enabled":               true,
		"sandbox.network":               false,
		"sandbox.memory":                "4GiB",
		"sandbox.processes":             512,
		"sandbox.disk":                  "10GiB",
		"sandbox.env":                   []string{},
		"team.max_turns":                30,
		"team.timeout":                  "30m",
		"team.loop_limit":               3,
		"team.max_history":              0,
		"prompts.dir":                   "",
		"output.dir":                    "",
		"output.max_output_bytes":       65536,
		"output.max_file_bytes":         "100MiB",
		"output.max_files_bytes":        "1GiB",
		"output.max_mime_bytes":         "10MiB",
		"mcp.servers":                   []any{},
	}
}

// secretKeys are redacted by `agentteam config`.
var secretKeys = map[string]bool{"jupyter.token": true}

// urlKeys are shown by `agentteam config` without user info or query.
var urlKeys = map[string]bool{"model.base_url": true, "jupyter.url": true}

// configError is bad configuration: exit status 2.
func configError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("config: "+format, args...)}
}

// loadSettings reads the configuration: defaults, then the config file
// (--config, else $AGENTTEAM_CONFIG, else the user config dir), then
// AGENTTEAM_* environment variables (AGENTTEAM_MODEL_NAME for model.name),
// then the flags bound in flagKeys (config key → flag name) that were set.
func loadSettings(configFile string, flags *pflag.FlagSet, flagKeys map[string]string) (*Settings, *viper.Viper, error) {
	v := viper.New()
	for k, val := range defaultSettings() {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("AGENTTEAM")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	file := configFile
	if file == "" {
		file = os.Getenv("AGENTTEAM_CONFIG")
	}
	if file == "" {
		// Not ./agentteam.yaml: a directory of downloaded data may hold
		// one, and its model.base_url would receive the key (its
		// jupyter.binary would even be run). It is read when named.
		if dir, err := os.UserConfigDir(); err == nil {
			p := filepath.Join(dir, "agentteam", "config.yaml")
			if _, err := os.Stat(p); err == nil {
				file = p
			}
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, configError("%v", err)
		}
		if err := checkKeys(b, file); err != nil {
			return nil, nil, err
		}
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, nil, configError("%s: %v", file, err)
		}
	}
	if flags != nil {
		for key, name := range flagKeys {
			if f := flags.Lookup(name); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}
	var s Settings
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           &s,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return nil, nil, err
	}
	all := map[string]any{}
	for _, k := range v.AllKeys() {
		setNested(all, k, v.Get(k))
	}
	if err := dec.Decode(all); err != nil {
		return nil, nil, configError("%s", oneLine(err))
	}
	if err := validate(&s); err != nil {
		return nil, nil, err
	}
	return &s, v, nil
}

func setNested(m map[string]any, key string, val any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = val
}

func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	s = strings.Join(strings.Fields(s), " ")
	return strings.TrimPrefix(s, "decoding failed due to the following error(s): ")
}

// checkKeys rejects keys the configuration does not know, naming them.
func checkKeys(b []byte, file string) error {
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return configError("%s is not valid YAML: %s", file, oneLine(err))
	}
	known := defaultSettings()
	var unknown []string
	for section, val := range doc {
		sub, ok := val.(map[string]any)
		if !ok {
			if _, isSection := sectionOf(known, section); isSection || val == nil {
				if val == nil {
					continue
				}
				return configError("%s: %q must be a mapping of settings", file, section)
			}
			unknown = append(unknown, section)
			continue
		}
		for k := range sub {
			if _, ok := known[section+"."+k]; !ok {
				unknown = append(unknown, section+"."+k)
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return configError("%s: unknown setting %s (see config.yaml for every setting)", file, strings.Join(unknown, ", "))
	}
	return nil
}

func sectionOf(known map[string]any, section string) (string, bool) {
	for k := range known {
		if strings.HasPrefix(k, section+".") {
			return section, true
		}
	}
	return "", false
}

func validate(s *Settings) error {
	durations := map[string]time.Duration{
		"model.request_timeout":     s.Model.RequestTimeout,
		"model.stream_idle_timeout": s.Model.StreamIdleTimeout,
		"jupyter.timeout":           s.Jupyter.Timeout,
		"jupyter.start_timeout":     s.Jupyter.StartTimeout,
		"team.timeout":              s.Team.Timeout,
	}
	keys := make([]string, 0, len(durations))
	for k := range durations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if durations[k] < 0 {
			return configError("%s must not be negative (got %s)", k, durations[k])
		}
	}
	ints := map[string]int{
		"model.max_tokens":        s.Model.MaxTokens,
		"model.context_window":    s.Model.ContextWindow,
		"team.max_turns":          s.Team.MaxTurns,
		"team.max_history":        s.Team.MaxHistory,
		"output.max_output_bytes": s.Output.MaxOutputBytes,
	}
	for k, n := range ints {
		if n < 0 {
			return configError("%s must not be negative (got %d)", k, n)
		}
	}
	if w := s.Model.ContextWindow; w > 0 && w < 1024 {
		return configError("model.context_window must be 0 (ask the endpoint) or at least 1024 tokens (got %d)", w)
	}
	for i, p := range s.Model.Prices {
		if strings.TrimSpace(p.Model) == "" {
			return configError("model.prices[%d]: no model name", i)
		}
		if p.Prompt < 0 || p.Completion < 0 || p.Cached < 0 {
			return configError("model.prices[%d] (%s): prices must not be negative", i, p.Model)
		}
	}
	if s.Model.Temperature < 0 || s.Model.Temperature > 2 {
		return configError("model.temperature must be between 0 and 2 (got %g)", s.Model.Temperature)
	}
	if _, err := parseMemory(s.Sandbox.Memory); err != nil {
		return configError("sandbox.memory: %v", err)
	}
	if s.Sandbox.Processes < -1 {
		return configError("sandbox.processes must be a count, or -1 for no limit (got %d)", s.Sandbox.Processes)
	}
	if _, err := parseDisk(s.Sandbox.Disk); err != nil {
		return configError("sandbox.disk: %v", err)
	}
	if _, err := parseBytes(s.Output.MaxFileBytes); err != nil {
		return configError("output.max_file_bytes: %v", err)
	}
	if _, err := parseBytes(s.Output.MaxFilesBytes); err != nil {
		return configError("output.max_files_bytes: %v", err)
	}
	if _, err := parseBytes(s.Output.MaxMimeBytes); err != nil {
		return configError("output.max_mime_bytes: %v", err)
	}
	names := map[string]bool{}
	for i, srv := range s.MCP.Servers {
		if srv.Name == "" {
			return configError("mcp.servers[%d] has no name", i)
		}
		if names[srv.Name] {
			return configError("mcp.servers: two servers are named %q", srv.Name)
		}
		names[srv.Name] = true
		if err := srv.Validate(); err != nil {
			return configError("mcp.servers[%d]: %v", i, err)
		}
		if srv.CallTimeout < 0 {
			return configError("mcp.servers[%d].call_timeout must not be negative", i)
		}
	}
	return nil
}

// mcpSecrets are the values of MCP servers' headers and environment
// variables (tokens, often): never printed.
func mcpSecrets(s *Settings) []string {
	var out []string
	for _, srv := range s.MCP.Servers {
		for _, v := range srv.Headers {
			out = append(out, v)
		}
		for _, v := range srv.Env {
			out = append(out, v)
		}
	}
	return out
}

// parseDisk reads sandbox.disk: a size, or "none" for no limit (-1).
func parseDisk(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return -1, nil
	}
	n, err := parseBytes(s)
	if err == nil && n > 0 && n < 16<<20 {
		return 0, fmt.Errorf("%q is below the minimum of 16MiB (or \"none\")", s)
	}
	return n, err
}

// parseMemory reads the sandbox's memory limit: a size, or none (also -1)
// for no limit (-1 returned); "" or 0 is the default (0 returned).
func parseMemory(s string) (int64, error) {
	if t := strings.TrimSpace(s); strings.EqualFold(t, "none") || t == "-1" {
		return -1, nil
	}
	n, err := parseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size like 4GiB or 512MiB, or none", s)
	}
	return n, nil
}

// parseBytes reads sizes like 4GiB, 512MiB, 2G, 1000000 ("" or 0: none).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" || t == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size like 4GiB or 512MiB", s)
	}
	return int64(f * float64(mult)), nil
}

// endpoint is the resolved model endpoint.
type endpoint struct {
	BaseURL string
	APIKey  string
	Model   string
	Replay  string // a replay file instead of a model
	Source  string // where the base URL came from, for messages
}

// ollamaURL is probed when nothing else names an endpoint.
var ollamaURL = "http://127.0.0.1:11434/v1"

var errNoEndpoint = errors.New("no model endpoint configured: set --base-url and --model (or model.base_url/model.name in a config file, or OPENAI_BASE_URL and OPENAI_API_KEY), run a local Ollama, or try the bundled replay with --model replay:examples/messy/replay.md")

// resolveEndpoint picks the model endpoint: settings (flags, env
// AGENTTEAM_MODEL_*, config file) first, then OPENAI_BASE_URL and
// OPENAI_API_KEY, then a local Ollama if one answers.
func resolveEndpoint(s *Settings) (*endpoint, error) {
	ep := &endpoint{Model: s.Model.Name, BaseURL: s.Model.BaseURL, Source: "configuration"}
	if rest, ok := strings.CutPrefix(ep.Model, "replay:"); ok {
		if rest == "" {
			return nil, usageErrorf("--model replay: needs a file, e.g. replay:examples/messy/replay.md")
		}
		ep.Replay = rest
		return ep, nil
	}
	switch {
	case s.Model.APIKeyEnv != "":
		ep.APIKey = os.Getenv(s.Model.APIKeyEnv)
		if ep.APIKey == "" {
			return nil, usageErrorf("the API key variable %s (model.api_key_env) is empty or unset", s.Model.APIKeyEnv)
		}
	case os.Getenv("AGENTTEAM_API_KEY") != "":
		ep.APIKey = os.Getenv("AGENTTEAM_API_KEY")
	default:
		ep.APIKey = os.Getenv("OPENAI_API_KEY")
	}
	if ep.BaseURL == "" {
		if u := os.Getenv("OPENAI_BASE_URL"); u != "" {
			ep.BaseURL, ep.Source = u, "OPENAI_BASE_URL"
		} else if ep.APIKey != "" && os.Getenv("OPENAI_API_KEY") == ep.APIKey {
			ep.BaseURL, ep.Source = "https://api.openai.com/v1", "OPENAI_API_KEY"
		} else if probeOllama() {
			ep.BaseURL, ep.Source = ollamaURL, "a local Ollama"
		} else if ep.Model != "" && ep.APIKey == "" {
			return nil, &exitError{code: 2, err: fmt.Errorf("no API key for the model %s: set OPENAI_API_KEY (or AGENTTEAM_API_KEY, or name the variable with --api-key-env), or give --base-url for an endpoint that needs no key", ep.Model)}
		} else {
			return nil, &exitError{code: 2, err: errNoEndpoint}
		}
	}
	if ep.Model == "" {
		if m := os.Getenv("OPENAI_MODEL"); m != "" {
			ep.Model = m
		} else {
			return nil, usageErrorf("no model name: set --model (or model.name, or AGENTTEAM_MODEL_NAME) for the endpoint from %s", ep.Source)
		}
	}
	return ep, nil
}

func probeOllama() bool {
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(strings.TrimSuffix(ollamaURL, "/v1") + "/api/version")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// fieldKeys lists every settings key, for tests and docs.
func fieldKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, prefix+name+".")
				continue
			}
			keys = append(keys, prefix+name)
		}
	}
	walk(reflect.TypeOf(Settings{}), "")
	sort.Strings(keys)
	return keys
}

// localConfigNote says, when ./agentteam.yaml exists but no config file was
// named, that it is not read and how to read it.
func localConfigNote(configFile string) string {
	if configFile != "" || os.Getenv("AGENTTEAM_CONFIG") != "" {
		return ""
	}
	if st, err := os.Stat("agentteam.yaml"); err != nil || st.IsDir() {
		return ""
	}
	return "note: ./agentteam.yaml is not read unless named (--config agentteam.yaml or AGENTTEAM_CONFIG): a config file that came with the data could send your API key to another endpoint"
}

// runSettings loads the settings of a command that runs tasks (solve, eval,
// serve): the flags bound in flagKeys, --no-sandbox as sandbox.enabled
// false, and a note on stderr when ./agentteam.yaml is there but not read.
func runSettings(cmd *cobra.Command, configFile string, flagKeys map[string]string, noSandbox bool) (*Settings, error) {
	if noSandbox {
		flagKeys = withKey(flagKeys, "sandbox.enabled", "sandbox-enabled")
		_ = cmd.Flags().Set("sandbox-enabled", "false")
	}
	if note := localConfigNote(configFile); note != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "agentteam: "+note)
	}
	s, _, err := loadSettings(configFile, cmd.Flags(), flagKeys)
	return s, err
}
