package local_test

import (
	"os"
	"testing"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// Every process the tests start must be gone when they end.
func TestMain(m *testing.M) { os.Exit(jupytertest.Main(m)) }
