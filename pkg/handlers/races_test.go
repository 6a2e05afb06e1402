package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// instances is how many Lambda instances run the same request at once.
const instances = 12

// Twelve create functions (separate processes, each its own Runtime API)
// get the same request with the same Idempotency-Key at the same moment,
// with the key in each state a claim can be in. Exactly one token is made,
// nothing is orphaned, and every answer is that token's 201 or a 409 to
// retry; a retry afterwards replays the 201.
func TestConcurrentCreatesWithOneKeyMakeOneToken(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	const key = "race-key"
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"race"}`, map[string]string{"Idempotency-Key": key})
	scenarios := map[string]func(e *env){
		"new key": func(*env) {},
		// The first attempt's store failed and its token was deleted: the
		// claim is free and every instance may take it.
		"after a rollback": func(e *env) {
			e.sm.Fail("CreateSecret", 1, localsecrets.Failure{Type: "AccessDeniedException", Match: "api-tokens/2/"})
			if r := e.http(handlers.Create, req); r.Status != 502 {
				t.Fatalf("first attempt: %d %s", r.Status, r.Raw)
			}
		},
		// An instance died right after its POST, whose token (key lost)
		// exists: the claim is stale, one taker deletes that token, and
		// one new token is made.
		"stale claim of a dead instance": func(e *env) {
			e.sm.Fail("CreateSecret", 1, localsecrets.Failure{Type: "AccessDeniedException", Match: "api-tokens/2/"})
			e.http(handlers.Create, req)
			claim := e.claimName(key)
			var doc secrets.ClaimDoc
			sec, _ := e.sm.Get(claim)
			_ = json.Unmarshal([]byte(sec.Value), &doc)
			dead := time.Now().Add(-3 * time.Minute)
			doc.State, doc.Owner, doc.Updated, doc.Since = secrets.ClaimPosting, "dead-instance", dead.UnixMilli(), dead.Unix()
			v, _ := json.Marshal(doc)
			if _, err := e.api.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(claim), SecretString: aws.String(string(v))}); err != nil {
				t.Fatal(err)
			}
			e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "race", CreatedDaysAgo: 3.0 / 24 / 60})
		},
		// The first attempt's answer was lost and so was its check.
		"unresolved claim": func(e *env) {
			e.portal.Inject(lmsandbox.Fault{Method: http.MethodPost, Drop: true, AfterProcessing: true})
			e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "apitokens", Status: 500, Count: 20})
			if r := e.http(handlers.Create, req); r.Status != 502 {
				t.Fatalf("first attempt: %d %s", r.Status, r.Raw)
			}
			e.portal.ClearFaults()
		},
	}
	for name, prepare := range scenarios {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, lmsandbox.Config{Latency: 5 * time.Millisecond})
			l := e.ledger(2)
			fns := e.startInstances(t, "create")
			prepare(e)

			answers := invokeAtOnce(t, fns, req)

			var id any
			for _, a := range answers {
				switch a.Status {
				case 201:
					if id != nil && a.Body["id"] != id {
						t.Fatalf("two tokens answered: %v and %v", id, a.Body["id"])
					}
					id = a.Body["id"]
				case 409:
					if a.Headers["Retry-After"] == "" {
						t.Fatalf("409 without Retry-After: %s", a.Raw)
					}
				default:
					t.Fatalf("unexpected answer %d %s", a.Status, a.Raw)
				}
			}
			l.want(t, 1, 0)
			final := e.http(handlers.Create, req)
			if final.Status != 201 || (id != nil && final.Body["id"] != id) {
				t.Fatalf("retry afterwards: %d %s (racers answered %v)", final.Status, final.Raw, id)
			}
		})
	}
}

// startInstances starts one function's binary instances times.
func (e *env) startInstances(t *testing.T, fn string) []*lambdaruntime.Function {
	fns := make([]*lambdaruntime.Function, instances)
	for i := range fns {
		fns[i] = e.startBinary(t, fn)
	}
	return fns
}

// invokeAtOnce sends req to every instance at the same moment and returns
// their HTTP answers.
func invokeAtOnce(t *testing.T, fns []*lambdaruntime.Function, req any) []httpResp {
	t.Helper()
	results := make([]lambdaruntime.Result, len(fns))
	var wg sync.WaitGroup
	start := make(chan struct{})
	raw, _ := json.Marshal(req)
	for i, f := range fns {
		wg.Add(1)
		go func(i int, f *lambdaruntime.Function) {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			results[i], _ = f.Invoke(ctx, raw)
		}(i, f)
	}
	close(start)
	wg.Wait()
	answers := make([]httpResp, len(fns))
	for i, res := range results {
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil || res.Failed() {
			t.Fatalf("instance %d: %+v", i, res)
		}
		answers[i] = asHTTP(t, resp, nil)
	}
	return answers
}

// Twelve delete functions get the same delete at once, and the first DELETE
// LogicMonitor carries out loses its answer. The token is gone, its secret
// is scheduled for deletion once, and every answer is true: a 200 that
// deleted it or found it gone with its secret, or a 404 once nothing was
// left to do. A retry afterwards is a 404 and changes nothing.
func TestConcurrentDeletesWithALostAnswer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	e := newEnv(t, lmsandbox.Config{Latency: 5 * time.Millisecond})
	made := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"doomed"}`, map[string]string{"Idempotency-Key": "doomed"}))
	if made.Status != 201 {
		t.Fatalf("create: %d %s", made.Status, made.Raw)
	}
	id := int64(made.Body["id"].(float64))
	name := fmt.Sprintf("logicmonitor/api-tokens/2/%d", id)
	fns := e.startInstances(t, "delete")
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodDelete, Drop: true, AfterProcessing: true})
	req := rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil)

	deleted := 0
	for i, a := range invokeAtOnce(t, fns, req) {
		switch a.Status {
		case 200:
			if a.Body["deleted"] != true || a.Body["secret"] == nil {
				t.Fatalf("instance %d: %s", i, a.Raw)
			}
			deleted++
		case 404:
		default:
			t.Fatalf("instance %d answered %d %s", i, a.Status, a.Raw)
		}
	}
	if deleted == 0 || e.portal.CountRequests(http.MethodDelete) < 2 {
		t.Fatalf("%d instances said the token was deleted, after %d DELETEs", deleted, e.portal.CountRequests(http.MethodDelete))
	}
	if _, ok := e.portal.Token(id); ok {
		t.Fatal("the token is still in LogicMonitor")
	}
	if sec, ok := e.sm.Get(name); !ok || sec.DeletedDate.IsZero() {
		t.Fatalf("the key's secret is not scheduled for deletion: %+v", sec)
	}
	if again := e.http(handlers.Delete, req); again.Status != 404 {
		t.Fatalf("retry afterwards: %d %s", again.Status, again.Raw)
	}
}

