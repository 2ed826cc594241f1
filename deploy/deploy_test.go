package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type service struct {
	Environment     map[string]string `yaml:"environment"`
	Command         []string          `yaml:"command"`
	Ports           []string          `yaml:"ports"`
	ReadOnly        bool              `yaml:"read_only"`
	CapDrop         []string          `yaml:"cap_drop"`
	SecurityOpt     []string          `yaml:"security_opt"`
	MemLimit        string            `yaml:"mem_limit"`
	Cpus            float64           `yaml:"cpus"`
	PidsLimit       int               `yaml:"pids_limit"`
	User            string            `yaml:"user"`
	Privileged      bool              `yaml:"privileged"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Volumes         []string          `yaml:"volumes"`
	Networks        []string          `yaml:"networks"`
	DependsOn       map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
}

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

// readServeCompose reads compose.serve.yaml (cmd/agentteam's tests parse
// serve's command there with the real flags).
func readServeCompose(t *testing.T) (map[string]service, map[string]struct {
	Internal bool `yaml:"internal"`
}) {
	t.Helper()
	b, err := os.ReadFile("compose.serve.yaml")
	require.NoError(t, err)
	var c struct {
		Services map[string]service `yaml:"services"`
		Networks map[string]struct {
			Internal bool `yaml:"internal"`
		} `yaml:"networks"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	return c.Services, c.Networks
}

func flagValue(cmd []string, name string) string {
	for i, a := range cmd {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(cmd) {
			return cmd[i+1]
		}
	}
	return ""
}

func TestServeComposeIsLockedDown(t *testing.T) {
	svcs, nets := readServeCompose(t)
	srv, ok := svcs["serve"]
	require.True(t, ok, "serve service")
	gw, ok := svcs["kernel-gateway"]
	require.True(t, ok, "kernel-gateway service")

	// Both tokens are required; the same Jupyter token on both sides.
	assert.Equal(t, "${AGENTTEAM_SERVE_TOKEN:?set AGENTTEAM_SERVE_TOKEN to a long random token}", srv.Environment["AGENTTEAM_SERVE_TOKEN"])
	assert.Equal(t, "${AGENTTEAM_JUPYTER_TOKEN:?set AGENTTEAM_JUPYTER_TOKEN to a long random token}", srv.Environment["AGENTTEAM_JUPYTER_TOKEN"])
	assert.Equal(t, srv.Environment["AGENTTEAM_JUPYTER_TOKEN"], gw.Environment["KG_AUTH_TOKEN"])
	for k, v := range srv.Environment {
		assert.True(t, strings.HasPrefix(v, "${"), "%s comes from the environment, not the file", k)
	}

	require.NotEmpty(t, srv.Command)
	assert.Equal(t, "serve", srv.Command[0])
	assert.Equal(t, "http://kernel-gateway:8888/", flagValue(srv.Command, "--jupyter-url"), "kernels come from the gateway service")
	assert.Equal(t, "/data", flagValue(srv.Command, "--data-dir"))
	assert.Contains(t, srv.Volumes, "runs:/data", "runs outlive the container")

	// SIGTERM: compose waits longer than serve's grace before it kills.
	grace, err := time.ParseDuration(flagValue(srv.Command, "--grace"))
	require.NoError(t, err)
	stop, err := time.ParseDuration(srv.StopGracePeriod)
	require.NoError(t, err)
	assert.Greater(t, stop, grace+15*time.Second)

	for name, s := range map[string]service{"serve": srv, "kernel-gateway": gw} {
		assert.True(t, s.ReadOnly, "%s: read-only root", name)
		assert.Equal(t, []string{"ALL"}, s.CapDrop, name)
		assert.Contains(t, s.SecurityOpt, "no-new-privileges:true", name)
		assert.False(t, s.Privileged, name)
		assert.NotEmpty(t, s.User, name)
		assert.False(t, strings.HasPrefix(s.User, "0"), "%s: not root", name)
		assert.NotEmpty(t, s.MemLimit, name)
		assert.Greater(t, s.PidsLimit, 0, name)
		for _, p := range s.Ports {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s: port %s bound to loopback", name, p)
		}
	}
	// The gateway is published nowhere and sits on a network without a way
	// out; serve reaches it there and the model on another network.
	assert.Empty(t, gw.Ports)
	require.Equal(t, []string{"kernels"}, gw.Networks)
	assert.True(t, nets["kernels"].Internal, "the kernels' network has no route out")
	assert.Contains(t, srv.Networks, "kernels")
	assert.Equal(t, "service_healthy", srv.DependsOn["kernel-gateway"].Condition)
	cmd := strings.Join(gw.Command, " ")
	for _, flag := range []string{"--MappingKernelManager.cull_idle_timeout=", "--MappingKernelManager.cull_connected=True", "--KernelGatewayApp.max_kernels="} {
		assert.Contains(t, cmd, flag)
	}

	// The image is built from the repository with the serve Dockerfile.
	assert.Equal(t, "..", srv.Build.Context)
	df, err := os.ReadFile(filepath.Join(srv.Build.Context, srv.Build.Dockerfile))
	require.NoError(t, err)
	assert.Contains(t, string(df), "USER 65532:65532")
	assert.Contains(t, string(df), "./cmd/agentteam")
	assert.NotContains(t, string(df), "AGENTTEAM_SERVE_TOKEN=")
}
