package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/awsevents"
	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdev"
	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
	"github.com/lmtokens/lmtokens/pkg/local/localevents"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

const (
	credsSecret = "lmtokens/credentials"
	operatorID  = "OperatorAccessId0001"
	operatorKey = "Op(~^{Key)=+[Secret]Value-0000000000001"
)

// allLogs gathers every log line the suite's invocations write, so that
// TestMain can check no key or credential ever appears in one.
var allLogs = &syncBuffer{}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns a writer for one process's output that hands b whole
// lines only: os/exec copies each pipe in chunks, and two binaries' chunks
// must not interleave inside a line (a key split that way would escape the
// leak check). flush writes what is left when the process is gone.
func (b *syncBuffer) lines() (w io.Writer, flush func()) {
	lw := &lineWriter{to: b}
	return lw, lw.flush
}

type lineWriter struct {
	mu      sync.Mutex
	to      io.Writer
	pending []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	if i := bytes.LastIndexByte(l.pending, '\n'); i >= 0 {
		_, _ = l.to.Write(l.pending[:i+1])
		l.pending = append([]byte(nil), l.pending[i+1:]...)
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 {
		_, _ = l.to.Write(l.pending)
		l.pending = nil
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretsSeen collects every key the sandboxes of the suite issued.
var secretsSeen = struct {
	sync.Mutex
	keys []string
}{keys: []string{operatorKey}}

func rememberKeys(p *lmsandbox.Server) {
	secretsSeen.Lock()
	defer secretsSeen.Unlock()
	for _, t := range p.Tokens() {
		secretsSeen.keys = append(secretsSeen.keys, t.AccessKey)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	localdev.RemoveBuilt()
	// A run of only some tests may not emit every detail type.
	whole := flag.Lookup("test.run").Value.String() == ""
	if code == 0 && !checkEmittedEvents(whole) {
		code = 1
	}
	if n := checkedExchanges.Load(); code == 0 && whole {
		fmt.Fprintf(os.Stderr, "%d HTTP exchanges checked against the API document\n", n)
		if n < 100 {
			fmt.Fprintln(os.Stderr, "FAIL: too few HTTP exchanges were checked against the API document")
			code = 1
		}
	}
	logs := allLogs.String()
	secretsSeen.Lock()
	if k, found := newKeyScanner(secretsSeen.keys).find(logs); found {
		fmt.Fprintf(os.Stderr, "FAIL: a key (%s…) appears in the functions' logs\n", k[:4])
		code = 1
	}
	secretsSeen.Unlock()
	if code == 0 && logs != "" && !strings.Contains(logs, `"requestId"`) {
		fmt.Fprintln(os.Stderr, "FAIL: no log line carried the Lambda request id")
		code = 1
	}
	os.Exit(code)
}

// env is one test's portal, Secrets Manager and functions.
type env struct {
	t      testing.TB
	portal *lmsandbox.Server
	sm     *localsecrets.Server
	eb     *localevents.Server
	db     *localdynamo.Server
	api    *secretsmanager.Client
	svc    *handlers.Service
	cfg    tokens.Config
}

func smClient(url string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""),
		BaseEndpoint: aws.String(url),
	})
}

func newEnv(t testing.TB, cfg lmsandbox.Config) *env {
	t.Helper()
	e := &env{t: t, portal: lmsandbox.NewServer(cfg), sm: localsecrets.Start(), eb: localevents.Start(), db: localdev.StartMarks(marksTable)}
	t.Cleanup(func() {
		rememberKeys(e.portal)
		e.portal.Close()
		e.sm.Close()
		e.eb.Close()
		e.db.Close()
	})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 1, Username: "lmtokens@example.com", Roles: []string{"administrator"}})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 2, Username: "ci@example.com"})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 3, Username: "grafana@example.com"})
	if _, err := e.portal.AddToken(lmsandbox.TokenSpec{AdminID: 1, AccessID: operatorID, AccessKey: operatorKey, Note: "lmtokens service"}); err != nil {
		t.Fatal(err)
	}
	e.sm.Put(credsSecret, fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q}`, operatorID, operatorKey))
	e.api = smClient(e.sm.URL)
	e.cfg = tokens.Config{CredentialsSecret: credsSecret, BaseURL: e.portal.URL, SecretPrefix: "logicmonitor/api-tokens/", RecoveryDays: 7, CredentialsTTL: 5 * time.Minute,
		ProtectedRoles: []string{"administrator"}, AllowHTTPLoopback: true}
	e.svc = e.service(e.cfg)
	return e
}

func (e *env) service(cfg tokens.Config) *handlers.Service { return handlers.New(e.options(cfg)) }

// options are a service's on the env's local AWS: its Secrets Manager,
// EventBridge and marks table.
func (e *env) options(cfg tokens.Config) handlers.Options {
	return handlers.Options{Config: cfg, SecretsAPI: awssecrets.New(e.api), Logger: e.logger(), Events: e.emitter(), Marks: e.marks()}
}

// clock is a test's time: it starts at the real now and moves only when
// the test advances it, so cache lifetimes are tested without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// serviceOn returns a service of cfg whose clock is c.
func (e *env) serviceOn(cfg tokens.Config, c *clock) *handlers.Service {
	o := e.options(cfg)
	o.Clock = c.Now
	return handlers.New(o)
}

// marksTable is the warnings' marks table of every env.
const marksTable = "lmtokens-marks"

// marks is the env's marks table, on its local DynamoDB.
func (e *env) marks() *marktable.Table {
	return marktable.New(e.db.URL, awsenv.Env{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")}, marksTable)
}

// emitter puts events on the env's local EventBridge through the real SDK.
func (e *env) emitter() *lifecycle.Emitter {
	api := awsevents.NewClient(e.eb.URL, "us-east-1", credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""))
	return &lifecycle.Emitter{API: api, Bus: testBus, Log: e.logger(), Timeout: 2 * time.Second}
}

const testBus = "lmtokens-test"

// events returns the events the env's EventBridge accepted, each checked
// against its schema and for keys.
func (e *env) events(t *testing.T) []localevents.Event {
	t.Helper()
	evs := e.eb.Events()
	secretsSeen.Lock()
	keys := append([]string(nil), secretsSeen.keys...)
	secretsSeen.Unlock()
	for _, tok := range e.portal.Tokens() {
		keys = append(keys, tok.AccessKey)
	}
	scan := newKeyScanner(keys)
	for _, ev := range evs {
		if ev.Source != lifecycle.Source || ev.Bus != testBus {
			t.Fatalf("event from %q on %q", ev.Source, ev.Bus)
		}
		validateEvent(t, ev.DetailType, ev.Detail)
		if _, found := scan.find(string(ev.Detail)); found {
			t.Fatalf("a key is in an event: %s", ev.DetailType)
		}
	}
	return evs
}

func (e *env) logger() *slog.Logger { return logging.New(allLogs) }

var requestSeq atomic.Int64

// invoke runs fn's handler on an event, as Lambda would, with a request id.
func (e *env) invoke(fn string, event any) (any, error) {
	return e.invokeWith(e.svc, fn, event)
}

func (e *env) invokeWith(svc *handlers.Service, fn string, event any) (any, error) {
	e.t.Helper()
	raw, ok := event.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(event); err != nil {
			e.t.Fatal(err)
		}
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("req-%d", requestSeq.Add(1))})
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := svc.Handler(fn)(ctx, raw)
	// What Lambda would send back must be JSON.
	if err == nil {
		if _, jerr := json.Marshal(out); jerr != nil {
			e.t.Fatalf("answer is not JSON: %v", jerr)
		}
	}
	return out, err
}

// httpResp is an HTTP answer, whatever its API Gateway shape.
type httpResp struct {
	Status  int
	Headers map[string]string
	Body    map[string]any
	Raw     string
}

// into decodes the body into the contract's output type, refusing any field
// the type does not have: a change of the answer's shape fails here.
func (r httpResp) into(t testing.TB, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer %d does not decode into %T: %v: %s", r.Status, v, err, r.Raw)
	}
}

func asHTTP(t testing.TB, out any, err error) httpResp {
	t.Helper()
	if err != nil {
		t.Fatalf("an HTTP invocation returned a function error: %v", err)
	}
	r, ok := envelope(out)
	if !ok {
		t.Fatalf("not an API Gateway response: %T %v", out, out)
	}
	if r.Headers["Content-Type"] != "application/json" {
		t.Fatalf("Content-Type %q", r.Headers["Content-Type"])
	}
	if r.Raw != "" {
		if err := json.Unmarshal([]byte(r.Raw), &r.Body); err != nil {
			t.Fatalf("body is not a JSON object: %s", r.Raw)
		}
	}
	if strings.Contains(r.Raw, `"accessKey":`) {
		t.Fatalf("an HTTP answer carries accessKey: %s", r.Raw)
	}
	return r
}

// envelope reads an API Gateway answer as Lambda returns it (the handler
// hands back its JSON); ok is false for anything else.
func envelope(out any) (httpResp, bool) {
	raw, isRaw := out.(json.RawMessage)
	if !isRaw {
		b, err := json.Marshal(out)
		if err != nil {
			return httpResp{}, false
		}
		raw = b
	}
	var env struct {
		StatusCode *int              `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if json.Unmarshal(raw, &env) != nil || env.StatusCode == nil {
		return httpResp{}, false
	}
	return httpResp{Status: *env.StatusCode, Headers: env.Headers, Raw: env.Body}, true
}

