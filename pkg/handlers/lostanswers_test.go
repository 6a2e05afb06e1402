package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// ledger counts what a test's creates left behind in the portal and in
// Secrets Manager: tokens of a user made after it was opened, those whose
// key is stored in a live secret, and orphans (a token whose key is stored
// nowhere).
type ledger struct {
	e      *env
	admin  int64
	lastID int64
}

func (e *env) ledger(admin int64) *ledger {
	l := &ledger{e: e, admin: admin}
	for _, t := range e.portal.Tokens() {
		l.lastID = max(l.lastID, t.ID)
	}
	return l
}

// count returns the tokens made since the ledger was opened and how many of
// them are orphans.
func (l *ledger) count() (made, orphans int) {
	for _, t := range l.e.portal.Tokens() {
		if t.ID <= l.lastID || t.AdminID != l.admin {
			continue
		}
		made++
		sec, ok := l.e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/%d/%d", l.admin, t.ID))
		if !ok || !sec.DeletedDate.IsZero() || !strings.Contains(sec.Value, t.AccessKey) {
			orphans++
		}
	}
	return made, orphans
}

func (l *ledger) want(t *testing.T, made, orphans int) {
	t.Helper()
	m, o := l.count()
	if m != made || o != orphans {
		t.Fatalf("%d tokens made (want %d), %d orphaned (want %d)", m, made, o, orphans)
	}
}

// retryMakesOne retries a create and expects its token: the only one made
// since the ledger opened, with its key stored.
func (l *ledger) retryMakesOne(t *testing.T, req any) {
	t.Helper()
	if r := l.e.http(handlers.Create, req); r.Status != 201 {
		t.Fatalf("retry: %d %s", r.Status, r.Raw)
	}
	l.want(t, 1, 0)
}

// The POST's answer is lost after LogicMonitor made the token, in every way
// an answer can be lost. Each time the token is found and deleted, the answer
// says nothing was kept, and a retry with the same key makes exactly one.
// Requests without a key run in process; those with a key run the real
// create binary through the Runtime API.
func TestLostCreateAnswersOrphanNothing(t *testing.T) {
	t.Parallel()
	cases := map[string]lmsandbox.Fault{
		"dropped after processing":     {Drop: true, AfterProcessing: true},
		"500 after processing":         {Status: 500, AfterProcessing: true},
		"502 after processing":         {Status: 502, AfterProcessing: true},
		"503 after processing":         {Status: 503, AfterProcessing: true},
		"504 HTML after processing":    {Status: 504, AfterProcessing: true, Body: "<html><body>Gateway Timeout</body></html>"},
		"200 HTML after processing":    {AfterProcessing: true, Body: "<html>maintenance</html>"},
		"200 truncated JSON":           {AfterProcessing: true, Body: `{"id": 12, "accessId": "AB`},
		"200 error envelope":           {AfterProcessing: true, Status: 200, Body: `{"errorMessage":"Internal Server Error","errorCode":1500}`},
		"200 empty body":               {AfterProcessing: true, Status: 200, Body: " "},
		"stalled body":                 {AfterProcessing: true, StallAfter: 20, Stall: 12 * time.Second},
		"500 before processing":        {Status: 500},
		"dropped before processing":    {Drop: true},
		"answer slower than timeout":   {AfterProcessing: true, Latency: 9 * time.Second},
		"500 HTML before processing":   {Status: 500, Body: "<html>oops</html>"},
		"200 error 1500 not processed": {Status: 200, Body: `{"errorMessage":"busy","errorCode":1503}`},
	}
	for name, fault := range cases {
		for _, key := range []string{"", "key-" + strings.ReplaceAll(name, " ", "-")} {
			t.Run(fmt.Sprintf("%s/key=%v", name, key != ""), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, lmsandbox.Config{})
				var call func(event any) httpResp
				if key == "" {
					// In process, with a short HTTP timeout.
					svc := handlers.New(handlers.Options{Config: e.cfg, SecretsAPI: awssecrets.New(e.api), Logger: e.logger(), HTTPClient: &http.Client{Timeout: 2 * time.Second}})
					call = func(ev any) httpResp { return e.httpWith(svc, handlers.Create, ev) }
				} else {
					// The real binary, whose invocation deadline ends the wait
					// (its work stops 3.3 s before it, which leaves the
					// reconciliation its time on a loaded machine).
					f := e.startBinaryTimeout(t, "create", 10*time.Second)
					call = func(ev any) httpResp { return binaryHTTP(t, f, ev) }
				}
				l := e.ledger(2)
				f := fault
				f.Method = http.MethodPost
				e.portal.Inject(f)
				hdr := map[string]string{}
				if key != "" {
					hdr["Idempotency-Key"] = key
				}
				req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"deploy"}`, hdr)
				r := call(req)
				if r.Status != 502 || !strings.Contains(r.Raw, "nothing was kept; retrying is safe") {
					t.Fatalf("first answer: %d %s", r.Status, r.Raw)
				}
				l.want(t, 0, 0)
				if key == "" {
					return
				}
				r = call(req)
				if r.Status != 201 {
					t.Fatalf("retry: %d %s", r.Status, r.Raw)
				}
				again := call(req)
				if again.Status != 201 || again.Body["id"] != r.Body["id"] {
					t.Fatalf("second retry: %d %s", again.Status, again.Raw)
				}
				l.want(t, 1, 0)
			})
		}
	}
}

// Another token of the same user with the same note appeared at the same
// time: lmtokens cannot tell which one its lost POST made, deletes neither,
// names both, and a retry with the key repeats that answer without posting.
func TestLostCreateWithLookalikeIsReportedNotGuessed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	lookalike := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "deploy"})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodPost, Status: 502, AfterProcessing: true})
	hdr := map[string]string{"Idempotency-Key": "twins"}
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"deploy"}`, hdr)
	r := e.http(handlers.Create, req)
	made := e.portal.Tokens()[len(e.portal.Tokens())-1]
	want := fmt.Sprintf("[%d %d]", lookalike.ID, made.ID)
	if r.Status != 502 || !strings.Contains(r.Raw, want) || !strings.Contains(r.Raw, "cannot tell which") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if _, ok := e.portal.Token(lookalike.ID); !ok {
		t.Fatal("a token lmtokens did not make was deleted")
	}
	posts := e.portal.CountRequests(http.MethodPost)
	again := e.http(handlers.Create, req)
	if again.Raw != r.Raw || e.portal.CountRequests(http.MethodPost) != posts {
		t.Fatalf("retry: %d %s", again.Status, again.Raw)
	}
}

