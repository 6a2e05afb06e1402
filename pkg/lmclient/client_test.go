package lmclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

const operatorKey = "H_D9i(f5~B^U36^K6i42=^nS~e75gy382Bf6{)P+"

// portal starts a sandbox with user 1 (the operator, whose token the client
// signs with) and user 2, and returns a client for it.
func portal(t *testing.T, cfg lmsandbox.Config) (*lmsandbox.Server, *lmclient.Client) {
	t.Helper()
	srv := lmsandbox.NewServer(cfg)
	t.Cleanup(srv.Close)
	srv.AddAdmin(lmsandbox.Admin{ID: 1, Username: "ops@example.com", Roles: []string{"administrator"}})
	srv.AddAdmin(lmsandbox.Admin{ID: 2, Username: "ci@example.com"})
	if _, err := srv.AddToken(lmsandbox.TokenSpec{AdminID: 1, AccessID: "OperatorAccessId0001", AccessKey: operatorKey, Note: "lmtokens"}); err != nil {
		t.Fatal(err)
	}
	return srv, client(t, srv, "OperatorAccessId0001", operatorKey, nil)
}

func client(t *testing.T, srv *lmsandbox.Server, id, key string, hc *http.Client) *lmclient.Client {
	t.Helper()
	auth, err := lmauth.NewLMv1(id, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := lmclient.New(lmclient.Options{BaseURL: srv.URL, Auth: auth, HTTPClient: hc, RetryBase: 5 * time.Millisecond, RetryCap: 20 * time.Millisecond, AllowHTTPLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seed(t *testing.T, srv *lmsandbox.Server, n int, spec lmsandbox.TokenSpec) {
	t.Helper()
	for i := 0; i < n; i++ {
		s := spec
		if s.Note == "" {
			s.Note = fmt.Sprintf("token %d", i)
		}
		if _, err := srv.AddToken(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompanyValidatedAsDNSLabel(t *testing.T) {
	auth, _ := lmauth.NewBearer("lmb_xxxxxxxxxxxxxxxxxxxxxxxx")
	for _, bad := range []string{"", "evil.com/", "a b", "-x", "x-", "acme.evil", strings.Repeat("a", 64), "a@b"} {
		if _, err := lmclient.New(lmclient.Options{Company: bad, Auth: auth}); err == nil {
			t.Errorf("company %q accepted", bad)
		}
	}
	c, err := lmclient.New(lmclient.Options{Company: "Acme-1", Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "https://acme-1.logicmonitor.com/santaba/rest" {
		t.Fatalf("base URL %s", got)
	}
	if _, err := lmclient.New(lmclient.Options{BaseURL: "https://user:pw@x.example/santaba/rest", Auth: auth}); err == nil {
		t.Fatal("base URL with credentials accepted")
	}
}

func TestListAllPaginatesBothTypes(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	seed(t, srv, 2499, lmsandbox.TokenSpec{AdminID: 2})
	seed(t, srv, 7, lmsandbox.TokenSpec{AdminID: 2, Type: "bearer"})
	srv.ResetRequests()

	all, err := c.Tokens.ListAll(context.Background(), logicmonitor.ListAllOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2500+7 {
		t.Fatalf("got %d tokens, want 2507", len(all))
	}
	seen := map[int64]bool{}
	bearer := 0
	for _, tok := range all {
		if seen[tok.ID] {
			t.Fatalf("token %d listed twice", tok.ID)
		}
		seen[tok.ID] = true
		if tok.Type == logicmonitor.TypeBearer {
			bearer++
		}
	}
	if bearer != 7 {
		t.Fatalf("%d bearer tokens, want 7", bearer)
	}
	// 3 pages of LMv1 tokens and 1 of bearer tokens, nothing more.
	if n := srv.CountRequests(http.MethodGet); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	for _, r := range srv.Requests() {
		if !strings.Contains(r.Query, "size=1000") {
			t.Fatalf("page not of 1000: %s", r.Query)
		}
	}
}

// inflight wraps a transport and records the most requests in flight at once.
type inflight struct {
	next     http.RoundTripper
	cur, max atomic.Int32
}

func (f *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	n := f.cur.Add(1)
	defer f.cur.Add(-1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			break
		}
	}
	return f.next.RoundTrip(r)
}

func TestListAllFetchesLaterPagesConcurrentlyWithABound(t *testing.T) {
	srv, _ := portal(t, lmsandbox.Config{Latency: 30 * time.Millisecond})
	seed(t, srv, 8000, lmsandbox.TokenSpec{AdminID: 2})
	tr := &inflight{next: http.DefaultTransport}
	c := client(t, srv, "OperatorAccessId0001", operatorKey, &http.Client{Transport: tr})
	all, err := c.Tokens.ListAll(context.Background(), logicmonitor.ListAllOptions{Types: []string{logicmonitor.TypeLMv1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 8001 {
		t.Fatalf("got %d", len(all))
	}
	if m := tr.max.Load(); m < 2 || m > 4 {
		t.Fatalf("at most %d pages in flight, want 2..4", m)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatal("pages not assembled in order")
		}
	}
}

func TestListFilterFieldsAndOneUser(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	seed(t, srv, 3, lmsandbox.TokenSpec{AdminID: 2, Note: "ci pipeline", Status: 1})
	seed(t, srv, 2, lmsandbox.TokenSpec{AdminID: 2, Note: "grafana"})
	ctx := context.Background()

	l, err := c.Tokens.List(ctx, 2, logicmonitor.ListOptions{Filter: `note~"ci",status:1`})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 3 || len(l.Items) != 3 {
		t.Fatalf("filter gave %d/%d, want 3", l.Total, len(l.Items))
	}
	l, err = c.Tokens.List(ctx, 0, logicmonitor.ListOptions{Filter: `note:"grafana"|"lmtokens"`, Fields: "id,note", Size: 1, Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 3 || len(l.Items) != 1 || l.Items[0].Note != "grafana" || l.Items[0].AccessID != "" {
		t.Fatalf("OR filter, fields and paging: %+v", l)
	}
	if _, err := c.Tokens.List(ctx, 99, logicmonitor.ListOptions{}); !logicmonitor.IsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := c.Tokens.List(ctx, 0, logicmonitor.ListOptions{Size: 1001}); err == nil {
		t.Fatal("size 1001 accepted")
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	ctx := context.Background()
	tok, err := c.Tokens.Create(ctx, 2, logicmonitor.CreateOptions{Note: "pipeline", Type: logicmonitor.TypeBearer})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := srv.Token(tok.ID)
	if tok.AccessKey == "" || tok.AccessKey != stored.AccessKey || tok.Type != "bearer" || tok.AdminID != 2 {
		t.Fatalf("created %+v, stored %+v", tok, stored)
	}
	if strings.Contains(tok.String(), tok.AccessKey) {
		t.Fatal("String() printed the key")
	}

	// A note-only update keeps the status: the client sends both.
	disabled := logicmonitor.StatusDisabled
	up, err := c.Tokens.Update(ctx, 2, tok.ID, logicmonitor.UpdateOptions{Status: &disabled})
	if err != nil || up.Status != 1 || up.Note != "pipeline" {
		t.Fatalf("disable: %+v %v", up, err)
	}
	note := "renamed"
	up, err = c.Tokens.Update(ctx, 2, tok.ID, logicmonitor.UpdateOptions{Note: &note})
	if err != nil || up.Status != 1 || up.Note != "renamed" {
		t.Fatalf("note update re-enabled or lost data: %+v %v", up, err)
	}

	if err := c.Tokens.Delete(ctx, 2, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Token(tok.ID); ok {
		t.Fatal("token still there")
	}
	err = c.Tokens.Delete(ctx, 2, tok.ID)
	var lmErr *logicmonitor.Error
	if !errors.As(err, &lmErr) || lmErr.Kind != logicmonitor.KindNotFound || lmErr.Code != 1404 || lmErr.Message == "" {
		t.Fatalf("deleting twice: %#v", err)
	}
	if _, err := c.Tokens.Update(ctx, 2, 12345, logicmonitor.UpdateOptions{Status: &disabled, Note: &note}); !logicmonitor.IsNotFound(err) {
		t.Fatalf("update unknown: %v", err)
	}
}

func TestWrongKeyIsUnauthorizedWithoutRetries(t *testing.T) {
	srv, _ := portal(t, lmsandbox.Config{})
	bad := client(t, srv, "OperatorAccessId0001", "not-the-key", nil)
	srv.ResetRequests()
	_, err := bad.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{})
	if !logicmonitor.IsUnauthorized(err) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "not-the-key") || strings.Contains(err.Error(), operatorKey) {
		t.Fatalf("error names the key: %v", err)
	}
	if n := srv.CountRequests(""); n != 1 {
		t.Fatalf("%d requests for a rejected key, want 1", n)
	}
}

func TestBearerCredentials(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	tok, err := c.Tokens.Create(context.Background(), 1, logicmonitor.CreateOptions{Type: "bearer"})
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := lmauth.NewBearer(tok.AccessKey)
	bc, _ := lmclient.New(lmclient.Options{BaseURL: srv.URL, Auth: auth, AllowHTTPLoopback: true})
	if _, err := bc.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestThrottledThenSuccess(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	srv.Inject(lmsandbox.Fault{Status: 429, RetryAfter: time.Second})
	srv.ResetRequests()
	start := time.Now()
	if _, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := srv.CountRequests(""); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if time.Since(start) < time.Second {
		t.Fatal("retried before Retry-After")
	}
	// A create refused with 429 was not processed: retried, exactly one token.
	srv.Inject(lmsandbox.Fault{Status: 429, Method: "POST", RetryAfter: 0})
	before := len(srv.Tokens())
	if _, err := c.Tokens.Create(context.Background(), 2, logicmonitor.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Tokens()) - before; got != 1 {
		t.Fatalf("%d tokens made", got)
	}
}

func TestServerErrorsRetriedForGetNotPost(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	ctx := context.Background()
	srv.Inject(lmsandbox.Fault{Status: 503})
	srv.Inject(lmsandbox.Fault{Drop: true})
	srv.ResetRequests()
	if _, err := c.Tokens.List(ctx, 0, logicmonitor.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := srv.CountRequests("GET"); n != 3 {
		t.Fatalf("%d GETs, want 3 (503, dropped, ok)", n)
	}
	// Our retry is signed afresh. (net/http itself may replay a GET whose
	// reused connection dropped before any answer, with the same headers.)
	reqs := srv.Requests()
	if first, last := reqs[0].Epoch, reqs[len(reqs)-1].Epoch; first == 0 || last <= first {
		t.Fatalf("epochs %d then %d: the retry was not signed afresh", first, last)
	}

	srv.Inject(lmsandbox.Fault{Status: 500, Method: "POST", AfterProcessing: true})
	srv.ResetRequests()
	before := len(srv.Tokens())
	_, err := c.Tokens.Create(ctx, 2, logicmonitor.CreateOptions{})
	if k, _ := logicmonitor.KindOf(err); k != logicmonitor.KindUpstream {
		t.Fatalf("create after 500: %v", err)
	}
	if n := srv.CountRequests("POST"); n != 1 {
		t.Fatalf("POST sent %d times after a 500", n)
	}
	if got := len(srv.Tokens()) - before; got != 1 {
		t.Fatalf("%d tokens made, want the one the portal made before failing", got)
	}
	srv.Inject(lmsandbox.Fault{Drop: true, Method: "POST"})
	if _, err := c.Tokens.Create(ctx, 2, logicmonitor.CreateOptions{}); err == nil {
		t.Fatal("dropped create reported success")
	}
	if n := srv.CountRequests("POST"); n != 2 {
		t.Fatalf("POST retried after a dropped connection: %d", n)
	}
}

func TestRetriesStopAtContextDeadline(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	srv.Inject(lmsandbox.Fault{Status: 429, Count: 10, RetryAfter: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Tokens.List(ctx, 0, logicmonitor.ListOptions{})
	if k, _ := logicmonitor.KindOf(err); k != logicmonitor.KindRateLimited {
		t.Fatalf("got %v", err)
	}
	var e *logicmonitor.Error
	if errors.As(err, &e); e.RetryAfter != 5*time.Second {
		t.Fatalf("retry-after %v", e.RetryAfter)
	}
	if time.Since(start) > time.Second {
		t.Fatal("waited past the deadline")
	}
}

// stripVersion loses X-Version on the way, as a misconfigured proxy would.
type stripVersion struct{}

func (stripVersion) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("X-Version")
	return http.DefaultTransport.RoundTrip(r)
}

func TestV1EnvelopeCaught(t *testing.T) {
	srv, _ := portal(t, lmsandbox.Config{})
	c := client(t, srv, "OperatorAccessId0001", operatorKey, &http.Client{Transport: stripVersion{}})
	_, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "v1 envelope") {
		t.Fatalf("got %v", err)
	}
	// Even an error in the v1 envelope (HTTP 200) is caught.
	_, err = c.Tokens.List(context.Background(), 77, logicmonitor.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "v1 envelope") {
		t.Fatalf("got %v", err)
	}
}

// A request the portal counts late (held up on its way in, by a busy host
// or network) must not make the next window's first request look early to
// the portal: the pacer counts each request from its answer's arrival,
// the latest moment the portal can have counted it.
func TestPacingCountsRequestsFromTheirAnswers(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{RateLimit: 1, RateWindow: time.Second})
	for i := 0; i < 3; i++ {
		if i%2 == 0 {
			srv.Inject(lmsandbox.Fault{Method: http.MethodGet, Latency: 300 * time.Millisecond})
		}
		if _, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Fatal("a request the portal counted late made the next one a 429")
		}
	}
}

func TestPacingAvoids429(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{RateLimit: 10, RateWindow: time.Second})
	srv.ResetRequests()
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{Size: 1})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	throttled := 0
	for _, r := range srv.Requests() {
		if r.Status == 429 {
			throttled++
		}
	}
	if throttled > 1 {
		t.Fatalf("%d responses were 429; the pacer should keep under the limit", throttled)
	}
	r := c.Rate()
	if r.Limit != 10 || r.Window != time.Second {
		t.Fatalf("rate state %+v", r)
	}
}

func TestGetFindsATokenWhenThePortalIgnoresTheFilter(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{IgnoreFilterOn: []string{"id"}})
	seed(t, srv, 1500, lmsandbox.TokenSpec{AdminID: 2})
	want := srv.Tokens()[1400]
	got, err := c.Tokens.Get(context.Background(), 2, want.ID)
	if err != nil || got.ID != want.ID || got.AccessID != want.AccessID {
		t.Fatalf("got %+v %v", got, err)
	}
	if _, err := c.Tokens.Get(context.Background(), 2, 99999); !logicmonitor.IsNotFound(err) {
		t.Fatalf("missing token: %v", err)
	}
}

func TestResponseBodiesAreSizeLimited(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"total":1,"items":[{"id":1,"note":"`))
		chunk := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i < 9; i++ {
			w.Write(chunk)
		}
		w.Write([]byte(`"}]}`))
	}))
	defer huge.Close()
	auth, _ := lmauth.NewLMv1("id", "key")
	c, _ := lmclient.New(lmclient.Options{BaseURL: huge.URL + "/santaba/rest", Auth: auth, MaxRetries: -1, AllowHTTPLoopback: true})
	_, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("a 9 MiB answer was accepted: %v", err)
	}
}

// A dropped connection on a fresh connection (which net/http does not replay
// by itself) is retried by the client for a GET, signed afresh.
func TestDroppedConnectionRetriedForGet(t *testing.T) {
	srv, _ := portal(t, lmsandbox.Config{})
	c := client(t, srv, "OperatorAccessId0001", operatorKey, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	srv.Inject(lmsandbox.Fault{Drop: true})
	srv.ResetRequests()
	if _, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Status != 0 || reqs[1].Status != 200 || reqs[1].Epoch <= reqs[0].Epoch {
		t.Fatalf("requests %+v", reqs)
	}
}

// A first page claiming an absurd total is refused before any further page
// is fetched: requests and memory stay bounded whatever a portal says.
func TestListAllRefusesAnAbsurdTotal(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	srv.Inject(lmsandbox.Fault{Method: "GET", Count: 2, Body: `{"total": 100000000, "searchId": null, "items": []}`})
	_, err := c.Tokens.ListAll(context.Background(), logicmonitor.ListAllOptions{})
	var tooMany *logicmonitor.TooManyError
	if !errors.As(err, &tooMany) || tooMany.Total < 100000000 {
		t.Fatalf("got %v", err)
	}
	if n := srv.CountRequests("GET"); n > 2 {
		t.Fatalf("%d requests for a refused listing", n)
	}
	// A caller's own, smaller bound holds the same way.
	srv.ClearFaults()
	seed(t, srv, 30, lmsandbox.TokenSpec{AdminID: 2})
	if _, err := c.Tokens.ListAll(context.Background(), logicmonitor.ListAllOptions{MaxTokens: 10}); !errors.As(err, &tooMany) {
		t.Fatalf("bound of 10: %v", err)
	}
}

// A deadline in the middle of paging is an error, never a shorter list.
func TestListAllNeverReturnsAPartialList(t *testing.T) {
	srv, _ := portal(t, lmsandbox.Config{})
	seed(t, srv, 3500, lmsandbox.TokenSpec{AdminID: 2})
	slow := &slowAfterFirst{next: http.DefaultTransport}
	c := client(t, srv, "OperatorAccessId0001", operatorKey, &http.Client{Transport: slow})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	items, err := c.Tokens.ListAll(ctx, logicmonitor.ListAllOptions{Concurrency: 1})
	var incomplete *logicmonitor.IncompleteError
	if !errors.As(err, &incomplete) || items != nil || incomplete.Total < 3500 {
		t.Fatalf("got %d items, %v", len(items), err)
	}
}

// slowAfterFirst lets the first two requests (each type's first page) pass
// and holds every later one until its context ends.
type slowAfterFirst struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (s *slowAfterFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.n.Add(1) > 2 {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return s.next.RoundTrip(r)
}

// LogicMonitor's error object is an error whatever status carries it.
func TestErrorEnvelopeUnderSuccessStatus(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	tok, _ := srv.AddToken(lmsandbox.TokenSpec{AdminID: 2})
	srv.Inject(lmsandbox.Fault{Method: "DELETE", Status: 200, Body: `{"errorMessage":"ApiToken not found","errorCode":1404,"errorDetail":null}`})
	if err := c.Tokens.Delete(context.Background(), 2, tok.ID); !logicmonitor.IsNotFound(err) {
		t.Fatalf("got %v", err)
	}
	srv.Inject(lmsandbox.Fault{Method: "DELETE", Status: 200, Body: `{"errorMessage":"Internal error","errorCode":1500}`})
	if err := c.Tokens.Delete(context.Background(), 2, tok.ID); err == nil || !strings.Contains(err.Error(), "Internal error") {
		t.Fatalf("got %v", err)
	}
	if _, ok := srv.Token(tok.ID); !ok {
		t.Fatal("token gone")
	}
}

// Which failures leave open whether a POST made a token.
func TestIndeterminateCreates(t *testing.T) {
	for name, c := range map[string]struct {
		fault lmsandbox.Fault
		want  bool
	}{
		"dropped after processing": {lmsandbox.Fault{Drop: true, AfterProcessing: true}, true},
		"502":                      {lmsandbox.Fault{Status: 502}, true},
		"HTML 200":                 {lmsandbox.Fault{Body: "<html>", AfterProcessing: true}, true},
		"400":                      {lmsandbox.Fault{Status: 400}, false},
		"403":                      {lmsandbox.Fault{Status: 403}, false},
	} {
		t.Run(name, func(t *testing.T) {
			srv, cl := portal(t, lmsandbox.Config{})
			c.fault.Method = "POST"
			srv.Inject(c.fault)
			_, err := cl.Tokens.Create(context.Background(), 2, logicmonitor.CreateOptions{})
			if err == nil || logicmonitor.IsIndeterminate(err) != c.want {
				t.Fatalf("err %v, indeterminate %v", err, logicmonitor.IsIndeterminate(err))
			}
		})
	}
	// A connection that was never made sent nothing.
	auth, _ := lmauth.NewLMv1("id", "key")
	cl, _ := lmclient.New(lmclient.Options{BaseURL: "http://127.0.0.1:1/santaba/rest", Auth: auth, AllowHTTPLoopback: true})
	if _, err := cl.Tokens.Create(context.Background(), 2, logicmonitor.CreateOptions{}); err == nil || logicmonitor.IsIndeterminate(err) {
		t.Fatalf("refused connection: %v", err)
	}
}