// rest builds an API Gateway REST (payload 1.0) event.
func rest(method, resource string, params map[string]string, query map[string]string, body string, headers map[string]string) events.APIGatewayProxyRequest {
	path := resource
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return events.APIGatewayProxyRequest{
		HTTPMethod: method, Resource: resource, Path: path, PathParameters: params,
		QueryStringParameters: query, Body: body, Headers: headers,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "apigw-1", Stage: "prod", ResourcePath: resource, HTTPMethod: method},
	}
}

// httpAPI builds an API Gateway HTTP API (payload 2.0) event.
func httpAPI(method, route string, params map[string]string, rawQuery string, body string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	path := route
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	e := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + route, RawPath: path, RawQueryString: rawQuery,
		PathParameters: params, Body: body, Headers: headers,
	}
	e.RequestContext.HTTP.Method = method
	e.RequestContext.HTTP.Path = path
	e.RequestContext.RequestID = "apigw-2"
	return e
}

func ids(admin, token int64) map[string]string {
	m := map[string]string{"adminId": fmt.Sprint(admin)}
	if token != 0 {
		m["tokenId"] = fmt.Sprint(token)
	}
	return m
}

// fnError asserts a direct invocation failed with errorType.
func fnError(t *testing.T, err error, errorType, contains string) {
	t.Helper()
	var ie messages.InvokeResponse_Error
	if e, ok := err.(messages.InvokeResponse_Error); ok {
		ie = e
	} else {
		t.Fatalf("want a %s function error, got %v", errorType, err)
	}
	if ie.Type != errorType || !strings.Contains(ie.Message, contains) {
		t.Fatalf("want %s containing %q, got %s: %s", errorType, contains, ie.Type, ie.Message)
	}
}

