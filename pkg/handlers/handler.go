package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/lmtokens/lmtokens/pkg/apievent"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/strictjson"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Handler returns the Lambda handler of function fn (List, Create, Toggle or
// Delete). It accepts every shape apievent knows; HTTP callers get an API
// Gateway response, other callers the result object or a function error
// whose errorType is one of the Type constants.
func (s *Service) Handler(fn string) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		start := time.Now()
		lmRequests := s.domain.Counter()
		req, decErr := apievent.Decode(raw)
		ctx = logging.WithWho(ctx, logging.Who{Caller: req.Caller, APIRequestID: req.APIRequestID})
		work, cancel := tokens.ReserveForCleanUp(ctx)
		res, err := s.dispatch(work, fn, req, decErr)
		cancel()

		var e *Error
		if err != nil {
			e = classify(err, s.cfg.CredentialsSecret)
		}
		rate := s.domain.Rate()
		attrs := []any{
			slog.String("function", fn), slog.String("shape", req.Shape.String()),
			slog.Int64("lmRequests", lmRequests()), slog.Int64("durationMs", time.Since(start).Milliseconds()),
		}
		if req.Shape.IsHTTP() {
			attrs = append(attrs, slog.String("method", req.Method), slog.String("path", req.Path))
		}
		if rate.Known() {
			attrs = append(attrs, slog.Int("rateRemaining", rate.Remaining), slog.Int("rateLimit", rate.Limit))
		}
		if e != nil {
			attrs = append(attrs, slog.Int("status", status(e)), slog.String("errorType", errorType(e)), slog.String("error", e.Message))
			level := slog.LevelWarn
			if status(e) >= 500 {
				level = slog.LevelError
			}
			s.log.Log(ctx, level, "invocation failed", attrs...)
		} else {
			s.log.InfoContext(ctx, "invocation done", append(attrs, slog.Int("status", res.status))...)
		}

		if req.Shape.IsHTTP() {
			if e != nil {
				h := errorHeaders(e)
				if e.Kind == kindMethodNotAllowed {
					h = map[string]string{"Allow": allowed(fn)}
				}
				return fitLambda(apievent.Response(req.Shape, status(e), errorBody(e), h), func() any { return nil })
			}
			return fitLambda(apievent.Response(req.Shape, res.status, res.body, nil), func() any {
				return apievent.Response(req.Shape, status(tooLarge), errorBody(tooLarge), nil)
			})
		}
		if e != nil {
			return nil, functionError(e)
		}
		return fitLambda(res.body, func() any { return nil })
	}
}

// MaxLambdaResponse is the largest result a synchronous invocation returns
// (6 MB): measured as Lambda returns it, API Gateway's envelope and the
// escaping of the body inside it included.
const MaxLambdaResponse = 6 * 1024 * 1024

// tooLarge answers what would not fit.
var tooLarge = &Error{Kind: tokens.KindTooLarge,
	Message: "the answer is over the 6 MB a Lambda function may return (measured as returned: envelope and escaping included): page through it with size and offset, ask for fewer fields, or narrow it with a filter"}

// fitLambda encodes an answer once, as Lambda will return it, and checks its
// size: an answer over MaxLambdaResponse becomes a 413 (or, for a direct
// invocation, a ValidationError), never an invocation error.
func fitLambda(v any, instead func() any) (any, error) {
	b, encoded := v.(json.RawMessage) // encoded once already
	if !encoded {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, &Error{Kind: kindUnencodable, Message: "the answer could not be encoded"}
		}
	}
	if len(b) <= MaxLambdaResponse {
		return json.RawMessage(b), nil
	}
	if alt := instead(); alt != nil {
		return alt, nil
	}
	return nil, functionError(tooLarge)
}

func (s *Service) dispatch(ctx context.Context, fn string, req *apievent.Request, decErr error) (result, error) {
	if decErr != nil {
		return result{}, invalid("%v", decErr)
	}
	if err := s.domain.ConfigErr(); err != nil {
		return result{}, &Error{Kind: tokens.KindConfiguration, Message: "configuration: " + err.Error()}
	}
	if s.cfg.Cleanup.Enabled {
		return s.dispatchCleanup(ctx, fn, req)
	}
	if req.Shape.IsHTTP() {
		return s.dispatchHTTP(ctx, fn, req)
	}
	if req.Shape == apievent.EventBridge && isScheduledEvent(req) {
		return result{}, invalid("%v: a scheduled cleanup event reached the %s function, which does not run cleanups", errNoCleanup, fn)
	}
	payload := req.Payload
	switch fn {
	case List:
		in, err := listFromJSON(payload)
		if err != nil {
			return result{}, err
		}
		return listed(s.domain.List(ctx, in))
	case Create:
		if r := rotateRequest(payload); r != nil {
			in, err := rotateFromJSON(r)
			if err != nil {
				return result{}, err
			}
			return accepted(s.domain.Rotate(ctx, in))
		}
		in, err := createFromJSON(payload)
		if err != nil {
			return result{}, err
		}
		return created(s.domain.Create(ctx, in))
	case Toggle:
		in, err := toggleFromJSON(payload)
		if err != nil {
			return result{}, err
		}
		return okay(s.domain.Toggle(ctx, in))
	case Delete:
		in, err := deleteFromJSON(payload)
		if err != nil {
			return result{}, err
		}
		return okay(s.domain.Delete(ctx, in))
	}
	return result{}, unknownFunction(fn)
}

