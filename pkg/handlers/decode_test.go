package handlers

// Table-driven unit tests of the transport's pieces: input decoding, route
// matching and error mapping. The binary-level tests show the same through
// real invocations; these pin each rule down where it lives.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/lmtokens/lmtokens/pkg/local/apibodies"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

func TestParseIDAcceptsOnlyCanonicalIDs(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "42": 42, "9223372036854775807": 1<<63 - 1} {
		if got, err := tokens.ParseID(in); err != nil || got != want {
			t.Errorf("tokens.ParseID(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "02", "-1", "+1", " 1", "1 ", "1e3", "0x1", "%32", "9223372036854775808", "12345678901234567890", "１"} {
		if got, err := tokens.ParseID(in); err == nil {
			t.Errorf("tokens.ParseID(%q) = %d, want an error", in, got)
		}
	}
}

func TestListFromQuery(t *testing.T) {
	for _, c := range []struct {
		query string
		want  tokens.ListInput
		err   string
	}{
		{"", tokens.ListInput{}, ""},
		{"size=50&offset=100&type=bearer&fields=id,note&filter=note~ci&permission=manage&all=false", tokens.ListInput{Size: 50, Offset: 100, Type: "bearer", Fields: "id,note", Filter: "note~ci", Permission: "manage"}, ""},
		{"all=true", tokens.ListInput{All: true}, ""},
		{"size=0", tokens.ListInput{}, "size must be"},
		{"size=1001", tokens.ListInput{}, "size must be"},
		{"size=ten", tokens.ListInput{}, "size must be"},
		{"offset=-1", tokens.ListInput{}, "offset must be"},
		{"type=api", tokens.ListInput{}, `type "api" is not known`},
		{"fields=accessKey", tokens.ListInput{}, "not a token field"},
		{"all=yes", tokens.ListInput{}, "all must be true or false"},
		{"Size=5", tokens.ListInput{}, `unknown query parameter "Size"`},
		{"size=1&size=2", tokens.ListInput{}, "given 2 times"},
		{"filter=" + strings.Repeat("x", MaxFilterChars+1), tokens.ListInput{}, "filter is over"},
	} {
		q, _ := url.ParseQuery(c.query)
		got, err := listFromQuery(0, q)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.query, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Message, c.err) || status(err) != 400):
			t.Errorf("%q: got %v, want a 400 containing %q", c.query, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("%q: %+v, want %+v", c.query, got, c.want)
		}
	}
}

func TestCreateAndToggleDecoding(t *testing.T) {
	for _, c := range []struct {
		what, body, err string
	}{
		{"direct create", `{"adminId":2,"note":"ci","type":"bearer","status":1,"rotationDays":30,"idempotencyKey":"k-1"}`, ""},
		{"ids as strings", `{"adminId":"2"}`, ""},
		{"no admin", `{"note":"x"}`, "adminId is required"},
		{"a leading zero", `{"adminId":"02"}`, "canonically"},
		{"a case variant", `{"AdminId":2}`, "unknown field"},
		{"a field twice", `{"adminId":2,"adminId":3}`, ""}, // strict decoding names it
		{"a long note", fmt.Sprintf(`{"adminId":2,"note":%q}`, strings.Repeat("é", MaxNoteChars+1)), "at most 1000"},
		{"a bad status", `{"adminId":2,"status":3}`, "status must be 1"},
		{"rotation too long", `{"adminId":2,"rotationDays":366}`, "rotationDays must be"},
		{"a spaced key", `{"adminId":2,"idempotencyKey":"a b"}`, "printable ASCII"},
		{"not an object", `[1]`, ""},
	} {
		_, err := createFromJSON([]byte(c.body))
		switch {
		case c.what == "a field twice" || c.what == "not an object":
			if err == nil {
				t.Errorf("%s: accepted", c.what)
			}
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.what, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Message, c.err)):
			t.Errorf("%s: got %v, want %q", c.what, err, c.err)
		}
	}
	for _, c := range []struct {
		body   string
		status int // 0: none
		err    string
	}{
		{`{"enabled":false}`, 1, ""},
		{`{"status":2,"enabled":true}`, 2, ""},
		{`{"status":2,"enabled":false}`, 0, "disagree"},
		{`{"note":"only a note"}`, 0, ""},
		{`{"enabled":"no"}`, 0, "must be true or false"},
	} {
		in, err := toggleFromHTTP(2, 9, []byte(c.body))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Message, c.err)):
			t.Errorf("%s: got %v, want %q", c.body, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.body, err)
		case c.err == "" && c.status != 0 && (in.Status == nil || *in.Status != c.status):
			t.Errorf("%s: status %v", c.body, in.Status)
		}
	}
}

