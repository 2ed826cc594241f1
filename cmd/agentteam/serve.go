package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/serve"
)

// serveOptions are the flags of `agentteam serve` that are not settings.
type serveOptions struct {
	Addr          string
	DataDir       string
	TokenFile     string
	Pool          int
	MaxConcurrent int
	MaxQueue      int
	Grace         time.Duration
	SessionTTL    time.Duration
	ConfigFile    string
	Verbose       bool
	// ready, when set, receives the address the server listens on (tests).
	ready func(addr string)
}

// serveReadyHook, when set (by tests), is told the address the server
// listens on.
var serveReadyHook func(addr string)

// serveTokenEnv holds the bearer token clients must send.
const serveTokenEnv = "AGENTTEAM_SERVE_TOKEN"

func newServeCmd() *cobra.Command {
	var o serveOptions
	var noSandbox bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run tasks over HTTP, with a web page to start and watch them",
		Long: `Serve the team over HTTP: POST /v1/runs starts a run (multipart: a task field
and any number of file parts; or JSON {"task": ...}), GET /v1/runs/{id}/events
streams it live as Server-Sent Events (the JSON of solve --json), and the page
at / starts and watches runs in a browser. Every run's outputs (notebook.ipynb,
report.md, transcript.jsonl, files/) stay under --data-dir/<id>/.

Clients authenticate with "Authorization: Bearer TOKEN", the token coming from
$AGENTTEAM_SERVE_TOKEN or --token-file. Without a token the server listens on
loopback only.

At most --max-concurrent runs go on at once; up to --queue more wait. With
--pool N, N kernels are kept started so that a run does not wait for one. On
SIGTERM or SIGINT the server stops accepting runs, lets the running ones go on
for --grace, cancels the rest (their outputs are written), shuts every kernel
down and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := runSettings(cmd, o.ConfigFile, solveFlagKeys, noSandbox)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			o.ready = serveReadyHook
			return runServe(ctx, &o, s, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&o.DataDir, "data-dir", "agentteam-data", "directory holding every run's outputs")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the bearer token (default: $"+serveTokenEnv+")")
	f.IntVar(&o.Pool, "pool", 0, "kernels to keep started and waiting for runs")
	f.IntVar(&o.MaxConcurrent, "max-concurrent", 2, "runs going on at once")
	f.IntVar(&o.MaxQueue, "queue", 100, "runs waiting for a free slot before new ones are refused")
	f.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long running runs may go on before they are cancelled")
	f.DurationVar(&o.SessionTTL, "session-ttl", serve.DefaultSessionTTL, "how long a sign-in on the web page lasts (signing out ends it sooner)")
	f.String("model", "", "model name, or replay:FILE to replay recorded answers")
	f.String("base-url", "", "OpenAI-compatible API base URL (e.g. http://127.0.0.1:11434/v1)")
	f.String("api-key-env", "", "environment variable holding the API key (default AGENTTEAM_API_KEY, then OPENAI_API_KEY)")
	f.String("jupyter-url", "", "Jupyter Server, Kernel Gateway or Enterprise Gateway URL for every kernel; empty starts embedded sandboxed servers")
	f.String("token", "", "Jupyter token (not the service's token)")
	f.String("kernel", "", "kernel spec name (default python3)")
	f.Int("max-turns", 0, "stop a run after this many agent turns (default 30)")
	f.Duration("timeout", 0, "stop a run after this long (default 30m)")
	f.StringVar(&o.ConfigFile, "config", "", "config file (default $AGENTTEAM_CONFIG, then the user config dir; ./agentteam.yaml only when named)")
	f.BoolVar(&o.Verbose, "verbose", false, "log requests, runs and kernel detail to stderr (never secrets)")
	f.BoolVar(&noSandbox, "no-sandbox", false, "run the embedded servers' kernels unsandboxed")
	f.Bool("allow-network", false, "let sandboxed kernels use the network")
	f.Bool("sandbox-enabled", true, "")
	_ = f.MarkHidden("sandbox-enabled")
	return cmd
}

// serveToken reads the service's token: --token-file, else the environment.
func serveToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErrorf("--token-file: %v", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", usageErrorf("--token-file %s is empty", file)
		}
		return checkServeToken(tok, "--token-file")
	}
	if tok := strings.TrimSpace(os.Getenv(serveTokenEnv)); tok != "" {
		return checkServeToken(tok, serveTokenEnv)
	}
	return "", nil
}

func checkServeToken(tok, from string) (string, error) {
	if len(tok) < 16 {
		return "", usageErrorf("%s: the token is too short (at least 16 characters; e.g. openssl rand -hex 24)", from)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usageErrorf("%s: the token must not contain spaces", from)
	}
	return tok, nil
}

func runServe(ctx context.Context, o *serveOptions, s *Settings, stderr io.Writer) error {
	tok, err := serveToken(o.TokenFile)
	if err != nil {
		return err
	}
	if err := serve.CheckListen(o.Addr, tok != ""); err != nil {
		if errors.Is(err, serve.ErrTokenRequired) {
			return usageErrorf("%v: set %s (or --token-file) or listen on 127.0.0.1", err, serveTokenEnv)
		}
		return usageErrorf("--addr: %v", err)
	}
	if o.MaxConcurrent < 1 {
		return usageErrorf("--max-concurrent must be at least 1 (got %d)", o.MaxConcurrent)
	}
	if o.Pool < 0 || o.MaxQueue < 0 || o.Grace < 0 {
		return usageErrorf("--pool, --queue and --grace must not be negative")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return err
	}

	pl, err := newServePipeline(ctx, o, s, dataDir, stderr)
	if err != nil {
		return err
	}
	defer pl.close()
	logger := pl.logger

	srv, err := serve.New(serve.Config{
		DataDir: dataDir, Pipeline: pl.pipeline, Token: tok,
		MaxConcurrent: o.MaxConcurrent, MaxQueue: o.MaxQueue, SessionTTL: o.SessionTTL, Logger: logger,
	})
	if err != nil {
		return err
	}
	pl.started = srv.KernelStarted
	pl.startPool()

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return usageErrorf("--addr %s: %v", o.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	addr := ln.Addr().String()
	fmt.Fprintf(stderr, "agentteam serve: listening on http://%s/ (data in %s", addr, dataDir)
	if tok == "" {
		fmt.Fprint(stderr, "; no token: loopback only")
	}
	fmt.Fprintln(stderr, ")")
	if o.ready != nil {
		o.ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintf(stderr, "agentteam serve: %v: no new runs; running ones have %s to finish\n", context.Cause(ctx), o.Grace)
	// Stop accepting connections (streams of running runs go on), then
	// drain or cancel the runs, then close the last connections.
	httpDone := make(chan struct{})
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.Grace+90*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		close(httpDone)
	}()
	gctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	serr := srv.Shutdown(gctx)
	pl.close()
	select {
	case <-httpDone:
	case <-time.After(5 * time.Second):
		_ = hs.Close()
	}
	if serr != nil {
		fmt.Fprintln(stderr, "agentteam serve:", serr)
	}
	fmt.Fprintln(stderr, "agentteam serve: stopped")
	return nil
}
