// Package session is the one-call way to get a kernel: Open connects to a
// remote Jupyter Server or Kernel Gateway when a URL is given, and otherwise
// starts an embedded, sandboxed jupyter-server for the run. A Session runs
// code (it is an executor.Executor) and moves files in and out of the
// kernel's working directory.
package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/executor/jupyter"
	"github.com/agentteam/agentteam/executor/local"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvURL   = "AGENTTEAM_JUPYTER_URL"
	EnvToken = "AGENTTEAM_JUPYTER_TOKEN"
)

// Config configures Open. Zero values are sensible defaults.
type Config struct {
	// URL of a remote Jupyter Server or Kernel Gateway; "" starts an
	// embedded local server.
	URL   string
	Token string
	// Headers are sent with every request to a remote server.
	Headers http.Header
	// KernelName is the kernel spec; "" means python3.
	KernelName string
	// WorkDir is the embedded server's working directory (the kernel's
	// cwd); "" means a fresh private directory, removed by Close (never the
	// process's own working directory). Ignored for remote servers.
	WorkDir string
	// RemoteDir is the kernel's working directory on a remote server,
	// relative to the server's root directory: it is created, input files
	// are staged there, the kernel is started in it (the "path" of the
	// start request, whatever directory the server process runs in), and
	// file listings and downloads are relative to it. On a Kernel Gateway,
	// which has no contents API, the kernel makes it and changes into it.
	// It is the session's own directory: Close deletes it with everything
	// in it unless KeepRemote is set. "" means the server's choice of
	// directory, and nothing is deleted. Ignored for the embedded server.
	RemoteDir string
	// KeepRemote leaves RemoteDir and its files on the server at Close.
	KeepRemote bool
	// Timeout is the default per-execution deadline (zero: 60s).
	Timeout time.Duration
	// StartTimeout bounds starting the server and the kernel (zero: 60s).
	StartTimeout time.Duration
	// OutputDir is where images and html from outputs are saved.
	OutputDir string
	// ScrubFiles, when set, is applied to the bytes of each file saved in
	// OutputDir before it is written (a redactor's, say).
	ScrubFiles func([]byte) []byte
	// MaxOutputBytes caps kept text per output (zero: the default).
	MaxOutputBytes int
	// MaxMimeBytes caps each image, html or other non-text value of an
	// output; larger ones are dropped with a note (zero: 10 MiB; see
	// jupyter.KernelConfig).
	MaxMimeBytes int64
	// Sandbox confines the embedded server's kernels (default on).
	Sandbox local.SandboxConfig
	// JupyterBinary is the embedded server's executable ("" finds it).
	JupyterBinary string
	// DisableQuickAck turns off the websocket latency fix (for comparison).
	DisableQuickAck bool
	// FilesThroughKernel moves files of a remote server through the kernel
	// even when the server has a contents API (as it must for a Kernel
	// Gateway, which has none; useful where the contents API is disabled).
	FilesThroughKernel bool
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// ConfigFromEnv returns a Config with URL and Token from
// AGENTTEAM_JUPYTER_URL and AGENTTEAM_JUPYTER_TOKEN.
func ConfigFromEnv() Config {
	return Config{URL: os.Getenv(EnvURL), Token: os.Getenv(EnvToken)}
}

// Session is a kernel ready to run code, on a remote server or an embedded
// one. It implements executor.Executor.
type Session struct {
	cfg    Config
	client *jupyter.Client
	kernel *jupyter.Kernel
	server *local.Server // nil for remote servers
	log    *slog.Logger

	remoteDir  string // cleaned RemoteDir
	viaKernel  bool   // RemoteDir is made by the kernel (no contents API)
	tmpWorkDir string // a private WorkDir made by Open, removed by Close
}

var _ executor.Executor = (*Session)(nil)

// Open connects to the configured server (starting the embedded one when no
// URL is given) and starts a kernel.
func Open(ctx context.Context, cfg Config) (*Session, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{cfg: cfg, log: log}
	url, token, sock := cfg.URL, cfg.Token, ""
	if url == "" {
		work := cfg.WorkDir
		if work == "" {
			var err error
			if work, err = os.MkdirTemp("", "agentteam-work-"); err != nil {
				return nil, fmt.Errorf("session: working directory: %w", err)
			}
			s.tmpWorkDir = work
		}
		srv, err := local.Start(ctx, local.Config{
			Binary:       cfg.JupyterBinary,
			WorkDir:      work,
			StartTimeout: cfg.StartTimeout,
			Sandbox:      cfg.Sandbox,
			Logger:       log,
		})
		if err != nil {
			s.removeTmp()
			return nil, err
		}
		s.server = srv
		url, token, sock = srv.URL(), srv.Token(), srv.Socket()
	}
	client, err := jupyter.NewClient(jupyter.ClientConfig{
		URL:             url,
		Token:           token,
		Headers:         cfg.Headers,
		Logger:          log,
		DisableQuickAck: cfg.DisableQuickAck,
		UnixSocket:      sock,
	})
	if err != nil {
		s.closeServer()
		return nil, err
	}
	s.client = client
	var kpath, setup string
	if s.server == nil && cfg.RemoteDir != "" {
		rd, err := cleanRel(cfg.RemoteDir)
		if err != nil {
			return nil, err
		}
		s.remoteDir = rd
		err = errNoContents
		if !cfg.FilesThroughKernel {
			err = client.MkdirAll(ctx, rd)
		}
		switch {
		case err == nil:
			kpath = rd
			setup = "import os as _agentteam_os\n_agentteam_os.environ['AGENTTEAM_RUN_DIR'] = _agentteam_os.getcwd()\ndel _agentteam_os\n"
		case errors.Is(err, jupyter.ErrNoContentsAPI), errors.Is(err, errNoContents):
			s.viaKernel = true
			setup = fmt.Sprintf("import os as _agentteam_os\n_agentteam_os.makedirs(%[1]s, exist_ok=True)\n_agentteam_os.chdir(%[1]s)\n_agentteam_os.environ['AGENTTEAM_RUN_DIR'] = _agentteam_os.getcwd()\ndel _agentteam_os\n", pyString(rd))
		default:
			return nil, fmt.Errorf("session: create %s on the server: %w", rd, err)
		}
	}
	k, err := jupyter.NewKernel(ctx, jupyter.KernelConfig{
		Client:         client,
		Path:           kpath,
		Setup:          setup,
		KernelName:     cfg.KernelName,
		Timeout:        cfg.Timeout,
		StartTimeout:   cfg.StartTimeout,
		OutputDir:      cfg.OutputDir,
		ScrubFiles:     cfg.ScrubFiles,
		MaxOutputBytes: cfg.MaxOutputBytes,
		MaxMimeBytes:   cfg.MaxMimeBytes,
		Logger:         log,
	})
	if err != nil {
		if s.server != nil {
			err = fmt.Errorf("%w; embedded server log: %s", err, s.server.LogTail())
		}
		s.closeServer()
		s.removeTmp()
		s.removeRemote(ctx)
		return nil, err
	}
	s.kernel = k
	return s, nil
}

var errNoContents = errors.New("files move through the kernel")

func (s *Session) removeTmp() {
	if s.tmpWorkDir != "" {
		_ = os.RemoveAll(s.tmpWorkDir)
	}
}

// removeRemote deletes the session's directory on a remote server (unless
// it is to be kept).
func (s *Session) removeRemote(ctx context.Context) error {
	if s.remoteDir == "" || s.cfg.KeepRemote {
		return nil
	}
	// Through the kernel first: the contents API may move files to the
	// server user's trash rather than delete them.
	var err error
	if s.kernel != nil {
		const code = "def __agentteam_rm():\n    import os, shutil\n    d = os.environ.pop('AGENTTEAM_RUN_DIR', '')\n    if d and os.path.isdir(d):\n        os.chdir(os.path.dirname(d))\n        shutil.rmtree(d)\n__agentteam_rm(); del __agentteam_rm\n"
		if err = s.internal(ctx, code, nil); err == nil || s.viaKernel {
			return err
		}
	} else if s.viaKernel {
		return nil
	}
	return s.client.Delete(ctx, s.remoteDir)
}

// RemoteDir is the kernel's directory on a remote server, relative to its
// root ("" when the server chose it, or for the embedded server).
func (s *Session) RemoteDir() string { return s.remoteDir }

// remotePath is rel inside the session's remote directory.
func (s *Session) remotePath(rel string) string {
	if s.remoteDir == "" {
		return rel
	}
	return path.Join(s.remoteDir, rel)
}

func (s *Session) closeServer() {
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.server.Close(ctx)
	}
}