// The POST's answer is lost and so is the check: the claim remembers what
// must be checked, and the retry finishes the check before it creates.
func TestLostCreateWhoseCheckFailsIsFinishedByTheRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	l := e.ledger(2)
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodPost, Drop: true, AfterProcessing: true})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "apitokens", Status: 500, Count: 20})
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"x"}`, map[string]string{"Idempotency-Key": "unsure"})
	r := e.http(handlers.Create, req)
	if r.Status != 502 || !strings.Contains(r.Raw, "retry with the same Idempotency-Key") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	e.portal.ClearFaults()
	l.retryMakesOne(t, req)

	// Without a key the answer tells the user exactly what to look for.
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodPost, Drop: true, AfterProcessing: true})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "apitokens", Status: 500, Count: 20})
	r = e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"y"}`, nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "look for a token of user 2") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
}

// Nothing reached LogicMonitor (the credentials could not be read): the
// idempotency key stays free and the retry creates.
func TestKeyStaysFreeWhenNothingWasMade(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]localsecrets.Failure{
		"throttled": {Type: "ThrottlingException", Status: 400},
		"500":       {Type: "InternalServiceError"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lmsandbox.Config{})
			l := e.ledger(2)
			e.sm.Fail("GetSecretValue", 3, f) // through the SDK's own three attempts
			req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "free"})
			r := e.http(handlers.Create, req)
			if r.Status < 500 || e.portal.CountRequests("") != 0 {
				t.Fatalf("%d %s, %d LogicMonitor requests", r.Status, r.Raw, e.portal.CountRequests(""))
			}
			l.retryMakesOne(t, req)
		})
	}
}

// The key's store fails, the token is deleted again, and the retry with the
// key creates anew; with the rollback failing too, the retry deletes the
// leftover before it creates.
func TestRollbackThenRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	l := e.ledger(2)
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "store-fails"})
	e.sm.Fail("CreateSecret", 1, localsecrets.Failure{Type: "AccessDeniedException", Match: "api-tokens/2/"})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodDelete, Status: 500, Count: 10})
	r := e.http(handlers.Create, req)
	if r.Status != 502 || !strings.Contains(r.Raw, "retry with the same Idempotency-Key, which deletes it") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	l.want(t, 1, 1) // the one the message names
	e.portal.ClearFaults()
	l.retryMakesOne(t, req)
}

