package serve

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultSessionTTL is how long a web page's sign-in lasts.
const DefaultSessionTTL = 12 * time.Hour

// sessions are the web page's sign-ins. A session is a cookie signed with a
// key derived from the token, so every replica that shares the token
// accepts it and a new token ends every session. It expires, and signing
// out ends it on the replica that is asked before it does.
type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	ended map[string]time.Time // signed-out session ids, until they expire
}

func newSessions(token string, ttl time.Duration) *sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	key := sha256.Sum256([]byte("agentteam web session key\x00" + token))
	return &sessions{key: key[:], ttl: ttl, now: time.Now, ended: map[string]time.Time{}}
}

// issue makes a new session: the cookie's value and when it expires.
func (s *sessions) issue() (string, time.Time) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	exp := s.now().Add(s.ttl).Truncate(time.Second)
	body := hex.EncodeToString(id) + "." + strconv.FormatInt(exp.Unix(), 10)
	return body + "." + s.sign(body), exp
}

func (s *sessions) sign(body string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// parse checks a cookie's signature and expiry; it returns the session id.
func (s *sessions) parse(v string) (id string, exp time.Time, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return "", time.Time{}, false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.sign(parts[0]+"."+parts[1]))) {
		return "", time.Time{}, false
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	exp = time.Unix(n, 0)
	if !s.now().Before(exp) {
		return "", time.Time{}, false
	}
	return parts[0], exp, true
}

// valid reports whether a cookie is a live session.
func (s *sessions) valid(v string) bool {
	id, _, ok := s.parse(v)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, gone := s.ended[id]
	return !gone
}

// end signs a session out (on this replica; elsewhere it lasts until it
// expires).
func (s *sessions) end(v string) {
	id, exp, ok := s.parse(v)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, e := range s.ended {
		if !now.Before(e) {
			delete(s.ended, k)
		}
	}
	s.ended[id] = exp
}
