package jupyter

import (
	"bufio"
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentteam/agentteam/executor"
)

// One 5 MiB image after another, each result dropped before the next comes
// (a caller done with a result): the client's memory grows by about one
// image, not two. Measured in a process of its own, so that nothing else the
// tests hold moves the figure; by the Go runtime's own accounting of the heap
// memory it keeps from the system (what RSS follows, and what the race
// detector's shadow memory does not blur).
func TestBigImagesCostOneImageOfMemory(t *testing.T) {
	if os.Getenv("AGENTTEAM_MEMORY_CHILD") == "1" {
		bigImagesChild(t)
		return
	}
	s := rateUnlimitedServer(t)
	cmd := osexec.Command(os.Args[0], "-test.run=^TestBigImagesCostOneImageOfMemory$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENTTEAM_MEMORY_CHILD=1", "AGENTTEAM_MEMORY_URL="+s.URL, "AGENTTEAM_MEMORY_TOKEN="+s.Token)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var image, growth int64 = -1, -1
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "MEMORY" {
			image, _ = strconv.ParseInt(f[1], 10, 64)
			growth, _ = strconv.ParseInt(f[2], 10, 64)
		}
	}
	require.Positive(t, image, "%s", out)
	t.Logf("a %d KiB image: heap memory held from the system grew by %d KiB at most", image>>10, growth>>10)
	assert.Less(t, growth, image+4<<20, "one image and a little, not two (two are 2×image)")
}

// bigImagesChild displays a 5 MiB PNG seven times and prints the size of
// one (base64) and the peak growth of the heap memory the process holds.
func bigImagesChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := NewClient(ClientConfig{URL: os.Getenv("AGENTTEAM_MEMORY_URL"), Token: os.Getenv("AGENTTEAM_MEMORY_TOKEN")})
	require.NoError(t, err)
	k, err := NewKernel(ctx, KernelConfig{Client: c, Timeout: time.Minute})
	require.NoError(t, err)
	defer k.Close(context.Background())
	run := func(code string) *executor.Result {
		res, err := k.Execute(ctx, executor.Request{Code: code})
		require.NoError(t, err)
		require.True(t, res.OK(), res.Text())
		return res
	}
	run("import os, base64\nIMG = base64.b64encode(b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(5 * 2**20 - 8)).decode()")
	run("x = 1")
	held := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
	}
	var size int
	growth := peakDuring(held, func() {
		for range 7 {
			res := run("display({'image/png': IMG, 'text/plain': '<png>'}, raw=True)")
			require.Len(t, res.Outputs, 1)
			size = len(res.Outputs[0].Data["image/png"].(string))
		}
	})
	fmt.Printf("MEMORY %d %d\n", size, growth)
}