// An idempotency key whose token was deleted is retired: the same body gets
// 410 Gone, another body 422, even while its record is pending deletion.
func TestReusedKeyAfterDeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	hdr := map[string]string{"Idempotency-Key": "retire-me"}
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"a"}`, hdr))
	id := int64(r.Body["id"].(float64))
	if d := e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil)); d.Status != 200 {
		t.Fatalf("delete: %d %s", d.Status, d.Raw)
	}
	if r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"a"}`, hdr)); r.Status != 410 {
		t.Fatalf("same body: %d %s", r.Status, r.Raw)
	}
	if r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"b"}`, hdr)); r.Status != 422 {
		t.Fatalf("other body: %d %s", r.Status, r.Raw)
	}
}

// The claim's deletion is throttled after the token was deleted: the delete
// says to retry, the retry finishes (200, alreadyGone), and the key is
// retired instead of replaying 201 for a token that is gone.
func TestThrottledClaimDeletionIsFinishedByRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	hdr := map[string]string{"Idempotency-Key": "throttled-claim"}
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, hdr)
	id := int64(e.http(handlers.Create, req).Body["id"].(float64))
	e.sm.Fail("DeleteSecret", 3, localsecrets.Failure{Type: "ThrottlingException", Status: 400, Match: "idempotency/"})
	del := rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil)
	if r := e.http(handlers.Delete, del); r.Status != 502 || !strings.Contains(r.Raw, "retry the delete") {
		t.Fatalf("first delete: %d %s", r.Status, r.Raw)
	}
	if r := e.http(handlers.Delete, del); r.Status != 200 || r.Body["alreadyGone"] != true {
		t.Fatalf("retried delete: %d %s", r.Status, r.Raw)
	}
	if r := e.http(handlers.Create, req); r.Status != 410 {
		t.Fatalf("replay after deletion: %d %s", r.Status, r.Raw)
	}
	e.noLiveSecrets(t, "logicmonitor/api-tokens/2/")
}

// A DELETE answered 200 with LogicMonitor's error object did not delete the
// token: the function says so and leaves the key's secret alone.
func TestDeleteAnsweredWithErrorEnvelopeIsNotSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	id := int64(e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil)).Body["id"].(float64))
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodDelete, Status: 200, Body: `{"errorMessage":"Internal error","errorCode":1500,"errorDetail":null}`})
	r := e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil))
	if r.Status != 502 || r.Body["deleted"] != nil || !strings.Contains(r.Raw, "Internal error") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if tok, ok := e.portal.Token(id); !ok || tok.Status != 2 {
		t.Fatal("the token is gone")
	}
	if sec, _ := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/2/%d", id)); !sec.DeletedDate.IsZero() {
		t.Fatal("the key's secret was scheduled for deletion although the token stays")
	}
}

// Secrets Manager's reads lag its writes: a delete right after the create
// still schedules the key's secret (and its claim) for deletion.
func TestCreateThenDeleteUnderReadLag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil)) // the credentials are cached
	e.sm.SetLag(time.Second)
	id := int64(e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "lag"})).Body["id"].(float64))
	if r := e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil)); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	e.noLiveSecrets(t, "logicmonitor/")
}

// A 429 whose Retry-After cannot fit the invocation is answered at once with
// that Retry-After, on this call and on the warm calls after it.
func TestLongRetryAfterAnswersFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.portal.Inject(lmsandbox.Fault{Status: 429, RetryAfter: time.Hour})
	for i := 0; i < 2; i++ {
		start := time.Now()
		r := e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
		if r.Status != 429 || r.Headers["Retry-After"] < "3000" || time.Since(start) > 2*time.Second {
			t.Fatalf("call %d: %d %v %s after %v", i, r.Status, r.Headers, r.Raw, time.Since(start))
		}
	}
}

func TestLongSecretPrefixIsAConfigurationError(t *testing.T) {
	t.Setenv("LM_CREDENTIALS_SECRET", "x")
	t.Setenv("TOKEN_SECRET_PREFIX", strings.Repeat("p", 450))
	if _, err := tokens.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "512") {
		t.Fatalf("got %v", err)
	}
}

// noLiveSecrets fails if a secret under prefix is not scheduled for deletion.
func (e *env) noLiveSecrets(t *testing.T, prefix string) {
	t.Helper()
	for _, s := range e.sm.Secrets() {
		if s.DeletedDate.IsZero() && strings.HasPrefix(s.Name, prefix) {
			t.Fatalf("%s left live", s.Name)
		}
	}
}

// Secrets Manager's reads lag its writes (here by up to 1.5 s). Another
// create of the same user, note and type has just stored its key when this
// create's POST is lost before the portal made anything: the other token
// is the only candidate, and its secret is not visible yet. The
// reconciliation looks again once reads have caught up, sees the secret,
// and deletes nothing; the other caller's key works.
func TestReconciliationUnderReadLagTakesNoLiveToken(t *testing.T) {
	t.Parallel()
	for _, lag := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(lag.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lmsandbox.Config{})
			create := e.startBinary(t, "create")
			createKey(t, create, 3, `{"note":"warm-up"}`) // the credentials are cached before the lag
			e.sm.SetLag(lag)
			other := createKey(t, create, 2, `{"note":"shared pipeline"}`)
			e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Drop: true})
			r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"shared pipeline"}`, nil))
			if r.Status != 502 || !strings.Contains(r.Raw, "made no token") {
				t.Fatalf("the lost create: %d %s", r.Status, r.Raw)
			}
			if tok, ok := e.portal.Token(other.ID); !ok || tok.Status != 2 {
				t.Fatal("the reconciliation deleted another create's live token")
			}
			e.sm.SetLag(0)
			e.consumersWork(t)
			e.noOrphans(t)
		})
	}
}
