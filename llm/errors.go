package llm

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on (with errors.Is). Client errors wrap one of them
// and say what to do next.
var (
	// ErrAuth: the endpoint rejected the API key (HTTP 401/403).
	ErrAuth = errors.New("the model endpoint rejected the API key")
	// ErrModelNotFound: the endpoint answered 404: no such model (or the
	// base URL lacks its API path, e.g. /v1).
	ErrModelNotFound = errors.New("model not found")
	// ErrContextTooLong: the conversation does not fit the model's context.
	ErrContextTooLong = errors.New("the conversation is longer than the model's context window")
	// ErrRateLimited: still rate limited (HTTP 429) after every retry.
	ErrRateLimited = errors.New("rate limited by the model endpoint")
	// ErrUnreachable: no connection to the endpoint.
	ErrUnreachable = errors.New("model endpoint unreachable")
	// ErrBadResponse: the endpoint's answer could not be understood (not
	// JSON, or a stream cut off before the model finished).
	ErrBadResponse = errors.New("bad response from the model endpoint")
	// ErrStreamIdle: a streamed answer went silent for longer than the idle
	// timeout.
	ErrStreamIdle = errors.New("the model's stream went silent")
	// ErrServer: the endpoint failed (HTTP 5xx) after every retry.
	ErrServer = errors.New("the model endpoint failed")
)

// APIError is an error answer from the model endpoint.
type APIError struct {
	StatusCode int    // HTTP status, 0 when there was no answer
	Message    string // what the endpoint or the client said, secrets removed
	Kind       error  // one of the Err* values above, or nil
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("model endpoint error")
	}
	if e.StatusCode > 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Kind }

// Redact replaces every occurrence of secret in s (secrets shorter than
// four characters are left alone: they would match too much).
func Redact(s, secret string) string {
	if len(secret) < 4 {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}
