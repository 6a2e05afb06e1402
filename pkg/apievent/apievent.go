// Package apievent tells apart the shapes a function is invoked with and
// turns each into one Request: API Gateway REST (payload 1.0), API Gateway
// HTTP API (payload 2.0), EventBridge events, and direct invocations (Step
// Functions, SDK invoke). It also writes HTTP answers in the shape that
// arrived.
package apievent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Shape is the kind of event a function received.
type Shape int

const (
	Direct Shape = iota
	REST
	HTTPAPI
	EventBridge
)

func (s Shape) String() string {
	switch s {
	case REST:
		return "rest"
	case HTTPAPI:
		return "httpapi"
	case EventBridge:
		return "eventbridge"
	}
	return "direct"
}

// IsHTTP reports whether the answer goes back to an HTTP caller.
func (s Shape) IsHTTP() bool { return s == REST || s == HTTPAPI }

// Request is an invocation, whatever its shape.
type Request struct {
	Shape Shape

	// HTTP shapes.
	Method     string
	Path       string            // the request path as the caller sent it
	Route      string            // the route template, e.g. /admins/{adminId}/tokens, if known
	PathParams map[string]string // from API Gateway's pathParameters
	Query      url.Values
	Headers    map[string]string // lower-case names
	Body       []byte

	// EventBridge and direct shapes: the request object (detail, or the
	// whole event).
	Payload json.RawMessage
	// EventBridge only.
	Source, DetailType string

	// Caller is who invoked: the IAM ARN API Gateway authenticated (REST
	// identity.userArn, HTTP API authorizer.iam.userArn), "schedule" for a
	// scheduled-rule event, "events:<source>" for another EventBridge
	// event, "direct" for anything else. APIRequestID is API Gateway's
	// request id ($context.requestId).
	Caller, APIRequestID string
}

// Header returns a request header, case-insensitively.
func (r *Request) Header(name string) string { return r.Headers[strings.ToLower(name)] }

// ErrNotObject says a direct invocation's payload is not a JSON object.
var ErrNotObject = errors.New("the event must be a JSON object")

// Decode reads an event of any shape. Shapes are told apart by their
// top-level field names, matched exactly (encoding/json alone would take
// "Detail" for "detail").
func Decode(raw []byte) (*Request, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return &Request{Shape: Direct, Payload: raw}, ErrNotObject
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return &Request{Shape: Direct, Payload: raw}, ErrNotObject
	}
	present := func(k string) bool {
		v, ok := top[k]
		return ok && !bytes.Equal(v, []byte("null"))
	}
	str := func(k string) (string, bool) {
		var s string
		return s, present(k) && json.Unmarshal(top[k], &s) == nil
	}
	version, _ := str("version")
	_, hasRouteKey := str("routeKey")
	_, hasMethod := str("httpMethod")
	detailType, hasDetailType := str("detail-type")
	source, hasSource := str("source")
	switch {
	case hasMethod && present("requestContext"):
		return decodeREST(trimmed)
	case version == "2.0" && hasRouteKey && present("requestContext"):
		return decodeHTTPAPI(trimmed)
	case hasDetailType && hasSource && present("detail"):
		caller := "events:" + source
		if source == "aws.events" && detailType == "Scheduled Event" {
			caller = "schedule"
		}
		return &Request{Shape: EventBridge, Payload: top["detail"], Source: source, DetailType: detailType, Caller: caller}, nil
	}
	return &Request{Shape: Direct, Payload: trimmed, Caller: "direct"}, nil
}

func decodeREST(raw []byte) (*Request, error) {
	var e events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		return &Request{Shape: REST}, errors.New("malformed API Gateway REST event")
	}
	r := &Request{Shape: REST, Method: e.HTTPMethod, Path: e.Path, Route: e.Resource, PathParams: e.PathParameters, Query: url.Values{}, Headers: map[string]string{},
		Caller: callerOf(e.RequestContext.Identity.UserArn), APIRequestID: e.RequestContext.RequestID}
	for k, vs := range e.MultiValueQueryStringParameters {
		r.Query[k] = vs
	}
	for k, v := range e.QueryStringParameters {
		if _, ok := r.Query[k]; !ok {
			r.Query.Set(k, v)
		}
	}
	for k, v := range e.Headers {
		r.Headers[strings.ToLower(k)] = v
	}
	for k, vs := range e.MultiValueHeaders {
		if _, ok := r.Headers[strings.ToLower(k)]; !ok && len(vs) > 0 {
			r.Headers[strings.ToLower(k)] = vs[0]
		}
	}
	return r, r.setBody(e.Body, e.IsBase64Encoded)
}

func decodeHTTPAPI(raw []byte) (*Request, error) {
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		return &Request{Shape: HTTPAPI}, errors.New("malformed API Gateway HTTP API event")
	}
	r := &Request{Shape: HTTPAPI, Method: e.RequestContext.HTTP.Method, Path: e.RawPath, PathParams: e.PathParameters, Headers: map[string]string{},
		APIRequestID: e.RequestContext.RequestID}
	if e.RequestContext.Authorizer != nil && e.RequestContext.Authorizer.IAM != nil {
		r.Caller = e.RequestContext.Authorizer.IAM.UserARN
	}
	r.Caller = callerOf(r.Caller)
	if _, route, ok := strings.Cut(e.RouteKey, " "); ok {
		r.Route = route
	}
	if r.Path == "" {
		r.Path = e.RequestContext.HTTP.Path
	}
	q, err := url.ParseQuery(e.RawQueryString)
	if err != nil {
		q = url.Values{}
		for k, v := range e.QueryStringParameters {
			q[k] = strings.Split(v, ",")
		}
	}
	r.Query = q
	for k, v := range e.Headers {
		r.Headers[strings.ToLower(k)] = v
	}
	return r, r.setBody(e.Body, e.IsBase64Encoded)
}

// callerOf names an HTTP caller; without IAM authorization there is none.
func callerOf(arn string) string {
	if arn == "" {
		return "unauthenticated"
	}
	return arn
}

func (r *Request) setBody(body string, b64 bool) error {
	if !b64 {
		r.Body = []byte(body)
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return errors.New("the body is marked base64 but is not")
	}
	r.Body = b
	return nil
}

// Response builds the answer to an HTTP shape: an API Gateway proxy response
// for REST, an HTTP API response for HTTP API. body is encoded as JSON.
func Response(shape Shape, status int, body any, headers map[string]string) any {
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	text := ""
	if raw, ok := body.(json.RawMessage); ok {
		text = string(raw) // encoded once already
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			b = []byte(`{"type":"Upstream","message":"could not encode the answer"}`)
			status = 500
		}
		text = string(b)
	}
	if shape == HTTPAPI {
		return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: text}
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: h, Body: text}
}