// result is a successful answer and its HTTP status.
type result struct {
	status int
	body   any
}

func answer[T any](status int, v T, err error) (result, error) {
	if err != nil {
		return result{}, err
	}
	return result{status, v}, nil
}

func okay[T any](v T, err error) (result, error) { return answer(http.StatusOK, v, err) }

// listed answers a listing, as the domain encoded it when it did.
func listed(o tokens.ListOutput, err error) (result, error) {
	if b, ok := o.Encoded(); ok && err == nil {
		return result{http.StatusOK, b}, nil
	}
	return okay(o, err)
}
func created[T any](v T, err error) (result, error)  { return answer(http.StatusCreated, v, err) }
func accepted[T any](v T, err error) (result, error) { return answer(http.StatusAccepted, v, err) }

// runCleanup serves a cleanup function: toggle runs the disable stage,
// delete the delete stage.
func (s *Service) runCleanup(ctx context.Context, fn string, spec json.RawMessage) (result, error) {
	stage, err := stageOf(fn)
	if err != nil {
		return result{}, err
	}
	return okay(s.domain.Cleanup(ctx, stage, spec))
}

// dispatchCleanup serves a cleanup function. It takes a scheduled-rule
// event (source aws.events, detail-type Scheduled Event, an empty detail)
// and a direct {"cleanup": {...}} object, which is what EventBridge
// Scheduler and a manual invoke send; and the three steps of a run fanned
// out over portals by the cleanup state machine:
//
//	{"cleanup": {...}, "step": "portals"}                        → {"portals": ["default", ...]}
//	{"cleanup": {...}, "portal": "acme"}                          → the portal's outcome
//	{"cleanup": {...}, "step": "summarize", "portals": [...], "outcomes": [...]} → the run's report
//
// Anything else, a delete that also says cleanup included, is refused.
func (s *Service) dispatchCleanup(ctx context.Context, fn string, req *apievent.Request) (result, error) {
	const takes = `a cleanup function takes a scheduled-rule event or {"cleanup": {...}} alone`
	switch {
	case req.Shape.IsHTTP():
		return result{}, &Error{Kind: tokens.KindInvalid, Message: takes + ", not HTTP requests"}
	case req.Shape == apievent.EventBridge:
		if !isScheduledEvent(req) || !bytes.Equal(bytes.Join(bytes.Fields(req.Payload), nil), []byte("{}")) {
			return result{}, invalid("%s; this event (source %q, detail-type %q) is neither", takes, req.Source, req.DetailType)
		}
		return s.runCleanup(ctx, fn, nil)
	}
	var in struct {
		Cleanup  json.RawMessage   `json:"cleanup"`
		Step     string            `json:"step"`
		Portal   *string           `json:"portal"`
		Portals  []string          `json:"portals"`
		Outcomes []cleanup.Outcome `json:"outcomes"`
	}
	if err := strictjson.Decode(req.Payload, &in); err != nil || len(in.Cleanup) == 0 {
		msg := takes
		if err != nil {
			msg += ": " + err.Error()
		}
		return result{}, invalid("%s", msg)
	}
	stage, err := stageOf(fn)
	if err != nil {
		return result{}, err
	}
	steps := `the cleanup state machine's steps are {"cleanup","step":"portals"}, {"cleanup","portal"} and {"cleanup","step":"summarize","portals","outcomes"}`
	switch {
	case in.Step == "" && in.Portal == nil && in.Portals == nil && in.Outcomes == nil:
		return s.runCleanup(ctx, fn, in.Cleanup)
	case in.Step == "portals" && in.Portal == nil && in.Portals == nil && in.Outcomes == nil:
		return okay(s.domain.CleanupPortals(ctx, stage, in.Cleanup))
	case in.Step == "" && in.Portal != nil && in.Portals == nil && in.Outcomes == nil:
		return okay(s.domain.CleanupPortal(ctx, stage, in.Cleanup, *in.Portal))
	case in.Step == "summarize" && in.Portal == nil && in.Portals != nil:
		return okay(s.domain.SummarizeCleanup(ctx, stage, in.Cleanup, in.Portals, in.Outcomes))
	}
	return result{}, invalid("%s", steps)
}

