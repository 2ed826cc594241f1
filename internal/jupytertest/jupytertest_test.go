package jupytertest

import (
	"io"
	"net/http"
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