// Twelve toggle functions disable the same token at once while its note is
// rewritten, and one PATCH loses its answer after LogicMonitor applied it:
// every answer is the disabled token, and the new note stays.
func TestConcurrentTogglesWithALostAnswer(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	e := newEnv(t, lmsandbox.Config{Latency: 5 * time.Millisecond})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "ci"})
	fns := e.startInstances(t, "toggle")
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodPatch, Drop: true, AfterProcessing: true, Then: func(p *lmsandbox.Portal) {
		p.Update(tok.ID, func(t *lmsandbox.Token) { t.Note = "ci #keep" })
	}})
	req := rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tok.ID), nil, `{"enabled":false}`, nil)
	for i, a := range invokeAtOnce(t, fns, req) {
		if a.Status != 200 || a.Body["status"] != 1.0 {
			t.Fatalf("instance %d: %d %s", i, a.Status, a.Raw)
		}
	}
	if got, _ := e.portal.Token(tok.ID); got.Status != 1 || got.Note != "ci #keep" {
		t.Fatalf("portal has %+v", got)
	}
}

// The SDK retries the claim's CreateSecret after Secrets Manager made it but
// the answer was lost: the instance recognises its own claim.
func TestOwnClaimRecognisedAfterLostAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	l := e.ledger(2)
	e.sm.Fail("CreateSecret", 1, localsecrets.Failure{AfterProcessing: true, Match: "idempotency/"})
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "sdk-retry"}))
	if r.Status != 201 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	l.want(t, 1, 0)
}

func (e *env) claimName(key string) string {
	return (&secrets.Claims{Prefix: e.cfg.SecretPrefix}).Name(2, key)
}