func TestRouteMatching(t *testing.T) {
	for _, c := range []struct {
		fn, method, template, path string
		want                       string // "METHOD template", or "" for none
		methodOnly                 bool
		params                     map[string]string
	}{
		{"list", "GET", "/tokens", "/tokens", "GET /tokens", false, map[string]string{}},
		{"list", "GET", "/admins/{adminId}/tokens", "/admins/2/tokens", "GET /admins/{adminId}/tokens", false, map[string]string{"adminId": "2"}},
		// A $default or proxy route: matched by the path's trailing segments, past a stage.
		{"list", "GET", "$default", "/prod/admins/7/tokens", "GET /admins/{adminId}/tokens", false, map[string]string{"adminId": "7"}},
		{"list", "GET", "/{proxy+}", "/v1/tokens", "GET /tokens", false, map[string]string{}},
		{"list", "POST", "/tokens", "/tokens", "", true, nil},
		{"create", "POST", "/admins/{adminId}/tokens/{tokenId}/rotate", "/admins/2/tokens/9/rotate", "POST /admins/{adminId}/tokens/{tokenId}/rotate", false, map[string]string{"adminId": "2", "tokenId": "9"}},
		{"toggle", "patch", "/admins/{adminId}/tokens/{tokenId}", "/admins/2/tokens/9", "PATCH /admins/{adminId}/tokens/{tokenId}", false, map[string]string{"adminId": "2", "tokenId": "9"}},
		{"delete", "DELETE", "/portals/{portal}/admins/{adminId}/tokens/{tokenId}", "/portals/emea/admins/2/tokens/9", "DELETE /portals/{portal}/admins/{adminId}/tokens/{tokenId}", false, map[string]string{"portal": "emea", "adminId": "2", "tokenId": "9"}},
		{"delete", "DELETE", "/admins/{adminId}", "/admins/2", "", false, nil},
	} {
		params := map[string]string{}
		for k, v := range c.params {
			if !strings.HasPrefix(c.template, "$") && !strings.Contains(c.template, "+}") {
				params[k] = v
			}
		}
		r, got, methodOnly := match(c.fn, c.method, c.template, c.path, params)
		name := r.method + " " + r.template
		if r.method == "" {
			name = ""
		}
		if name != c.want || methodOnly != c.methodOnly || (c.want != "" && fmt.Sprint(got) != fmt.Sprint(c.params)) {
			t.Errorf("%s %s %s (%s): %q %v methodOnly=%v", c.fn, c.method, c.path, c.template, name, got, methodOnly)
		}
	}
	if got := allowed("list"); got != "GET" {
		t.Errorf("allowed(list) = %q", got)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestErrorMapping(t *testing.T) {
	lm := func(kind logicmonitor.Kind, status int, err error) error {
		return &logicmonitor.Error{Kind: kind, StatusCode: status, Method: "GET", Path: "/setting/admins/apitokens", Message: "m", Err: err}
	}
	for _, c := range []struct {
		what   string
		err    error
		typ    string
		status int
		say    string
	}{
		{"our own error", invalid("bad %s", "x"), TypeValidation, 400, "bad x"},
		{"not found", lm(logicmonitor.KindNotFound, 404, nil), TypeNotFound, 404, "LogicMonitor"},
		{"credentials refused", lm(logicmonitor.KindUnauthorized, 401, nil), TypeConfiguration, 500, "rejected the credentials in secret creds"},
		{"permission missing", lm(logicmonitor.KindUnauthorized, 403, nil), TypeConfiguration, 500, "lacks the permission"},
		{"refused request", lm(logicmonitor.KindValidation, 400, nil), TypeValidation, 400, "refused the request"},
		{"throttled", lm(logicmonitor.KindRateLimited, 429, nil), TypeRateLimited, 429, "kept throttling"},
		{"timed out", lm(logicmonitor.KindUpstream, 0, context.DeadlineExceeded), TypeUpstream, 504, "timed out"},
		{"a network timeout", lm(logicmonitor.KindUpstream, 0, timeoutErr{}), TypeUpstream, 504, "timed out"},
		{"unavailable", lm(logicmonitor.KindUpstream, 503, nil), TypeUpstream, 503, "HTTP 503"},
		{"a 500", lm(logicmonitor.KindUpstream, 500, nil), TypeUpstream, 502, "HTTP 500"},
		{"a bad endpoint", &logicmonitor.EndpointError{URL: "http://evil.example", Reason: "not https"}, TypeConfiguration, 500, "configuration"},
		{"a secret misconfigured", &secrets.ConfigError{Secret: "creds", Reason: "no company"}, TypeConfiguration, 500, "creds"},
		{"a deadline", context.DeadlineExceeded, TypeUpstream, 504, "timed out"},
		{"anything else", errors.New("boom"), TypeUpstream, 502, "boom"},
	} {
		e := classify(c.err, "creds")
		if errorType(e) != c.typ || status(e) != c.status || !strings.Contains(e.Message, c.say) {
			t.Errorf("%s: %s %d %q", c.what, errorType(e), status(e), e.Message)
		}
	}
	// A direct invocation's error type: a reused idempotency key is bad
	// input; one still in progress is worth retrying.
	for _, c := range []struct {
		e    *Error
		want string
	}{
		{&Error{Kind: tokens.KindKeyReused}, TypeValidation},
		{&Error{Kind: tokens.KindGone}, TypeValidation},
		{&Error{Kind: tokens.KindConflict}, TypeValidation},
		{&Error{Kind: tokens.KindInProgress, RetryAfter: time.Second}, TypeUpstream},
		{&Error{Kind: tokens.KindNotFound}, TypeNotFound},
		{&Error{Kind: "SomethingNew"}, TypeUpstream},
	} {
		if got := functionError(c.e).(messages.InvokeResponse_Error).Type; got != c.want {
			t.Errorf("%+v: %s, want %s", c.e, got, c.want)
		}
	}
	if h := errorHeaders(&Error{RetryAfter: 1500 * time.Millisecond}); h["Retry-After"] != "2" {
		t.Errorf("Retry-After %v", h)
	}
}

// TestErrorTableCoversEveryKind: a kind the domain adds without a row
// would answer as a 502, whatever it means.
func TestErrorTableCoversEveryKind(t *testing.T) {
	for _, k := range tokens.Kinds {
		w, ok := errorTable[k]
		if !ok {
			t.Errorf("kind %s has no row in errorTable", k)
			continue
		}
		if !slices.Contains(ErrorTypes, w.typ) || !slices.Contains(ErrorTypes, w.function) || http.StatusText(w.status) == "" {
			t.Errorf("kind %s maps to %+v: not a documented type or status", k, w)
		}
	}
}

// TestBodiesAsAPIGatewayDecidesThem: the functions decide the bodies of
// infra/testdata/request-bodies.json as API Gateway's draft-4 models do
// (infra's TestRequestModelsAsADraft4ValidatorReadsThem), so a deployed
// API and a function invoked directly answer them alike.
func TestBodiesAsAPIGatewayDecidesThem(t *testing.T) {
	cases, err := apibodies.BodyCases("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var e *Error
		switch c.Function {
		case "create":
			_, e = createFromHTTP(2, c.Body, "")
		case "toggle":
			_, e = toggleFromHTTP(2, 3, c.Body)
		default:
			t.Fatalf("unknown function %q", c.Function)
		}
		if (e == nil) != c.Valid {
			t.Errorf("%s %s: the function's verdict %v, API Gateway's model says valid=%v", c.Function, c.Body, e, c.Valid)
		}
	}
}
