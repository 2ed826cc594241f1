// Package mcp turns the tools of Model Context Protocol servers into agent
// tools (agents.Tool), on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk). A server is reached over stdio
// (a command this package starts) or streamable HTTP (a URL).
//
// A stdio server gets a minimal environment (PATH, HOME, LANG, TMPDIR and
// what ServerConfig.Env sets), not the caller's: model keys and other
// secrets in the environment do not leak to it. Tool results are untrusted
// text for the model, like kernel output.
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/llm"
)

// DefaultCallTimeout bounds one tool call.
const DefaultCallTimeout = 60 * time.Second

// ErrConfig is wrapped by errors about a server's configuration.
var ErrConfig = errors.New("invalid MCP server configuration")

// ServerConfig describes one MCP server: Command (stdio) or URL
// (streamable HTTP), not both.
type ServerConfig struct {
	// Name identifies the server in errors and, with Prefix, in tool names.
	Name string `mapstructure:"name" yaml:"name" json:"name"`
	// Command and Args start a stdio server; Env adds to its minimal
	// environment.
	Command string            `mapstructure:"command" yaml:"command" json:"command,omitempty"`
	Args    []string          `mapstructure:"args" yaml:"args" json:"args,omitempty"`
	Env     map[string]string `mapstructure:"env" yaml:"env" json:"env,omitempty"`
	// URL of a streamable HTTP server; Headers are sent with each request
	// (e.g. an Authorization header).
	URL     string            `mapstructure:"url" yaml:"url" json:"url,omitempty"`
	Headers map[string]string `mapstructure:"headers" yaml:"headers" json:"headers,omitempty"`
	// Tools, when not empty, is the list of the server's tools to offer
	// (others are left out).
	Tools []string `mapstructure:"tools" yaml:"tools" json:"tools,omitempty"`
	// Prefix, when set, is put before each tool's name ("PREFIX_tool"), to
	// keep apart tools of the same name from two servers.
	Prefix string `mapstructure:"prefix" yaml:"prefix" json:"prefix,omitempty"`
	// CallTimeout bounds one call (DefaultCallTimeout).
	CallTimeout time.Duration `mapstructure:"call_timeout" yaml:"call_timeout" json:"call_timeout,omitempty"`
}

// Validate checks the configuration without contacting the server.
func (c ServerConfig) Validate() error {
	switch {
	case c.Command == "" && c.URL == "":
		return fmt.Errorf("%w: server %q has neither a command nor a url", ErrConfig, c.Name)
	case c.Command != "" && c.URL != "":
		return fmt.Errorf("%w: server %q has both a command and a url; give one", ErrConfig, c.Name)
	case c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("%w: server %q: the url must start with http:// or https://", ErrConfig, c.Name)
	}
	return nil
}

// Session is a connection to one MCP server.
type Session struct {
	cfg ServerConfig
	cs  *sdk.ClientSession
}

// Connect connects to the server described by cfg (starting it, for a
// stdio server). Close the session when done.
func Connect(ctx context.Context, cfg ServerConfig) (*Session, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var t sdk.Transport
	if cfg.Command != "" {
		cmd := exec.Command(cfg.Command, cfg.Args...)
		cmd.Env = environ(cfg.Env)
		cmd.Stderr = nil
		t = &sdk.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	} else {
		hc := &http.Client{Transport: &headers{base: http.DefaultTransport, h: cfg.Headers}}
		t = &sdk.StreamableClientTransport{Endpoint: cfg.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}
	}
	return ConnectTransport(ctx, cfg, t)
}

// ConnectTransport connects over a given transport (e.g. an in-process
// server's sdk.NewInMemoryTransports); cfg's Command and URL are ignored.
func ConnectTransport(ctx context.Context, cfg ServerConfig, t sdk.Transport) (*Session, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "agentteam", Version: "1"}, nil)
	cs, err := client.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("mcp server %q: connect: %w", cfg.Name, err)
	}
	return &Session{cfg: cfg, cs: cs}, nil
}

// Close ends the session (and stops a stdio server).
func (s *Session) Close() error { return s.cs.Close() }

// Tools lists the server's tools as agent tools.
func (s *Session) Tools(ctx context.Context) ([]agents.Tool, error) {
	var out []agents.Tool
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("mcp server %q: list tools: %w", s.cfg.Name, err)
		}
		if len(s.cfg.Tools) > 0 && !slices.Contains(s.cfg.Tools, t.Name) {
			continue
		}
		params, err := json.Marshal(t.InputSchema)
		if err != nil || string(params) == "null" {
			params = []byte(`{"type":"object","properties":{}}`)
		}
		name := t.Name
		if s.cfg.Prefix != "" {
			name = s.cfg.Prefix + "_" + name
		}
		out = append(out, &tool{s: s, remote: t.Name,
			def: llm.Tool{Name: toolName(name), Description: t.Description, Parameters: params}})
	}
	return out, nil
}

// tool is one MCP tool.
type tool struct {
	s      *Session
	remote string
	def    llm.Tool
}

func (t *tool) Definition() llm.Tool { return t.def }

// Call runs the tool on the server; a result the server marks as an error
// is returned as an error (so the model sees an error result).
func (t *tool) Call(ctx context.Context, arguments string) (string, error) {
	if strings.TrimSpace(arguments) == "" {
		arguments = "{}"
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(arguments), &args); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %v", agents.ErrToolArguments, err)
	}
	ctx, cancel := context.WithTimeout(ctx, t.s.cfg.CallTimeout)
	defer cancel()
	res, err := t.s.cs.CallTool(ctx, &sdk.CallToolParams{Name: t.remote, Arguments: args})
	if err != nil {
		return "", fmt.Errorf("mcp server %q: %s: %w", t.s.cfg.Name, t.remote, err)
	}
	text := contentText(res)
	if res.IsError {
		return "", errors.New(text)
	}
	return text, nil
}

func contentText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *sdk.TextContent:
			parts = append(parts, c.Text)
		case *sdk.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s]", c.MIMEType))
		case *sdk.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s]", c.MIMEType))
		default:
			b, _ := json.Marshal(c)
			parts = append(parts, string(b))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n")
}

// toolName keeps a name to what model APIs accept.
func toolName(n string) string {
	b := []byte(n)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func environ(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

type headers struct {
	base http.RoundTripper
	h    map[string]string
}

func (h *headers) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(h.h) > 0 {
		r = r.Clone(r.Context())
		for k, v := range h.h {
			r.Header.Set(k, v)
		}
	}
	return h.base.RoundTrip(r)
}

// Toolset is the sessions of several servers and their tools.
type Toolset struct {
	Sessions []*Session
	Tools    []agents.Tool
}

// Open connects to every server and lists their tools. On error, the
// sessions opened so far are closed.
func Open(ctx context.Context, servers []ServerConfig) (*Toolset, error) {
	ts := &Toolset{}
	for _, cfg := range servers {
		s, err := Connect(ctx, cfg)
		if err != nil {
			ts.Close()
			return nil, err
		}
		ts.Sessions = append(ts.Sessions, s)
		tools, err := s.Tools(ctx)
		if err != nil {
			ts.Close()
			return nil, err
		}
		ts.Tools = append(ts.Tools, tools...)
	}
	return ts, nil
}

// Close closes every session.
func (ts *Toolset) Close() error {
	var errs []error
	for _, s := range ts.Sessions {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	ts.Sessions = nil
	return errors.Join(errs...)
}