func (e *env) mutations() int {
	return e.portal.CountRequests(http.MethodPost) + e.portal.CountRequests(http.MethodPut) + e.portal.CountRequests(http.MethodDelete) + e.portal.CountRequests(http.MethodPatch)
}

func (e *env) seed(spec lmsandbox.TokenSpec) lmsandbox.Token {
	e.t.Helper()
	tok, err := e.portal.AddToken(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not an object: %s", b)
	}
	return m
}

func (e *env) http(fn string, event any) httpResp {
	e.t.Helper()
	return e.httpWith(e.svc, fn, event)
}

func (e *env) httpWith(svc *handlers.Service, fn string, event any) httpResp {
	e.t.Helper()
	out, err := e.invokeWith(svc, fn, event)
	r := asHTTP(e.t, out, err)
	checkAgainstAPI(e.t, event, r)
	return r
}

// with returns the env reporting to t (a fuzz target's own T).
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// storeKey stores a seeded token's key as lmtokens would have: its secret
// named for it, its value the key, tagged as create tags it.
func (e *env) storeKey(tok lmsandbox.Token) string {
	e.t.Helper()
	name := fmt.Sprintf("logicmonitor/api-tokens/%d/%d", tok.AdminID, tok.ID)
	value, _ := json.Marshal(secrets.StoredKey{Company: "acme", AccessID: tok.AccessID, AccessKey: tok.AccessKey, AdminID: tok.AdminID,
		TokenID: tok.ID, Type: tok.Type, Note: tok.Note, CreatedOn: tok.CreatedOn})
	e.sm.PutTagged(name, string(value), map[string]string{secrets.TagManagedBy: secrets.ManagedBy, secrets.TagAdminID: fmt.Sprint(tok.AdminID),
		secrets.TagTokenID: fmt.Sprint(tok.ID), secrets.TagAccessID: tok.AccessID, secrets.TagType: tok.Type})
	return name
}
