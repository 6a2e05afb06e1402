package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// receiver stands in for CloudFormation's pre-signed response URLs.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]cfn.Response
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string]cfn.Response{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var resp cfn.Response
		if req.Method != http.MethodPut || req.Header.Get("Content-Type") != "" || len(body) > 4096 || json.Unmarshal(body, &resp) != nil {
			t.Errorf("not CloudFormation's answer: %s %q %d bytes", req.Method, req.Header.Get("Content-Type"), len(body))
		}
		r.mu.Lock()
		r.got[req.URL.Path] = resp
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) answer(t *testing.T, requestID string) cfn.Response {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	resp, ok := r.got["/"+requestID]
	if !ok {
		t.Fatalf("no answer to %s", requestID)
	}
	return resp
}

// sender sends CloudFormation events to the provider binary f and returns
// what it answered CloudFormation.
func (r *receiver) sender(t *testing.T, f *lambdaruntime.Function) func(cfn.Event) cfn.Response {
	return func(ev cfn.Event) cfn.Response {
		t.Helper()
		if res := invokeBinary(t, f, ev); res.Failed() {
			t.Fatalf("%s: %s", res.ErrorType, res.ErrorMessage)
		}
		return r.answer(t, ev.RequestID)
	}
}

func cfnEvent(r *receiver, kind cfn.RequestType, requestID, physical string, props, old map[string]any) cfn.Event {
	if props != nil {
		props["ServiceToken"] = "arn:aws:lambda:us-east-1:123456789012:function:lmtokens-provider"
	}
	return cfn.Event{
		RequestType: kind, RequestID: requestID, ResponseURL: r.srv.URL + "/" + requestID, ResourceType: "Custom::LogicMonitorApiToken",
		LogicalResourceID: "PipelineToken", StackID: "arn:aws:cloudformation:us-east-1:123456789012:stack/consumer/1",
		PhysicalResourceID: physical, ResourceProperties: props, OldResourceProperties: old,
	}
}

