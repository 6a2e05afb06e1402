// Package logging writes the functions' JSON log lines with log/slog, each
// carrying the Lambda request id of the invocation it belongs to.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns a JSON logger writing to w at the level Lambda's
// AWS_LAMBDA_LOG_LEVEL sets (INFO when unset).
func New(w io.Writer) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: levelFromEnv()})})
}

// Default logs to standard output, which Lambda sends to CloudWatch.
func Default() *slog.Logger { return New(os.Stdout) }

func levelFromEnv() slog.Level {
	switch strings.ToUpper(os.Getenv("AWS_LAMBDA_LOG_LEVEL")) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Who is the invocation's caller, for the audit trail: the IAM ARN of an
// HTTP caller with API Gateway's request id, or the kind of invoker.
type Who struct {
	Caller       string // IAM user or role ARN, "direct", "schedule", "events:<source>"
	APIRequestID string // API Gateway's $context.requestId, for HTTP callers
}

type whoKey struct{}

// WithWho returns ctx whose log lines carry who.
func WithWho(ctx context.Context, who Who) context.Context {
	return context.WithValue(ctx, whoKey{}, who)
}

// WhoFrom returns the caller stored by WithWho.
func WhoFrom(ctx context.Context) Who {
	w, _ := ctx.Value(whoKey{}).(Who)
	return w
}

// RequestID returns the invocation's request id ("" outside an invocation),
// so that code apart from the Lambda transports can name it.
func RequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// requestIDHandler adds the invocation's request id, and its caller, to
// every record, so one line joins the function's log to API Gateway's
// access log and says who asked.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("requestId", id))
	}
	if w := WhoFrom(ctx); w.Caller != "" {
		r.AddAttrs(slog.String("caller", w.Caller))
		if w.APIRequestID != "" {
			r.AddAttrs(slog.String("apiRequestId", w.APIRequestID))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
