package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Kind is what went wrong, in the domain's words. The transports map each
// kind onto their own wire (an HTTP status, a function error's errorType)
// through one table, pkg/handlers' errorTable; nothing here knows those.
type Kind string

// The kinds of failure.
const (
	// KindInvalid: the request is wrong and retrying it cannot help.
	KindInvalid Kind = "Invalid"
	// KindTooLarge: the answer asked for is over what one answer carries.
	KindTooLarge Kind = "TooLarge"
	// KindNotFound: the token, user, portal or secret named is not there.
	KindNotFound Kind = "NotFound"
	// KindForbidden: lmtokens refuses this user or token (a protected one).
	KindForbidden Kind = "Forbidden"
	// KindConflict: the request collides with the state of the thing it
	// names (a rotation under way or ended); it needs a new request.
	KindConflict Kind = "Conflict"
	// KindInProgress: the same request is being served by another
	// invocation; retrying after RetryAfter is safe.
	KindInProgress Kind = "InProgress"
	// KindKeyReused: an idempotency key was used for a different request.
	KindKeyReused Kind = "KeyReused"
	// KindGone: what an idempotency key made has since been deleted.
	KindGone Kind = "Gone"
	// KindRateLimited: LogicMonitor kept throttling; retry after RetryAfter.
	KindRateLimited Kind = "RateLimited"
	// KindUpstream: LogicMonitor or AWS failed or answered unusably.
	KindUpstream Kind = "Upstream"
	// KindUnavailable: LogicMonitor said it is unavailable (HTTP 503).
	KindUnavailable Kind = "Unavailable"
	// KindTimeout: an upstream call ran out of time.
	KindTimeout Kind = "Timeout"
	// KindConfiguration: the deployment is wrong (a setting, a secret, the
	// credentials' permissions); an operator must act.
	KindConfiguration Kind = "Configuration"
)

// Kinds are every kind of failure the domain returns.
var Kinds = []Kind{KindInvalid, KindTooLarge, KindNotFound, KindForbidden, KindConflict, KindInProgress, KindKeyReused,
	KindGone, KindRateLimited, KindUpstream, KindUnavailable, KindTimeout, KindConfiguration}

// Error is a failed operation: its kind, a message that says what happened,
// what was made and whether a retry is safe, and how long to wait before
// retrying (when the kind says to).
type Error struct {
	Kind       Kind
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// Fail returns an Error of kind k.
func Fail(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error.
func Invalid(format string, args ...any) *Error { return Fail(KindInvalid, format, args...) }

// Classify turns any error of the LogicMonitor client, the secrets package
// or the context into an Error naming what failed. credentialsSecret is
// named when the credentials are at fault.
func Classify(err error, credentialsSecret string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooMany *logicmonitor.TooManyError
	if errors.As(err, &tooMany) {
		return &Error{Kind: KindUpstream, Message: "LogicMonitor: " + tooMany.Error()}
	}
	var incomplete *logicmonitor.IncompleteError
	if errors.As(err, &incomplete) {
		kind := KindUpstream
		if errors.Is(err, context.DeadlineExceeded) {
			kind = KindTimeout
		}
		return &Error{Kind: kind, Message: "LogicMonitor: " + incomplete.Error()}
	}
	var lm *logicmonitor.Error
	if errors.As(err, &lm) {
		msg := "LogicMonitor " + lm.Method + " " + lm.Path + ": " + lm.Message
		switch lm.Kind {
		case logicmonitor.KindNotFound:
			return &Error{Kind: KindNotFound, Message: "LogicMonitor: " + lm.Message}
		case logicmonitor.KindUnauthorized:
			if lm.Forbidden() {
				// Authenticated: the credentials' user may not do this.
				return &Error{Kind: KindConfiguration, Message: fmt.Sprintf("LogicMonitor forbade %s %s (HTTP 403: %s): the user of the credentials in secret %s lacks the permission", lm.Method, lm.Path, lm.Message, credentialsSecret)}
			}
			return &Error{Kind: KindConfiguration, Message: fmt.Sprintf("LogicMonitor rejected the credentials in secret %s (HTTP %d): %s", credentialsSecret, lm.StatusCode, lm.Message)}
		case logicmonitor.KindValidation:
			return &Error{Kind: KindInvalid, Message: "LogicMonitor refused the request: " + lm.Message}
		case logicmonitor.KindRateLimited:
			wait := lm.RetryWait()
			if wait <= 0 {
				wait = time.Second
			}
			return &Error{Kind: KindRateLimited, Message: "LogicMonitor kept throttling: " + lm.Message, RetryAfter: wait}
		}
		switch {
		case errors.Is(lm.Err, context.DeadlineExceeded) || isTimeout(lm.Err):
			return &Error{Kind: KindTimeout, Message: msg + " (timed out)"}
		case lm.Unavailable():
			return &Error{Kind: KindUnavailable, Message: msg + " (HTTP 503)"}
		case lm.StatusCode != 0:
			return &Error{Kind: KindUpstream, Message: fmt.Sprintf("%s (HTTP %d)", msg, lm.StatusCode)}
		}
		if lm.Err != nil {
			msg += ": " + lm.Err.Error()
		}
		return &Error{Kind: KindUpstream, Message: msg}
	}
	var ee *logicmonitor.EndpointError
	if errors.As(err, &ee) {
		return &Error{Kind: KindConfiguration, Message: "configuration: " + ee.Error()}
	}
	var ce *secrets.ConfigError
	if errors.As(err, &ce) {
		return &Error{Kind: KindConfiguration, Message: ce.Error()}
	}
	var ue *secrets.UnavailableError
	var se *secrets.StoreError
	if errors.As(err, &ue) || errors.As(err, &se) {
		if errors.Is(err, context.DeadlineExceeded) {
			return &Error{Kind: KindTimeout, Message: err.Error()}
		}
		return &Error{Kind: KindUpstream, Message: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Message: "timed out: " + err.Error()}
	}
	return &Error{Kind: KindUpstream, Message: err.Error()}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
