package jupytertest

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartServesAPIAndStopsKernels(t *testing.T) {
	s := Start(t)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"api/kernels", nil)
	req.Header.Set("Authorization", "token "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	require.Eventually(t, func() bool { return len(s.KernelPids()) == 1 }, 20*time.Second, 50*time.Millisecond)

	// A request without the token is refused.
	resp, err = http.Get(s.URL + "api/kernels")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	s.Stop()
	assert.Empty(t, s.KernelPids())
	assert.Empty(t, ProcessesMatching(s.RootDir))
}

// A port taken between picking it and the server binding it: the server
// says so and exits, and another port is tried.
func TestStartRetriesAPortTakenInBetween(t *testing.T) {
	Require(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return FreePort()
	}
	defer func() { pickPort = FreePort }()
	s, err := StartProcess(t.TempDir())
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 2, calls)
	assert.NotContains(t, s.URL, ":"+strconv.Itoa(taken)+"/")
	resp, err := http.Get(s.URL + "api/status?token=" + s.Token)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
