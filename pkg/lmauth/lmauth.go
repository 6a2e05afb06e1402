// Package lmauth builds the Authorization header of LogicMonitor REST API
// requests: LMv1 signatures for access-id/access-key pairs, and Bearer tokens.
//
// Both implement Authenticator, so the LogicMonitor client never cares which
// kind of credential a portal uses. Neither ever prints its secret: String,
// GoString and slog's LogValue all redact it.
package lmauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"log/slog"
	"strconv"
	"sync"
)

// Authenticator returns the value of the Authorization header for one request.
//
// verb is the HTTP method, resourcePath the path after /santaba/rest without
// the query string, body the exact bytes sent and epochMillis the request time
// in Unix milliseconds. Callers compute it afresh for every attempt.
type Authenticator interface {
	Authorization(verb, resourcePath string, body []byte, epochMillis int64) string
	// ID names the credential without revealing it (the LMv1 access id, or a
	// masked bearer token), for logs and for recognising the caller's own token.
	ID() string
}

// LMv1 signs requests with an access id and access key.
//
// The keyed HMAC state is computed once and reused through a pool, because the
// key never changes between requests; this keeps a signature to one
// allocation (the header string itself).
type LMv1 struct {
	accessID string
	pool     sync.Pool // of *lmv1State
}

type lmv1State struct {
	mac hash.Hash
	buf []byte // scratch for the header being assembled
}

// NewLMv1 returns an LMv1 authenticator. Both parts must be non-empty; the key
// is treated as opaque bytes (LogicMonitor keys contain ( ~ ^ { ) = + [ ).
func NewLMv1(accessID, accessKey string) (*LMv1, error) {
	if accessID == "" || accessKey == "" {
		return nil, errors.New("lmauth: LMv1 credentials need both an access id and an access key")
	}
	key := []byte(accessKey)
	s := &LMv1{accessID: accessID}
	s.pool.New = func() any {
		return &lmv1State{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 160+len(accessID))}
	}
	return s, nil
}

// ID returns the access id, which is not secret.
func (s *LMv1) ID() string { return s.accessID }

// Authorization returns "LMv1 <accessId>:<signature>:<epochMillis>" where the
// signature is base64 of the lowercase hex HMAC-SHA256 of
// verb + epochMillis + body + resourcePath.
func (s *LMv1) Authorization(verb, resourcePath string, body []byte, epochMillis int64) string {
	st := s.pool.Get().(*lmv1State)
	defer s.pool.Put(st)

	var epoch [20]byte
	ep := strconv.AppendInt(epoch[:0], epochMillis, 10)

	st.mac.Reset()
	st.buf = append(st.buf[:0], verb...)
	st.buf = append(st.buf, ep...)
	st.mac.Write(st.buf)
	st.mac.Write(body)
	st.buf = append(st.buf[:0], resourcePath...)
	st.mac.Write(st.buf)

	var sum [sha256.Size]byte
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], st.mac.Sum(sum[:0]))

	st.buf = append(st.buf[:0], "LMv1 "...)
	st.buf = append(st.buf, s.accessID...)
	st.buf = append(st.buf, ':')
	st.buf = base64.StdEncoding.AppendEncode(st.buf, hexSum[:])
	st.buf = append(st.buf, ':')
	st.buf = append(st.buf, ep...)
	return string(st.buf)
}

// String redacts the key.
func (s *LMv1) String() string { return "LMv1(" + s.accessID + ", key redacted)" }

// GoString redacts the key in %#v.
func (s *LMv1) GoString() string { return s.String() }

// LogValue redacts the key in slog output.
func (s *LMv1) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Bearer authenticates with a LogicMonitor bearer token (REST API v3 only).
type Bearer struct {
	header string
	id     string
}

// NewBearer returns a Bearer authenticator for token.
func NewBearer(token string) (*Bearer, error) {
	if token == "" {
		return nil, errors.New("lmauth: bearer credentials need a token")
	}
	return &Bearer{header: "Bearer " + token, id: MaskSecret(token)}, nil
}

// Authorization returns "Bearer <token>"; the request does not matter.
func (b *Bearer) Authorization(string, string, []byte, int64) string { return b.header }

// ID returns the token masked to its first characters.
func (b *Bearer) ID() string { return b.id }

// String redacts the token.
func (b *Bearer) String() string { return "Bearer(" + b.id + ")" }

// GoString redacts the token in %#v.
func (b *Bearer) GoString() string { return b.String() }

// LogValue redacts the token in slog output.
func (b *Bearer) LogValue() slog.Value { return slog.StringValue(b.String()) }

// MaskSecret keeps at most the first 4 characters of a secret of 16 or more
// and hides the rest, the way LogicMonitor shows a bearer token after creation.
func MaskSecret(s string) string {
	if len(s) < 16 {
		return "****"
	}
	return s[:4] + "****"
}
