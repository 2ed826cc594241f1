package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

func newConfigCmd() *cobra.Command {
	var configFile string
	var noSandbox bool
	cmd := &cobra.Command{
		Use:   "config [flags]",
		Short: "Print the effective configuration and where each setting came from",
		Long: `Print the effective configuration of a run: every setting with where it came
from (flag, env, file or default), the config file read, the model endpoint
that would be used, and whether an API key was found (the key itself is never
shown; the Jupyter token is redacted).

Settings come from, in order of precedence: the flags of agentteam solve
(which this command accepts too), AGENTTEAM_* environment variables
(AGENTTEAM_MODEL_NAME sets model.name), the config file (--config, else
$AGENTTEAM_CONFIG, else the user config directory; ./agentteam.yaml only
when named), and the defaults.
config.yaml in the repository documents every setting.`,
		Example: `  agentteam config
  agentteam config --model gpt-4o-mini --config team.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			flagKeys := solveFlagKeys
			if noSandbox {
				flagKeys = withKey(flagKeys, "sandbox.enabled", "sandbox-enabled")
				_ = cmd.Flags().Set("sandbox-enabled", "false")
			}
			s, v, err := loadSettings(configFile, cmd.Flags(), flagKeys)
			if err != nil {
				return err
			}
			return printConfig(cmd.OutOrStdout(), s, v, cmd.Flags(), flagKeys, noSandbox)
		},
	}
	// The settings flags are solve's own, so that both read them alike.
	solve := newSolveCmd()
	for _, name := range solveFlagKeys {
		if f := solve.Flags().Lookup(name); f != nil {
			cmd.Flags().AddFlag(f)
		}
	}
	if f := solve.Flags().Lookup("sandbox-enabled"); f != nil {
		cmd.Flags().AddFlag(f)
	}
	cmd.Flags().BoolVar(&noSandbox, "no-sandbox", false, "as for solve: run the embedded server's kernels unsandboxed")
	cmd.Flags().StringVar(&configFile, "config", "", "config file (default $AGENTTEAM_CONFIG, then the user config dir; ./agentteam.yaml only when named)")
	return cmd
}

// settingSource says where a setting's value came from.
func settingSource(key string, v *viper.Viper, flags *pflag.FlagSet, flagKeys map[string]string, noSandbox bool) string {
	if name, ok := flagKeys[key]; ok && flags != nil {
		if f := flags.Lookup(name); f != nil && f.Changed {
			if key == "sandbox.enabled" && noSandbox {
				return "flag --no-sandbox"
			}
			return "flag --" + name
		}
	}
	env := "AGENTTEAM_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	if os.Getenv(env) != "" {
		return "env " + env
	}
	if v != nil && v.InConfig(key) {
		return "file"
	}
	return "default"
}

// printConfig writes the settings as YAML, each line with its source as
// a comment, then the endpoint, the key and the file.
func printConfig(w io.Writer, s *Settings, v *viper.Viper, flags *pflag.FlagSet, flagKeys map[string]string, noSandbox bool) error {
	var b strings.Builder
	file := v.ConfigFileUsed()
	if file == "" {
		b.WriteString("# config file: none (--config and AGENTTEAM_CONFIG unset, no " + userConfigPath() + ")\n")
		if note := localConfigNote(""); note != "" {
			b.WriteString("# " + note + "\n")
		}
	} else {
		if abs, err := filepath.Abs(file); err == nil {
			file = abs
		}
		b.WriteString("# config file: " + file + "\n")
	}
	sv := reflect.ValueOf(*s)
	st := sv.Type()
	for i := 0; i < st.NumField(); i++ {
		section := st.Field(i).Tag.Get("mapstructure")
		b.WriteString(section + ":\n")
		fv := sv.Field(i)
		var rows [][2]string
		width := 0
		for j := 0; j < fv.NumField(); j++ {
			name := fv.Type().Field(j).Tag.Get("mapstructure")
			key := section + "." + name
			val := yamlScalar(fv.Field(j).Interface())
			if secretKeys[key] && !fv.Field(j).IsZero() {
				val = "'[REDACTED]'"
			}
			src := settingSource(key, v, flags, flagKeys, noSandbox)
			if raw, ok := fv.Field(j).Interface().(string); ok && urlKeys[key] && displayURL(raw) != raw {
				// A URL can carry a password or a key (user info, query).
				val = yamlScalar(displayURL(raw))
				src += "; user info and query not shown"
			}
			line := "  " + name + ": " + val
			width = max(width, len(line))
			rows = append(rows, [2]string{line, src})
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "%-*s  # %s\n", width, r[0], r[1])
		}
	}
	b.WriteString("\n")
	ep, err := resolveEndpoint(s)
	switch {
	case err != nil:
		b.WriteString("# model endpoint: none: " + strings.ReplaceAll(errorLine(err), "\n", " ") + "\n")
	case ep.Replay != "":
		b.WriteString("# model endpoint: none, answers are replayed from " + ep.Replay + "\n")
	default:
		from := ep.Source
		if from == "configuration" {
			from = "model.base_url, " + settingSource("model.base_url", v, flags, flagKeys, noSandbox)
		}
		fmt.Fprintf(&b, "# model endpoint: %s (from %s), model %s\n", displayURL(ep.BaseURL), from, ep.Model)
	}
	if name := apiKeyVar(s); name != "" {
		b.WriteString("# API key: found in " + name + " (not shown)\n")
	} else {
		b.WriteString("# API key: none found (set OPENAI_API_KEY or AGENTTEAM_API_KEY, or name a variable with --api-key-env)\n")
	}
	_, err = io.WriteString(w, redactText(b.String(), append([]string{s.Jupyter.Token}, mcpSecrets(s)...)...))
	return err
}

// apiKeyVar names the environment variable the API key would be read from,
// or "" when none is set.
func apiKeyVar(s *Settings) string {
	if s.Model.APIKeyEnv != "" {
		if os.Getenv(s.Model.APIKeyEnv) != "" {
			return s.Model.APIKeyEnv
		}
		return "" // a named variable that is empty is not replaced by another
	}
	for _, name := range []string{"AGENTTEAM_API_KEY", "OPENAI_API_KEY"} {
		if os.Getenv(name) != "" {
			return name
		}
	}
	return ""
}

func userConfigPath() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "agentteam", "config.yaml")
	}
	return "the user config directory"
}

// yamlScalar renders one value as YAML.
func yamlScalar(v any) string {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	// Lists and mappings (mcp.servers) in flow style, on one line.
	var n yaml.Node
	if err := n.Encode(v); err == nil && (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) {
		flow(&n)
		v = &n
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(string(out))
	if s == "" || s == `""` {
		return `""`
	}
	return s
}

func flow(n *yaml.Node) {
	n.Style |= yaml.FlowStyle
	for _, c := range n.Content {
		flow(c)
	}
}