// stageOf is the stage a cleanup function runs: toggle the disable stage,
// delete the delete stage.
func stageOf(fn string) (cleanup.Stage, error) {
	switch fn {
	case Toggle:
		return cleanup.StageDisable, nil
	case Delete:
		return cleanup.StageDelete, nil
	}
	return "", &Error{Kind: tokens.KindConfiguration, Message: "configuration: CLEANUP_ENABLED is set on the " + fn + " function, but only toggle (disable stage) and delete (delete stage) run cleanups"}
}

func (s *Service) dispatchHTTP(ctx context.Context, fn string, req *apievent.Request) (result, error) {
	if len(req.Body) > MaxBodyBytes {
		return result{}, &Error{Kind: tokens.KindTooLarge, Message: "the body is over 64 KiB"}
	}
	r, params, wrongMethod := match(fn, req.Method, req.Route, req.Path, req.PathParams)
	if r.method == "" {
		if wrongMethod {
			return result{}, &Error{Kind: kindMethodNotAllowed, Message: req.Method + " is not allowed here; use " + allowed(fn)}
		}
		return result{}, &Error{Kind: tokens.KindNotFound, Message: "no route " + req.Method + " " + req.Path + " in the " + fn + " function"}
	}
	if e := samePath(r, params, req.Path); e != nil {
		return result{}, e
	}
	var adminID, tokenID int64
	var e *Error
	if _, ok := params["adminId"]; ok {
		if adminID, e = pathID(params, "adminId"); e != nil {
			return result{}, e
		}
	}
	if _, ok := params["tokenId"]; ok {
		if tokenID, e = pathID(params, "tokenId"); e != nil {
			return result{}, e
		}
	}
	portalName, portalRoute := params["portal"]
	if portalRoute && portalName == "" {
		return result{}, invalid("path parameter portal is missing")
	}
	switch fn {
	case List:
		if r.template == "/portals" {
			if err := noQuery(req); err != nil {
				return result{}, err
			}
			return okay(s.domain.Portals(ctx))
		}
		in, err := listFromQuery(adminID, req.Query)
		if err != nil {
			return result{}, err
		}
		in.Portal = portalName
		return listed(s.domain.List(ctx, in))
	case Create:
		if err := noQuery(req); err != nil {
			return result{}, err
		}
		if strings.HasSuffix(r.template, "/rotate") {
			if b := bytes.TrimSpace(req.Body); len(b) > 0 && !bytes.Equal(b, []byte("{}")) {
				return result{}, invalid("POST .../rotate takes no body")
			}
			return accepted(s.domain.Rotate(ctx, tokens.RotateInput{Portal: portalName, AdminID: adminID, TokenID: tokenID}))
		}
		in, err := createFromHTTP(adminID, req.Body, req.Header("Idempotency-Key"))
		if err != nil {
			return result{}, err
		}
		in.Portal = portalName
		return created(s.domain.Create(ctx, in))
	case Toggle:
		if err := noQuery(req); err != nil {
			return result{}, err
		}
		in, err := toggleFromHTTP(adminID, tokenID, req.Body)
		if err != nil {
			return result{}, err
		}
		in.Portal = portalName
		return okay(s.domain.Toggle(ctx, in))
	case Delete:
		if err := noQuery(req); err != nil {
			return result{}, err
		}
		if b := bytes.TrimSpace(req.Body); len(b) > 0 && !bytes.Equal(b, []byte("{}")) {
			return result{}, invalid("DELETE takes no body")
		}
		return okay(s.domain.Delete(ctx, tokens.DeleteInput{Portal: portalName, AdminID: adminID, TokenID: tokenID}))
	}
	return result{}, unknownFunction(fn)
}

// samePath checks that the ids API Gateway passed are spelled in the
// request's path exactly as they are: IAM policies match the literal path of
// the method ARN, so a path that reaches a user by another spelling (an
// encoded digit, say) must not pass.
func samePath(r route, params map[string]string, path string) *Error {
	if path == "" {
		return nil
	}
	want, got := segments(r.template), segments(path)
	if len(got) < len(want) {
		return invalid("the path %q does not match %s", path, r.template)
	}
	got = got[len(got)-len(want):]
	for i, w := range want {
		if name, ok := strings.CutPrefix(w, "{"); ok && got[i] != params[strings.TrimSuffix(name, "}")] {
			return invalid("the path %q does not spell %s as API Gateway passed it", path, w)
		}
	}
	return nil
}

func noQuery(req *apievent.Request) *Error {
	for k := range req.Query {
		return invalid("unknown query parameter %q: this route takes none", k)
	}
	return nil
}

// isScheduledEvent reports whether an EventBridge event is a scheduled
// rule's tick: source aws.events, detail-type Scheduled Event.
func isScheduledEvent(req *apievent.Request) bool {
	return req.Source == "aws.events" && req.DetailType == "Scheduled Event"
}

var errNoCleanup = errors.New("cleanups run only in the cleanup functions (CLEANUP_ENABLED=true)")

func unknownFunction(fn string) *Error {
	return &Error{Kind: tokens.KindConfiguration, Message: "unknown function " + fn}
}
