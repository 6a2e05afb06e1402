package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/lmtokens/lmtokens/pkg/local/apidoc"
)

// The API's OpenAPI document (infra/openapi.json, written from the route
// table by make openapi) is what API Gateway validates requests with and
// what callers read. Every HTTP request the suite sends and every answer
// it gets is checked against it with kin-openapi: an answer must match its
// operation's schema; a request the document refuses must get a 4xx (API
// Gateway would never have passed it on).

var apiRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../../" + apidoc.File)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil // paths relative to the stage, any host
	return legacy.NewRouter(doc)
})

// The committed document is the one the route table and the answer types
// make today, and it is valid OpenAPI 3.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := apidoc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../" + apidoc.File)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s is not current: run make openapi (%v)", apidoc.File, err)
	}
	if _, err := apiRouter(); err != nil {
		t.Fatal(err)
	}
}

// wireRequest is an API Gateway event as the HTTP request it stands for.
func wireRequest(event any) (*http.Request, bool) {
	var method, path, rawQuery, body string
	var headers map[string]string
	var b64 bool
	switch ev := event.(type) {
	case events.APIGatewayProxyRequest:
		method, path, body, headers, b64 = ev.HTTPMethod, ev.Path, ev.Body, ev.Headers, ev.IsBase64Encoded
		q := url.Values{}
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = vs
		}
		rawQuery = q.Encode()
	case events.APIGatewayV2HTTPRequest:
		method, path, rawQuery, body, headers, b64 = ev.RequestContext.HTTP.Method, ev.RawPath, ev.RawQueryString, ev.Body, ev.Headers, ev.IsBase64Encoded
	default:
		return nil, false
	}
	raw := []byte(body)
	if b64 {
		if d, err := base64.StdEncoding.DecodeString(body); err == nil {
			raw = d
		}
	}
	req, err := http.NewRequest(method, "https://api.example.com"+path+"?"+rawQuery, bytes.NewReader(raw))
	if err != nil {
		return nil, false
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if len(raw) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, true
}

// checkAgainstAPI fails the test when an exchange disagrees with the
// document.
func checkAgainstAPI(t testing.TB, event any, r httpResp) {
	t.Helper()
	if err := apiMismatch(event, r); err != nil {
		t.Fatal(err)
	}
}

// checkedExchanges counts the exchanges apiMismatch routed and checked.
var checkedExchanges atomic.Int64

// apiMismatch checks one exchange against the document. A path the
// document does not route (a proxy route's stage prefix, say) is tried
// without its leading segments, as the functions match it.
func apiMismatch(event any, r httpResp) error {
	router, err := apiRouter()
	if err != nil {
		return err
	}
	req, ok := wireRequest(event)
	if !ok {
		return nil
	}
	var route *routers.Route
	var params map[string]string
	for {
		route, params, err = router.FindRoute(req)
		if err == nil {
			break
		}
		segs := strings.SplitN(strings.TrimPrefix(req.URL.Path, "/"), "/", 2)
		if len(segs) < 2 || errorIsMethod(err) {
			return nil // not an API path at all (a refused method or route is checked by its own test)
		}
		req.URL.Path = "/" + segs[1]
	}
	checkedExchanges.Add(1)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && (r.Status < 400 || r.Status > 499) {
		return fmt.Errorf("the API document refuses %s %s (%v), but the function answered %d", req.Method, req.URL, firstLine(reqErr), r.Status)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Status, Header: http.Header{"Content-Type": {r.Headers["Content-Type"]}},
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes([]byte(r.Raw))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("the answer %d to %s %s does not match the API document: %v\n%s", r.Status, req.Method, req.URL.Path, firstLine(err), r.Raw)
	}
	return nil
}

// The check can fail: an answer missing a required field, an answer with a
// field the document does not know, an undocumented status, an error body
// of the wrong shape, and a request the document refuses that was answered
// 2xx are each caught.
func TestAPIChecksCanFail(t *testing.T) {
	t.Parallel()
	json := map[string]string{"Content-Type": "application/json"}
	list := rest("GET", "/tokens", nil, nil, "", nil)
	for what, c := range map[string]struct {
		event any
		r     httpResp
		bad   bool
	}{
		"a good page":            {list, httpResp{Status: 200, Headers: json, Raw: `{"total":0,"items":[]}`}, false},
		"a page without total":   {list, httpResp{Status: 200, Headers: json, Raw: `{"items":[]}`}, true},
		"a page with a key":      {list, httpResp{Status: 200, Headers: json, Raw: `{"total":1,"items":[{"id":1,"accessKey":"x"}]}`}, true},
		"an undocumented status": {list, httpResp{Status: 299, Headers: json, Raw: `{}`}, true},
		"an error without type":  {list, httpResp{Status: 400, Headers: json, Raw: `{"message":"x"}`}, true},
		"a good error":           {list, httpResp{Status: 400, Headers: json, Raw: `{"type":"ValidationError","message":"x"}`}, false},
		"an id with a leading zero answered 200": {rest("GET", "/admins/{adminId}/tokens", map[string]string{"adminId": "02"}, nil, "", nil),
			httpResp{Status: 200, Headers: json, Raw: `{"total":0,"items":[]}`}, true},
		"an unknown body field answered 201": {rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"nope":1}`, nil),
			httpResp{Status: 201, Headers: json, Raw: `{}`}, true},
	} {
		if err := apiMismatch(c.event, c.r); (err != nil) != c.bad {
			t.Errorf("%s: %v", what, err)
		}
	}
}

func errorIsMethod(err error) bool { return err == routers.ErrMethodNotAllowed }

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
