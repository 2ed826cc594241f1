package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "solve",
		Short: "not built yet",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("solve: not built yet")
		},
	}
}
