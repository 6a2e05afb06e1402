package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Error types: the errorType of a direct invocation's function error (for
// Step Functions Retry/Catch) and the "type" of an HTTP error body.
const (
	TypeValidation    = "ValidationError"
	TypeNotFound      = "NotFound"
	TypeRateLimited   = "RateLimited"
	TypeUpstream      = "Upstream"
	TypeConfiguration = "Configuration"
	TypeConflict      = "Conflict"
	TypeForbidden     = "Forbidden"
)

// ErrorTypes are every error type, for the API's description.
var ErrorTypes = []string{TypeValidation, TypeNotFound, TypeRateLimited, TypeUpstream, TypeConfiguration, TypeConflict, TypeForbidden}

// Error is a failed request, with the HTTP status it answers.
type Error struct {
	Type       string
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// body is the JSON of an HTTP error answer.
func (e *Error) body() map[string]string {
	return map[string]string{"type": e.Type, "message": e.Message}
}

func (e *Error) headers() map[string]string {
	if e.RetryAfter <= 0 {
		return nil
	}
	return map[string]string{"Retry-After": strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds())))}
}

// functionError is the Lambda function error of a direct invocation. An
// idempotency conflict maps onto the documented types: a reused key is bad
// input, a request still in progress is worth retrying.
func (e *Error) functionError() error {
	t := e.Type
	if t == TypeConflict {
		t = TypeValidation
		if e.Status == http.StatusConflict && e.RetryAfter > 0 {
			t = TypeUpstream
		}
	}
	return messages.InvokeResponse_Error{Type: t, Message: e.Message}
}

func invalid(format string, args ...any) *Error {
	return &Error{Type: TypeValidation, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// classify turns any error of the LogicMonitor client, the secrets package
// or the context into an Error naming what failed.
func classify(err error, credentialsSecret string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooMany *logicmonitor.TooManyError
	if errors.As(err, &tooMany) {
		return &Error{Type: TypeUpstream, Status: http.StatusBadGateway, Message: "LogicMonitor: " + tooMany.Error()}
	}
	var incomplete *logicmonitor.IncompleteError
	if errors.As(err, &incomplete) {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		return &Error{Type: TypeUpstream, Status: status, Message: "LogicMonitor: " + incomplete.Error()}
	}
	var lm *logicmonitor.Error
	if errors.As(err, &lm) {
		msg := "LogicMonitor " + lm.Method + " " + lm.Path + ": " + lm.Message
		switch lm.Kind {
		case logicmonitor.KindNotFound:
			return &Error{Type: TypeNotFound, Status: 404, Message: "LogicMonitor: " + lm.Message}
		case logicmonitor.KindUnauthorized:
			if lm.StatusCode == http.StatusForbidden {
				// Authenticated: the credentials' user may not do this.
				return &Error{Type: TypeConfiguration, Status: 500, Message: fmt.Sprintf("LogicMonitor forbade %s %s (HTTP 403: %s): the user of the credentials in secret %s lacks the permission", lm.Method, lm.Path, lm.Message, credentialsSecret)}
			}
			return &Error{Type: TypeConfiguration, Status: 500, Message: fmt.Sprintf("LogicMonitor rejected the credentials in secret %s (HTTP %d): %s", credentialsSecret, lm.StatusCode, lm.Message)}
		case logicmonitor.KindValidation:
			return &Error{Type: TypeValidation, Status: 400, Message: "LogicMonitor refused the request: " + lm.Message}
		case logicmonitor.KindRateLimited:
			wait := lm.RetryWait()
			if wait <= 0 {
				wait = time.Second
			}
			return &Error{Type: TypeRateLimited, Status: 429, Message: "LogicMonitor kept throttling: " + lm.Message, RetryAfter: wait}
		}
		switch {
		case errors.Is(lm.Err, context.DeadlineExceeded) || isTimeout(lm.Err):
			return &Error{Type: TypeUpstream, Status: 504, Message: msg + " (timed out)"}
		case lm.StatusCode == 503:
			return &Error{Type: TypeUpstream, Status: 503, Message: msg + " (HTTP 503)"}
		case lm.StatusCode != 0:
			return &Error{Type: TypeUpstream, Status: 502, Message: fmt.Sprintf("%s (HTTP %d)", msg, lm.StatusCode)}
		}
		if lm.Err != nil {
			msg += ": " + lm.Err.Error()
		}
		return &Error{Type: TypeUpstream, Status: 502, Message: msg}
	}
	var ee *logicmonitor.EndpointError
	if errors.As(err, &ee) {
		return &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: " + ee.Error()}
	}
	var ce *secrets.ConfigError
	if errors.As(err, &ce) {
		return &Error{Type: TypeConfiguration, Status: 500, Message: ce.Error()}
	}
	var ue *secrets.UnavailableError
	var se *secrets.StoreError
	if errors.As(err, &ue) || errors.As(err, &se) {
		if errors.Is(err, context.DeadlineExceeded) {
			return &Error{Type: TypeUpstream, Status: 504, Message: err.Error()}
		}
		return &Error{Type: TypeUpstream, Status: 502, Message: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Type: TypeUpstream, Status: 504, Message: "timed out: " + err.Error()}
	}
	return &Error{Type: TypeUpstream, Status: 502, Message: err.Error()}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
