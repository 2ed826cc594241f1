package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Environment map[string]string `yaml:"environment"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		SecurityOpt []string          `yaml:"security_opt"`
		MemLimit    string            `yaml:"mem_limit"`
		Cpus        float64           `yaml:"cpus"`
		PidsLimit   int               `yaml:"pids_limit"`
		User        string            `yaml:"user"`
		Privileged  bool              `yaml:"privileged"`
	} `yaml:"services"`
}

func TestComposeIsLockedDown(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	var c compose
	require.NoError(t, yaml.Unmarshal(b, &c))
	svc, ok := c.Services["kernel-gateway"]
	require.True(t, ok, "kernel-gateway service")

	// The token comes from the environment and is required.
	assert.Equal(t, "${AGENTTEAM_JUPYTER_TOKEN:?set AGENTTEAM_JUPYTER_TOKEN to a long random token}", svc.Environment["KG_AUTH_TOKEN"])

	cmd := strings.Join(svc.Command, " ")
	for _, flag := range []string{
		"--MappingKernelManager.cull_idle_timeout=",
		"--MappingKernelManager.cull_interval=",
		"--MappingKernelManager.cull_connected=True",
	} {
		assert.Contains(t, cmd, flag)
	}
	assert.True(t, svc.ReadOnly, "read-only root")
	assert.Equal(t, []string{"ALL"}, svc.CapDrop)
	assert.Contains(t, svc.SecurityOpt, "no-new-privileges:true")
	assert.NotEmpty(t, svc.MemLimit)
	assert.Greater(t, svc.Cpus, 0.0)
	assert.Greater(t, svc.PidsLimit, 0)
	assert.False(t, svc.Privileged)
	assert.NotEqual(t, "", svc.User)
	assert.False(t, strings.HasPrefix(svc.User, "0"), "not root")
	for _, p := range svc.Ports {
		assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "port %s bound to loopback", p)
	}
}

func TestDockerfileRunsUnprivilegedWithoutSecrets(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := string(b)
	assert.Contains(t, df, "USER kernel")
	for _, pkg := range []string{"jupyter_kernel_gateway", "pandas", "numpy", "scipy", "matplotlib", "openpyxl"} {
		assert.Contains(t, df, pkg)
	}
	assert.NotContains(t, df, "auth_token=", "no token baked into the image")
	assert.NotContains(t, df, "KG_AUTH_TOKEN=")
}
