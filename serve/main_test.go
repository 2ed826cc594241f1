package serve

import (
	"os"
	"testing"

	"github.com/agentteam/agentteam/internal/jupytertest"
)

// TestMain fails the package when a test leaves a process behind (a
// browser, a server or a kernel).
func TestMain(m *testing.M) { os.Exit(jupytertest.Main(m)) }