// Remote reports whether the kernel runs on a remote server.
func (s *Session) Remote() bool { return s.server == nil }

// Server is the embedded server, or nil for a remote one.
func (s *Session) Server() *local.Server { return s.server }

// ID is the kernel's id (it changes when the kernel is replaced).
func (s *Session) ID() string { return s.kernel.ID() }

// Kernel is the underlying Jupyter kernel.
func (s *Session) Kernel() *jupyter.Kernel { return s.kernel }

// Client is the Jupyter REST client.
func (s *Session) Client() *jupyter.Client { return s.client }

// WorkDir is the embedded server's working directory ("" when remote).
func (s *Session) WorkDir() string {
	if s.server == nil {
		return ""
	}
	return s.server.WorkDir()
}

// Execute runs code in the kernel and returns its result.
func (s *Session) Execute(ctx context.Context, req executor.Request) (*executor.Result, error) {
	return executor.Collect(s.Run(ctx, req), nil)
}

// Run runs code in the kernel, yielding its outputs and then its result (see
// executor.Executor).
func (s *Session) Run(ctx context.Context, req executor.Request) iter.Seq2[executor.Event, error] {
	return func(yield func(executor.Event, error) bool) {
		for ev, err := range s.kernel.Run(ctx, req) {
			if ev.Result != nil || err != nil {
				ev.Result, err = s.explain(ev.Result, err)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// explain adds why the kernel died, when the sandbox knows, to a result.
func (s *Session) explain(res *executor.Result, err error) (*executor.Result, error) {
	if errors.Is(err, executor.ErrKernelDied) && s.server != nil {
		if cause := s.deathCause(); cause != "" {
			if res != nil {
				res.Message = strings.TrimSpace(cause + ". " + res.Message)
			}
			err = fmt.Errorf("%w (%s)", err, cause)
		}
	}
	return res, err
}

func (s *Session) deathCause() string {
	// The sandbox counts OOM kills per kernel; the kernel may already have
	// been replaced, so look at every id this session has used.
	return s.server.DeathCause(s.kernel.ID())
}

// Restart discards the kernel's state.
func (s *Session) Restart(ctx context.Context) error { return s.kernel.Restart(ctx) }

// Interrupt interrupts a running execution.
func (s *Session) Interrupt(ctx context.Context) error { return s.kernel.Interrupt(ctx) }

// Close shuts the kernel down and, when embedded, the server with every
// process its kernels started. It is safe to call more than once.
func (s *Session) Close(ctx context.Context) error {
	var err error
	if s.kernel != nil {
		if s.remoteDir != "" {
			err = s.removeRemote(ctx)
			s.remoteDir = ""
		}
		// The kernel exits gracefully (files its code left open are
		// flushed) before the server is ended. An embedded server's kernel
		// is asked over its websocket, and the server ended as soon as the
		// kernel process is gone; a DELETE, which also waits for it, polls
		// the process only every 0.1 s. Otherwise, or if that fails: DELETE.
		if s.server == nil || !s.shutdownEmbedded(ctx) {
			if e := s.kernel.Close(ctx); err == nil {
				err = e
			}
		}
	}
	if s.server != nil {
		// Its kernel is shut down: ending the server's process group is
		// enough (waiting for it to stop on SIGTERM took as long as the
		// DELETE).
		closeServer := s.server.Close
		if err == nil && s.kernel != nil {
			closeServer = s.server.CloseNow
		}
		if e := closeServer(ctx); err == nil {
			err = e
		}
	}
	s.removeTmp()
	return err
}

// shutdownEmbedded asks the embedded server's kernel to exit and waits
// until its processes are gone (at most kernelExitWait); it reports
// whether they are.
func (s *Session) shutdownEmbedded(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, kernelExitWait)
	defer cancel()
	if err := s.kernel.Shutdown(sctx); err != nil {
		s.log.Debug("kernel shutdown over the websocket failed; deleting it through the server", "err", err)
		return false
	}
	if !s.server.WaitKernelsExit(sctx) {
		s.log.Debug("the kernel did not exit after its shutdown request", "waited", kernelExitWait)
		return false
	}
	return true
}

// kernelExitWait bounds a kernel's graceful exit at Close, as the server's
// DELETE does (jupyter_client's shutdown_wait_time).
const kernelExitWait = 5 * time.Second

// FileInfo describes a file in the kernel's working directory.
type FileInfo struct {
	Path    string    `json:"path"` // slash-separated, relative
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// cleanRel checks that p is a relative path inside the working directory.
func cleanRel(p string) (string, error) {
	c := path.Clean(filepath.ToSlash(p))
	if p == "" || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || c == "." {
		return "", fmt.Errorf("session: %q is not a relative path inside the working directory", p)
	}
	return c, nil
}

// Upload puts data into the kernel's working directory at relPath,
// creating directories: on disk for the embedded server, through the
// contents API for a remote Jupyter Server, and through the kernel itself
// where there is no contents API (Kernel Gateway).
func (s *Session) Upload(ctx context.Context, relPath string, data []byte) error {
	rel, err := cleanRel(relPath)
	if err != nil {
		return err
	}
	if s.server != nil {
		dst := filepath.Join(s.server.WorkDir(), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("session: upload %s: %w", rel, err)
		}
		return os.WriteFile(dst, data, 0o644)
	}
	if s.cfg.FilesThroughKernel {
		return s.uploadThroughKernel(ctx, rel, data)
	}
	if s.viaKernel {
		return s.uploadThroughKernel(ctx, rel, data)
	}
	err = s.client.UploadFile(ctx, s.remotePath(rel), data)
	if errors.Is(err, jupyter.ErrNoContentsAPI) {
		return s.uploadThroughKernel(ctx, rel, data)
	}
	return err
}

// uploadChunk bounds the base64 text sent per execution.
const uploadChunk = 4 << 20

func (s *Session) uploadThroughKernel(ctx context.Context, rel string, data []byte) error {
	enc := base64.StdEncoding.EncodeToString(data)
	for i := 0; i == 0 || i < len(enc); i += uploadChunk {
		end := min(i+uploadChunk, len(enc))
		mode := "ab"
		if i == 0 {
			mode = "wb"
		}
		code := fmt.Sprintf("def __agentteam_put():\n    import base64, os\n    p = %s\n    d = os.path.dirname(p)\n    if d:\n        os.makedirs(d, exist_ok=True)\n    with open(p, %q) as f:\n        f.write(base64.b64decode(%q))\n__agentteam_put(); del __agentteam_put\n",
			pyString(rel), mode, enc[i:end])
		if err := s.internal(ctx, code, nil); err != nil {
			return fmt.Errorf("session: upload %s through the kernel: %w", rel, err)
		}
	}
	return nil
}

// Download reads a file from the kernel's working directory, at most
// DefaultMaxFileBytes (ErrTooLarge past that). For the embedded server,
// symbolic links are not followed. DownloadTo streams instead.
func (s *Session) Download(ctx context.Context, relPath string) ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.DownloadTo(ctx, relPath, &b, DefaultMaxFileBytes); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// downloadChunk is the most read per execution when files move through the
// kernel: its base64 stays under the smallest sensible output cap.
const downloadChunk = 12 << 10

// ListFiles lists every file under the kernel's working directory,
// recursively, skipping hidden files and directories (names starting with
// ".", e.g. .ipynb_checkpoints).
func (s *Session) ListFiles(ctx context.Context) ([]FileInfo, error) {
	if s.server != nil {
		root := s.server.WorkDir()
		var files []FileInfo
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			files = append(files, FileInfo{Path: filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
			return nil
		})
		return files, err
	}
	if s.cfg.FilesThroughKernel || s.viaKernel {
		return s.listThroughKernel(ctx)
	}
	files, err := s.listContents(ctx, s.remoteDir)
	if errors.Is(err, jupyter.ErrNoContentsAPI) {
		return s.listThroughKernel(ctx)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, err
}

func (s *Session) listContents(ctx context.Context, dir string) ([]FileInfo, error) {
	entries, err := s.client.ListDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	var files []FileInfo
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") {
			continue
		}
		if e.Type == "directory" {
			sub, err := s.listContents(ctx, e.Path)
			if err != nil {
				return nil, err
			}
			files = append(files, sub...)
			continue
		}
		rel := e.Path
		if s.remoteDir != "" {
			rel = strings.TrimPrefix(rel, s.remoteDir+"/")
		}
		files = append(files, FileInfo{Path: rel, Size: e.Size, ModTime: e.LastModified})
	}
	return files, nil
}

func (s *Session) listThroughKernel(ctx context.Context) ([]FileInfo, error) {
	const code = `def __agentteam_ls():
    import os, json, datetime
    out = []
    for root, dirs, files in os.walk('.'):
        dirs[:] = [d for d in dirs if not d.startswith('.')]
        for f in files:
            if f.startswith('.'):
                continue
            p = os.path.join(root, f)
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.append({'path': os.path.relpath(p, '.').replace(os.sep, '/'), 'size': st.st_size,
                        'mtime': datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).isoformat()})
    print(json.dumps({'files': out}))
__agentteam_ls(); del __agentteam_ls
`
	var out struct {
		Files []FileInfo `json:"files"`
	}
	if err := s.internal(ctx, code, &out); err != nil {
		return nil, fmt.Errorf("session: list files through the kernel: %w", err)
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Path < out.Files[j].Path })
	return out.Files, nil
}

// internal runs bookkeeping code in the kernel; when out is non-nil the
// code's stdout is decoded into it as JSON.
func (s *Session) internal(ctx context.Context, code string, out any) error {
	res, err := s.kernel.Execute(ctx, executor.Request{Code: code, Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	if !res.OK() {
		return errors.New(strings.TrimSpace(res.Text()))
	}
	if out == nil {
		return nil
	}
	var stdout strings.Builder
	for _, o := range res.Outputs {
		if o.Type == executor.OutputStream && o.Name == "stdout" {
			stdout.WriteString(o.Text)
		}
	}
	return json.Unmarshal([]byte(stdout.String()), out)
}

// pyString quotes s as a Python string literal.
func pyString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
