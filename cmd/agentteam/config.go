package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (secrets redacted)",
		Long: `Print the effective configuration: defaults, then the config file (--config,
else ./agentteam.yaml, else the user config directory), then AGENTTEAM_*
environment variables (AGENTTEAM_MODEL_NAME sets model.name). Secrets are
redacted. config.yaml in the repository documents every setting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := loadSettings(file, nil, nil)
			if err != nil {
				return err
			}
			keySet := os.Getenv("OPENAI_API_KEY") != "" || os.Getenv("AGENTTEAM_API_KEY") != "" ||
				(s.Model.APIKeyEnv != "" && os.Getenv(s.Model.APIKeyEnv) != "")
			out, err := redactedYAML(s, keySet)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "config file")
	return cmd
}