// The provider through the real binary: create, a retried create, update
// in place and by replacement, delete, and a rollback of a failed create.
func TestCustomResourceLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rcv := newReceiver(t)
	l2, l3 := e.ledger(2), e.ledger(3)
	f := e.startBinary(t, "provider")
	send := rcv.sender(t, f)

	props := map[string]any{"AdminId": "2", "Note": "consumer pipeline"}
	created := send(cfnEvent(rcv, cfn.RequestCreate, "req-1", "", props, nil))
	id := fmt.Sprint(created.Data["TokenId"])
	if created.Status != cfn.StatusSuccess || created.PhysicalResourceID != "lmtokens:default:2:"+id || created.Data["SecretName"] != "logicmonitor/api-tokens/2/"+id ||
		!strings.HasPrefix(fmt.Sprint(created.Data["SecretArn"]), "arn:aws:secretsmanager:") || created.Data["AdminName"] != "ci@example.com" || created.Data["AccessId"] == "" {
		t.Fatalf("create: %+v", created)
	}
	// CloudFormation retries the same request: nothing is made twice.
	again := send(cfnEvent(rcv, cfn.RequestCreate, "req-1", "", map[string]any{"AdminId": "2", "Note": "consumer pipeline"}, nil))
	if again.PhysicalResourceID != created.PhysicalResourceID {
		t.Fatalf("retried create: %+v", again)
	}
	l2.want(t, 1, 0)

	// In place: note and status.
	upd := send(cfnEvent(rcv, cfn.RequestUpdate, "req-2", created.PhysicalResourceID,
		map[string]any{"AdminId": "2", "Note": "renamed", "Status": "disabled"}, props))
	tok, _ := e.portal.Token(int64(mustAtoi(t, id)))
	if upd.Status != cfn.StatusSuccess || upd.PhysicalResourceID != created.PhysicalResourceID || tok.Note != "renamed" || tok.Status != 1 || upd.Data["SecretArn"] != created.Data["SecretArn"] {
		t.Fatalf("update in place: %+v, token %+v", upd, tok)
	}
	// By replacement: another user is another token; CloudFormation then
	// deletes the old one.
	repl := send(cfnEvent(rcv, cfn.RequestUpdate, "req-3", created.PhysicalResourceID,
		map[string]any{"AdminId": "3", "Note": "renamed"}, map[string]any{"AdminId": "2", "Note": "renamed", "Status": "disabled"}))
	if repl.Status != cfn.StatusSuccess || !strings.HasPrefix(repl.PhysicalResourceID, "lmtokens:default:3:") {
		t.Fatalf("replacement: %+v", repl)
	}
	l3.want(t, 1, 0)
	if del := send(cfnEvent(rcv, cfn.RequestDelete, "req-4", created.PhysicalResourceID, map[string]any{"AdminId": "2", "Note": "renamed"}, nil)); del.Status != cfn.StatusSuccess {
		t.Fatalf("delete: %+v", del)
	}
	if _, ok := e.portal.Token(int64(mustAtoi(t, id))); ok {
		t.Fatal("the old token is still there")
	}
	if sec, _ := e.sm.Get("logicmonitor/api-tokens/2/" + id); sec.DeletedDate.IsZero() {
		t.Fatal("the old key's secret is not scheduled for deletion")
	}
	// Deleting what is already gone succeeds (a stack can always be deleted).
	if del := send(cfnEvent(rcv, cfn.RequestDelete, "req-5", created.PhysicalResourceID, nil, nil)); del.Status != cfn.StatusSuccess {
		t.Fatalf("second delete: %+v", del)
	}

	// Invalid properties and a protected user fail with a reason, and the
	// rollback's delete of the never-created resource succeeds.
	for i, bad := range []map[string]any{{"AdminId": "002"}, {"AdminId": "2", "Type": "magic"}, {"AdminId": "2", "Color": "red"}, {"AdminId": "1"}} {
		rid := fmt.Sprintf("bad-%d", i)
		failed := send(cfnEvent(rcv, cfn.RequestCreate, rid, "", bad, nil))
		if failed.Status != cfn.StatusFailed || failed.Reason == "" {
			t.Fatalf("%v: %+v", bad, failed)
		}
		if rb := send(cfnEvent(rcv, cfn.RequestDelete, rid+"-rollback", failed.PhysicalResourceID, bad, nil)); rb.Status != cfn.StatusSuccess {
			t.Fatalf("rollback of %v: %+v", bad, rb)
		}
	}
	l2.want(t, 0, 0)
	// The audit log names the physical id a Create answered and why a
	// FAILED answer failed.
	logs := allLogs.String()
	if !strings.Contains(logs, `"msg":"custom resource done","function":"provider","requestType":"Create","resourceType":"Custom::LogicMonitorApiToken","logicalResourceId":"PipelineToken","physicalResourceId":"`+created.PhysicalResourceID+`"`) ||
		!strings.Contains(logs, `"msg":"custom resource answered FAILED"`) {
		t.Fatal("the provider's log does not name what it answered")
	}
	for _, resp := range rcv.got {
		raw, _ := json.Marshal(resp)
		for _, tok := range e.portal.Tokens() {
			if strings.Contains(string(raw), tok.AccessKey) {
				t.Fatal("a key is in an answer to CloudFormation")
			}
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A resource whose key rotated (the stack's default rotationDays gave it a
// schedule) is the token its secret holds now: an update changes that one,
// and a delete removes it and its secret, leaving the rotated-out token to
// its retirement record.
func TestCustomResourceAfterRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rcv := newReceiver(t)
	cfg := e.cfg
	cfg.Rotation = tokens.RotationConfig{FunctionARN: rotateARN, Grace: time.Hour, DeleteAfter: time.Hour}
	svc := e.service(cfg)
	e.inProcessRotation(svc)
	f := e.startBinary(t, "provider", "ROTATION_FUNCTION_ARN="+rotateARN, "TOKEN_ROTATION_DAYS=30")
	send := rcv.sender(t, f)
	props := map[string]any{"AdminId": "2", "Note": "consumer"}
	created := send(cfnEvent(rcv, cfn.RequestCreate, "rot-1", "", props, nil))
	first := int64(mustAtoi(t, fmt.Sprint(created.Data["TokenId"])))
	name := fmt.Sprint(created.Data["SecretName"])
	if sec, _ := e.sm.Get(name); !sec.RotationEnabled || sec.RotationDays != 30 {
		t.Fatalf("the resource's key has no rotation schedule: %+v", created)
	}
	e.sm.WaitRotations()
	if _, err := e.invokeWith(svc, handlers.Create, map[string]any{"rotate": map[string]any{"adminId": 2, "tokenId": first}}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[name]; got[len(got)-1] != nil {
		t.Fatalf("rotation: %v", got)
	}
	current := e.storedKey(t, name, "").TokenID

	upd := send(cfnEvent(rcv, cfn.RequestUpdate, "rot-2", created.PhysicalResourceID, map[string]any{"AdminId": "2", "Note": "renamed"}, props))
	now, _ := e.portal.Token(current)
	old, _ := e.portal.Token(first)
	if upd.Status != cfn.StatusSuccess || upd.PhysicalResourceID != created.PhysicalResourceID || now.Note != "renamed" || old.Note != "consumer" || upd.Data["TokenId"] != fmt.Sprint(current) {
		t.Fatalf("update after rotation: %+v; current %+v, old %+v", upd, now, old)
	}
	// RotationDays changes the schedule in place; a bad one fails with a reason.
	weekly := map[string]any{"AdminId": "2", "Note": "renamed", "RotationDays": 7}
	if upd := send(cfnEvent(rcv, cfn.RequestUpdate, "rot-2b", created.PhysicalResourceID, weekly, map[string]any{"AdminId": "2", "Note": "renamed"})); upd.Status != cfn.StatusSuccess {
		t.Fatalf("RotationDays update: %+v", upd)
	}
	if sec, _ := e.sm.Get(name); sec.RotationDays != 7 {
		t.Fatalf("the schedule is %d days, want 7", sec.RotationDays)
	}
	e.sm.WaitRotations()
	if bad := send(cfnEvent(rcv, cfn.RequestUpdate, "rot-2c", created.PhysicalResourceID, map[string]any{"AdminId": "2", "Note": "renamed", "RotationDays": 0}, weekly)); bad.Status != cfn.StatusFailed || !strings.Contains(bad.Reason, "RotationDays") {
		t.Fatalf("RotationDays 0: %+v", bad)
	}
	if del := send(cfnEvent(rcv, cfn.RequestDelete, "rot-3", created.PhysicalResourceID, props, nil)); del.Status != cfn.StatusSuccess {
		t.Fatalf("delete: %+v", del)
	}
	if _, ok := e.portal.Token(current); ok {
		t.Fatal("the resource's current token is left")
	}
	if sec, _ := e.sm.Get(name); sec.DeletedDate.IsZero() {
		t.Fatal("the resource's secret is left")
	}
	if _, ok := e.sm.Get("logicmonitor/api-tokens/rotated-out/2/" + fmt.Sprint(first)); !ok {
		t.Fatal("the rotated-out token lost its retirement record")
	}
}

// The provider checks what it can of an event before acting on it, through
// the real binary: a stack of another account or region, a stack outside
// PROVIDER_STACKS, or an answer URL that is not CloudFormation's response
// bucket is refused with a function error, and nothing is made or sent; an
// answer URL that hangs cannot hold the invocation to its deadline; the
// deployment heartbeat resource is answered, and logged.
func TestProviderTrustsOnlyWhatItCanCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rcv := newReceiver(t)
	f := e.startBinary(t, "provider", "PROVIDER_STACKS=consumer,team-*")
	before := len(e.portal.Tokens())
	props := func() map[string]any { return map[string]any{"AdminId": "2", "Note": "x"} }
	for name, ev := range map[string]cfn.Event{
		"another account": func() cfn.Event {
			ev := cfnEvent(rcv, cfn.RequestCreate, "t-1", "", props(), nil)
			ev.StackID = "arn:aws:cloudformation:us-east-1:999999999999:stack/consumer/1"
			return ev
		}(),
		"another region": func() cfn.Event {
			ev := cfnEvent(rcv, cfn.RequestCreate, "t-2", "", props(), nil)
			ev.StackID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/consumer/1"
			return ev
		}(),
		"a stack it does not serve": func() cfn.Event {
			ev := cfnEvent(rcv, cfn.RequestCreate, "t-3", "", props(), nil)
			ev.StackID = "arn:aws:cloudformation:us-east-1:123456789012:stack/other/1"
			return ev
		}(),
		"an answer URL of the sender's choosing": func() cfn.Event {
			ev := cfnEvent(rcv, cfn.RequestCreate, "t-4", "", props(), nil)
			ev.ResponseURL = "https://collector.evil.example/t-4"
			return ev
		}(),
		"a forged delete": func() cfn.Event {
			ev := cfnEvent(rcv, cfn.RequestDelete, "t-5", "lmtokens:default:3:1", props(), nil)
			ev.StackID = "arn:aws:cloudformation:us-east-1:999999999999:stack/consumer/1"
			return ev
		}(),
	} {
		res := invokeBinary(t, f, ev)
		if res.ErrorType != handlers.TypeValidation || !strings.Contains(res.ErrorMessage, "not CloudFormation's event") {
			t.Errorf("%s: %+v", name, res)
		}
		rcv.mu.Lock()
		_, answered := rcv.got["/"+ev.RequestID]
		rcv.mu.Unlock()
		if answered {
			t.Errorf("%s: an answer was sent", name)
		}
	}
	if len(e.portal.Tokens()) != before || e.mutations() != 0 {
		t.Fatal("a refused event changed LogicMonitor")
	}
	// A served stack's own deployment resource is answered and logged.
	dep := cfnEvent(rcv, cfn.RequestCreate, "t-6", "", map[string]any{}, nil)
	dep.ResourceType, dep.StackID = handlers.DeploymentType, "arn:aws:cloudformation:us-east-1:123456789012:stack/team-lmtokens/1"
	if res := invokeBinary(t, f, dep); res.Failed() || rcv.answer(t, "t-6").Status != cfn.StatusSuccess {
		t.Fatalf("the deployment resource: %+v", res)
	}
	// An answer URL that hangs: the invocation ends before its deadline.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // then the server notices the client hang up
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer hang.Close()
	short := e.startBinaryTimeout(t, "provider", 8*time.Second)
	ev := cfnEvent(rcv, cfn.RequestDelete, "t-7", "lmtokens:default:2:999", props(), nil)
	ev.ResponseURL = hang.URL + "/t-7"
	start := time.Now()
	res := invokeBinary(t, short, ev)
	if took := time.Since(start); res.ErrorType == "Sandbox.Timedout" || took > 7800*time.Millisecond {
		t.Fatalf("a hanging answer URL held the provider %v: %+v", took, res)
	}
}

// A Custom::LogicMonitorApiToken may end its token's life: ExpiresInDays or
// ExpiresAt, under the deployment's and the portal's cap; a longer one
// fails the resource naming the cap and makes nothing, and a changed
// lifetime replaces the token (a lifetime is given at creation).
func TestCustomResourceLifetimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rcv := newReceiver(t)
	f := e.startBinary(t, "provider", "TOKEN_MAX_LIFETIME_DAYS=90")
	send := rcv.sender(t, f)
	before := len(e.portal.Tokens())

	made := send(cfnEvent(rcv, cfn.RequestCreate, "life-1", "", map[string]any{"AdminId": "2", "Note": "thirty days", "ExpiresInDays": "30"}, nil))
	at, err := time.Parse(time.RFC3339, fmt.Sprint(made.Data["ExpiresAt"]))
	if made.Status != cfn.StatusSuccess || err != nil || time.Until(at) < 29*24*time.Hour || time.Until(at) > 30*24*time.Hour+time.Minute {
		t.Fatalf("create with ExpiresInDays 30: %+v", made)
	}
	if sec, _ := e.sm.Get(fmt.Sprint(made.Data["SecretName"])); sec.Tags[secrets.TagExpiresAt] != made.Data["ExpiresAt"] {
		t.Fatalf("the key's secret says %q, the resource %q", sec.Tags[secrets.TagExpiresAt], made.Data["ExpiresAt"])
	}
	at2 := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	dated := send(cfnEvent(rcv, cfn.RequestCreate, "life-2", "", map[string]any{"AdminId": "2", "ExpiresAt": at2}, nil))
	if dated.Status != cfn.StatusSuccess || dated.Data["ExpiresAt"] != at2 {
		t.Fatalf("create with ExpiresAt: %+v", dated)
	}
	over := send(cfnEvent(rcv, cfn.RequestCreate, "life-3", "", map[string]any{"AdminId": "2", "ExpiresInDays": "120"}, nil))
	if over.Status != cfn.StatusFailed || !strings.Contains(over.Reason, "maximum lifetime of 90 days") {
		t.Fatalf("over the cap: %+v", over)
	}
	if n := len(e.portal.Tokens()); n != before+2 {
		t.Fatalf("%d tokens made, want the 2 allowed", n-before)
	}
	// A new lifetime is a new token: CloudFormation then deletes the old.
	repl := send(cfnEvent(rcv, cfn.RequestUpdate, "life-4", made.PhysicalResourceID,
		map[string]any{"AdminId": "2", "Note": "thirty days", "ExpiresInDays": "60"}, map[string]any{"AdminId": "2", "Note": "thirty days", "ExpiresInDays": "30"}))
	if repl.Status != cfn.StatusSuccess || repl.PhysicalResourceID == made.PhysicalResourceID || repl.Data["ExpiresAt"] == made.Data["ExpiresAt"] {
		t.Fatalf("a new lifetime: %+v", repl)
	}
}
