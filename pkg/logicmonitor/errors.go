package logicmonitor

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies what went wrong with a LogicMonitor call, so that callers
// can map it to an HTTP status or a Lambda error type without parsing text.
type Kind int

const (
	// KindUpstream is a 5xx, a transport failure, or a response that is not
	// the v3 JSON we expect.
	KindUpstream Kind = iota
	// KindNotFound is a 404: unknown user or token.
	KindNotFound
	// KindUnauthorized is a 401 or 403: the credentials were rejected.
	KindUnauthorized
	// KindValidation is a 400 (or another 4xx the portal uses for bad input).
	KindValidation
	// KindRateLimited is a 429 that persisted through the client's retries.
	KindRateLimited
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindUnauthorized:
		return "unauthorized"
	case KindValidation:
		return "validation"
	case KindRateLimited:
		return "rate limited"
	default:
		return "upstream"
	}
}

// Error is returned for every failed call. It carries LogicMonitor's own
// errorMessage and errorCode, and never the request's credentials.
type Error struct {
	Kind       Kind
	Method     string
	Path       string // resource path after /santaba/rest, without the query
	StatusCode int    // 0 for a transport failure
	Code       int    // LogicMonitor's errorCode (1000 + status), when sent
	Message    string // LogicMonitor's errorMessage, or a description
	RetryAfter time.Duration
	Rate       Rate
	Err        error // the transport or decoding error, if any
	// Indeterminate says the portal may have carried the request out
	// although no success answer arrived: the connection dropped after the
	// request was sent, a 5xx came back, or the answer was unreadable. For a
	// POST that means a token may exist.
	Indeterminate bool
}

// IsIndeterminate reports whether err leaves open whether LogicMonitor
// acted on the request.
func IsIndeterminate(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Indeterminate
}

func (e *Error) Error() string {
	s := fmt.Sprintf("logicmonitor: %s %s: ", e.Method, e.Path)
	if e.StatusCode != 0 {
		s += fmt.Sprintf("HTTP %d ", e.StatusCode)
	}
	s += e.Kind.String()
	if e.Code != 0 {
		s += fmt.Sprintf(" (errorCode %d)", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Forbidden reports whether LogicMonitor authenticated the caller and
// refused it the request (HTTP 403): a permission, not the credentials.
func (e *Error) Forbidden() bool { return e.StatusCode == 403 }

// Unauthenticated reports whether LogicMonitor refused the credentials
// themselves (HTTP 401).
func (e *Error) Unauthenticated() bool { return e.StatusCode == 401 }

// Unavailable reports whether the portal said it is unavailable (HTTP 503).
func (e *Error) Unavailable() bool { return e.StatusCode == 503 }

// RetryWait is how long the portal asked to wait before a retry: its
// Retry-After, else its rate-limit window, else 0 (the caller chooses).
func (e *Error) RetryWait() time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	return e.Rate.Window
}

// KindOf returns the Kind of err, and false when err is not a LogicMonitor error.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// IsNotFound reports whether err is a LogicMonitor 404.
func IsNotFound(err error) bool { k, ok := KindOf(err); return ok && k == KindNotFound }

// IsUnauthorized reports whether err is a LogicMonitor 401 or 403.
func IsUnauthorized(err error) bool { k, ok := KindOf(err); return ok && k == KindUnauthorized }
