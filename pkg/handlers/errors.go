package handlers

import (
	"math"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/lmtokens/lmtokens/pkg/tokens"
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

// Error is a failed request as the transports see it: the domain's Error,
// whose kind errorTable turns into a status and error types.
type Error = tokens.Error

// Kinds only a transport produces.
const (
	// kindMethodNotAllowed: an HTTP method the route does not take.
	kindMethodNotAllowed tokens.Kind = "MethodNotAllowed"
	// kindUnencodable: an answer that could not be encoded.
	kindUnencodable tokens.Kind = "Unencodable"
)

// wire is how the transports answer an error of one kind.
type wire struct {
	status int // the HTTP status
	// typ is the "type" of the HTTP error body; function is the errorType
	// of a direct invocation's function error, one of the documented
	// types a workflow retries or catches by.
	typ, function string
}

// errorTable is the one mapping from the domain's kinds of failure to the
// transports' answers. An idempotency conflict maps onto the documented
// function error types: a reused or spent key is bad input, a request
// still in progress is worth retrying.
var errorTable = map[tokens.Kind]wire{
	tokens.KindInvalid:       {http.StatusBadRequest, TypeValidation, TypeValidation},
	tokens.KindTooLarge:      {http.StatusRequestEntityTooLarge, TypeValidation, TypeValidation},
	kindMethodNotAllowed:     {http.StatusMethodNotAllowed, TypeValidation, TypeValidation},
	tokens.KindNotFound:      {http.StatusNotFound, TypeNotFound, TypeNotFound},
	tokens.KindForbidden:     {http.StatusForbidden, TypeForbidden, TypeForbidden},
	tokens.KindConflict:      {http.StatusConflict, TypeConflict, TypeValidation},
	tokens.KindInProgress:    {http.StatusConflict, TypeConflict, TypeUpstream},
	tokens.KindKeyReused:     {http.StatusUnprocessableEntity, TypeConflict, TypeValidation},
	tokens.KindGone:          {http.StatusGone, TypeConflict, TypeValidation},
	tokens.KindRateLimited:   {http.StatusTooManyRequests, TypeRateLimited, TypeRateLimited},
	tokens.KindUpstream:      {http.StatusBadGateway, TypeUpstream, TypeUpstream},
	tokens.KindUnavailable:   {http.StatusServiceUnavailable, TypeUpstream, TypeUpstream},
	tokens.KindTimeout:       {http.StatusGatewayTimeout, TypeUpstream, TypeUpstream},
	tokens.KindConfiguration: {http.StatusInternalServerError, TypeConfiguration, TypeConfiguration},
	kindUnencodable:          {http.StatusInternalServerError, TypeUpstream, TypeUpstream},
}

// wireOf returns how kind k is answered; a kind missing from the table
// answers as an upstream failure.
func wireOf(k tokens.Kind) wire {
	if w, ok := errorTable[k]; ok {
		return w
	}
	return errorTable[tokens.KindUpstream]
}

func status(e *Error) int { return wireOf(e.Kind).status }

func errorType(e *Error) string { return wireOf(e.Kind).typ }

// errorBody is the JSON of an HTTP error answer.
func errorBody(e *Error) map[string]string {
	return map[string]string{"type": errorType(e), "message": e.Message}
}

func errorHeaders(e *Error) map[string]string {
	if e.RetryAfter <= 0 {
		return nil
	}
	return map[string]string{"Retry-After": strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds())))}
}

// functionError is the Lambda function error of a direct invocation.
func functionError(e *Error) error {
	return messages.InvokeResponse_Error{Type: wireOf(e.Kind).function, Message: e.Message}
}

func invalid(format string, args ...any) *Error { return tokens.Invalid(format, args...) }

// classify turns any error into the domain's Error naming what failed.
func classify(err error, credentialsSecret string) *Error {
	return tokens.Classify(err, credentialsSecret)
}
