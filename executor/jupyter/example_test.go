package jupyter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
)

// Run code in a kernel on a remote Jupyter server: state is kept between
// executions, a timeout interrupts the kernel, and a dead kernel is replaced.
func Example() {
	ctx := context.Background()
	client, err := jupyter.NewClient(jupyter.ClientConfig{
		URL:   "https://jupyter.example.com/prefix/",
		Token: "…",
	})
	if err != nil {
		log.Fatal(err)
	}
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{
		Client:    client,
		Timeout:   30 * time.Second,
		OutputDir: "outputs", // plots and html land here
	})
	if err != nil {
		log.Fatal(err) // e.g. jupyter.ErrUnauthorized, jupyter.ErrServerUnreachable
	}
	defer k.Close(ctx)

	res, err := k.Execute(ctx, executor.Request{Code: "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\ndf.describe()"})
	switch {
	case errors.Is(err, executor.ErrTimeout):
		fmt.Println("timed out:", res.Message)
	case errors.Is(err, executor.ErrKernelDied):
		fmt.Println("kernel died; state lost")
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(res.Text()) // what a model sees

	// Outputs as they arrive.
	for ev, err := range k.Run(ctx, executor.Request{Code: "!ls", Language: "python"}) {
		if err != nil {
			log.Fatal(err)
		}
		if ev.Output != nil {
			fmt.Print(ev.Output.Text)
		}
	}
}
