package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

func TestListEveryShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for i := 0; i < 3; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: fmt.Sprintf("ci %d", i)})
	}
	e.seed(lmsandbox.TokenSpec{AdminID: 3, Type: "bearer", Note: "traces"})

	var page tokens.ListOutput
	r := e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.into(t, &page); r.Status != 200 || page.Total != 4 || len(page.Items) != 4 {
		t.Fatalf("REST GET /tokens: %d %s", r.Status, r.Raw)
	}
	r = e.http(handlers.List, httpAPI("GET", "/admins/{adminId}/tokens", ids(3, 0), "type=bearer", "", nil))
	page = tokens.ListOutput{}
	if r.into(t, &page); r.Status != 200 || len(page.Items) != 1 || page.Items[0].Type != "bearer" {
		t.Fatalf("HTTP API bearer list: %d %s", r.Status, r.Raw)
	}
	r = e.http(handlers.List, httpAPI("GET", "/admins/{adminId}/tokens", ids(2, 0), "size=2&offset=1&fields=id,note&filter="+`note~"ci"`, "", nil))
	page = tokens.ListOutput{}
	if r.into(t, &page); r.Status != 200 || page.Total != 3 || len(page.Items) != 2 || page.Items[0].Note != "ci 1" {
		t.Fatalf("paged, filtered list: %d %s", r.Status, r.Raw)
	}

	out, err := e.invoke(handlers.List, map[string]any{"adminId": 2, "size": 1})
	if err != nil {
		t.Fatal(err)
	}
	if m := toMap(t, out); m["total"] != 3.0 || len(m["items"].([]any)) != 1 {
		t.Fatalf("direct: %v", m)
	}
	out, err = e.invoke(handlers.List, map[string]any{"source": "ci.pipeline", "detail-type": "ListTokens", "detail": map[string]any{"adminId": "3", "type": "bearer"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := toMap(t, out); m["total"] != 1.0 {
		t.Fatalf("EventBridge: %v", m)
	}
	// A $default route with a stage prefix still routes by the path.
	ev := httpAPI("GET", "/admins/{adminId}/tokens", nil, "", "", nil)
	ev.RouteKey, ev.RawPath = "$default", "/prod/admins/2/tokens"
	if r := e.http(handlers.List, ev); r.Status != 200 || r.Body["total"] != 3.0 {
		t.Fatalf("$default route: %d %s", r.Status, r.Raw)
	}
}

func TestBadInputIs4xxAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2})
	tid := tok.ID
	big := `{"note":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name, fn string
		event    any
		status   int
		says     string
	}{
		{"size 0", handlers.List, rest("GET", "/tokens", nil, map[string]string{"size": "0"}, "", nil), 400, "size"},
		{"size 1001", handlers.List, rest("GET", "/tokens", nil, map[string]string{"size": "1001"}, "", nil), 400, "size"},
		{"negative offset", handlers.List, rest("GET", "/tokens", nil, map[string]string{"offset": "-1"}, "", nil), 400, "offset"},
		{"unknown type", handlers.List, rest("GET", "/tokens", nil, map[string]string{"type": "saml"}, "", nil), 400, "type"},
		{"unknown query", handlers.List, rest("GET", "/tokens", nil, map[string]string{"sort": "id"}, "", nil), 400, "sort"},
		{"asks for keys", handlers.List, rest("GET", "/tokens", nil, map[string]string{"fields": "id,accessKey"}, "", nil), 400, "accessKey"},
		{"non-numeric admin", handlers.List, rest("GET", "/admins/{adminId}/tokens", map[string]string{"adminId": "abc"}, nil, "", nil), 400, "adminId"},
		{"zero admin", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(0, 0), nil, "{}", nil), 400, "adminId"},
		{"negative token", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", map[string]string{"adminId": "2", "tokenId": "-4"}, nil, `{"status":1}`, nil), 400, "tokenId"},
		{"huge id", handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", map[string]string{"adminId": "2", "tokenId": "99999999999999999999"}, nil, "", nil), 400, "tokenId"},
		{"status 3", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, `{"status":3}`, nil), 400, "status"},
		{"status and enabled disagree", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, `{"status":2,"enabled":false}`, nil), 400, "disagree"},
		{"nothing to change", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, `{}`, nil), 400, "nothing"},
		{"unknown field", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"x","expires":"never"}`, nil), 400, "expires"},
		{"wrong field type", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"status":"2"}`, nil), 400, "status"},
		{"array body", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `[1]`, nil), 400, "JSON object"},
		{"malformed JSON", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, `{"status":`, nil), 400, "JSON"},
		{"trailing data", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{} {}`, nil), 400, "after"},
		{"long note", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"`+strings.Repeat("é", 1001)+`"}`, nil), 400, "1000"},
		{"unknown token type", handlers.Create, httpAPI("POST", "/admins/{adminId}/tokens", ids(2, 0), "", `{"type":"saml"}`, nil), 400, "type"},
		{"body over 64 KiB", handlers.Create, httpAPI("POST", "/admins/{adminId}/tokens", ids(2, 0), "", big, nil), 413, "64 KiB"},
		{"bad idempotency key", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "has space"}), 400, "idempotency"},
		{"wrong method", handlers.Delete, rest("GET", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, "", nil), 405, "DELETE"},
		{"wrong route", handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"status":1}`, nil), 404, "no route"},
		{"body on delete", handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, tid), nil, `{"force":true}`, nil), 400, "no body"},
		{"query on create", handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), map[string]string{"type": "bearer"}, `{}`, nil), 400, "query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.http(c.fn, c.event)
			if r.Status != c.status || !strings.Contains(r.Raw, c.says) {
				t.Fatalf("got %d %s, want %d mentioning %q", r.Status, r.Raw, c.status, c.says)
			}
			if r.Body["type"] == "" || r.Body["message"] == "" {
				t.Fatalf("error body lacks type or message: %s", r.Raw)
			}
		})
	}
	direct := []struct {
		name, fn string
		event    string
		says     string
	}{
		{"not an object", handlers.List, `[1,2]`, "JSON object"},
		{"a string", handlers.Create, `"create please"`, "JSON object"},
		{"missing admin", handlers.Create, `{"note":"x"}`, "adminId"},
		{"missing token", handlers.Delete, `{"adminId":2}`, "tokenId"},
		{"float id", handlers.Delete, `{"adminId":2.5,"tokenId":1}`, "positive whole"},
		{"unknown field", handlers.Toggle, `{"adminId":2,"tokenId":1,"status":1,"force":true}`, "force"},
		{"bad size", handlers.List, `{"size":5000}`, "size"},
		{"cleanup on list", handlers.List, `{"cleanup":{}}`, "cleanup"},
	}
	for _, c := range direct {
		t.Run("direct "+c.name, func(t *testing.T) {
			_, err := e.invoke(c.fn, []byte(c.event))
			fnError(t, err, handlers.TypeValidation, c.says)
		})
	}
	if n := e.mutations(); n != 0 {
		t.Fatalf("bad input reached LogicMonitor with %d changes", n)
	}
	if n := len(e.portal.Tokens()); n != 2 {
		t.Fatalf("token count changed to %d", n)
	}
	if n := len(e.sm.Secrets()); n != 1 {
		t.Fatalf("bad input stored %d secrets", n-1)
	}
}

func TestUnknownUserOrTokenIs404(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(99, 0), nil, `{}`, nil))
	if r.Status != 404 || r.Body["type"] != handlers.TypeNotFound {
		t.Fatalf("unknown user: %d %s", r.Status, r.Raw)
	}
	r = e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, 555), nil, `{"enabled":false}`, nil))
	if r.Status != 404 {
		t.Fatalf("unknown token toggle: %d %s", r.Status, r.Raw)
	}
	r = e.http(handlers.Delete, httpAPI("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, 555), "", "", nil))
	if r.Status != 404 {
		t.Fatalf("unknown token delete: %d %s", r.Status, r.Raw)
	}
	_, err := e.invoke(handlers.Delete, map[string]any{"adminId": 2, "tokenId": 555})
	fnError(t, err, handlers.TypeNotFound, "555")
}

func TestCreateStoresKeyAndAnswersWithoutIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.cfg.KMSKeyID = "alias/lmtokens"
	e.svc = e.service(e.cfg)
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"deploy bot","status":1}`, nil))
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	var out tokens.CreateOutput
	r.into(t, &out)
	id := out.ID
	tok, ok := e.portal.Token(id)
	if !ok || tok.Status != 1 || tok.Note != "deploy bot" || tok.AdminID != 2 {
		t.Fatalf("portal has %+v", tok)
	}
	if out.AccessID != tok.AccessID || out.Type != "lmv1" || out.Status != 1 || out.AdminID != 2 || out.CreatedBy != "unauthenticated" {
		t.Fatalf("answer %s", r.Raw)
	}
	if strings.Contains(r.Raw, tok.AccessKey) {
		t.Fatal("the key is in the answer")
	}
	name := fmt.Sprintf("logicmonitor/api-tokens/2/%d", id)
	sec, ok := e.sm.Get(name)
	if !ok || out.Secret.Name != name || out.Secret.ARN != sec.ARN || !strings.HasPrefix(sec.ARN, "arn:aws:secretsmanager:") {
		t.Fatalf("secret %v, stored %+v", out.Secret, sec)
	}
	var stored map[string]any
	if err := json.Unmarshal([]byte(sec.Value), &stored); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"company": "acme", "accessId": tok.AccessID, "accessKey": tok.AccessKey, "adminId": 2.0, "tokenId": float64(id), "type": "lmv1", "note": "deploy bot", "createdOn": float64(tok.CreatedOn)}
	for k, v := range want {
		if stored[k] != v {
			t.Errorf("stored %s = %v, want %v", k, stored[k], v)
		}
	}
	if sec.Tags["managed-by"] != "lmtokens" || sec.Tags["lmtokens:admin-id"] != "2" || sec.Tags["lmtokens:admin-name"] != "ci@example.com" || sec.Tags["lmtokens:token-id"] != fmt.Sprint(id) || sec.Tags["lmtokens:access-id"] != tok.AccessID {
		t.Errorf("tags %v", sec.Tags)
	}
	if sec.KmsKeyID != "alias/lmtokens" {
		t.Errorf("KMS key %q", sec.KmsKeyID)
	}

	// A bearer token, by direct invocation: the bearer string is the key.
	direct, err := e.invoke(handlers.Create, map[string]any{"adminId": 3, "type": "bearer"})
	if err != nil {
		t.Fatal(err)
	}
	m := toMap(t, direct)
	btok, _ := e.portal.Token(int64(m["id"].(float64)))
	bsec, _ := e.sm.Get(m["secret"].(map[string]any)["name"].(string))
	if m["type"] != "bearer" || !strings.Contains(bsec.Value, btok.AccessKey) || strings.Contains(fmt.Sprint(m), btok.AccessKey) {
		t.Fatalf("bearer create: %v", m)
	}
}

func TestCreateLeavesNothingOrphaned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	before := len(e.portal.Tokens())
	e.sm.Fail("CreateSecret", 1, localsecrets.Failure{Type: "AccessDeniedException", Message: "not authorized to perform secretsmanager:CreateSecret"})
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"x"}`, nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "not kept") || r.Body["type"] != handlers.TypeUpstream {
		t.Fatalf("store failure: %d %s", r.Status, r.Raw)
	}
	if n := len(e.portal.Tokens()); n != before {
		t.Fatalf("a token was left in LogicMonitor (%d, was %d)", n, before)
	}

	// The store fails and so does the clean-up: the answer names the token.
	e.sm.Fail("CreateSecret", 1, localsecrets.Failure{Type: "AccessDeniedException"})
	e.portal.Inject(lmsandbox.Fault{Method: "DELETE", Status: 500, Count: 10})
	r = e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil))
	toks := e.portal.Tokens()
	last := toks[len(toks)-1]
	if r.Status != 502 || !strings.Contains(r.Raw, fmt.Sprintf("token %d of user 2", last.ID)) || !strings.Contains(r.Raw, "by hand") {
		t.Fatalf("double failure: %d %s", r.Status, r.Raw)
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	before := len(e.portal.Tokens())
	hdr := map[string]string{"Idempotency-Key": "deploy-2026-11-23"}
	first := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"deploy"}`, hdr))
	second := e.http(handlers.Create, httpAPI("POST", "/admins/{adminId}/tokens", ids(2, 0), "", `{"note":"deploy"}`, map[string]string{"idempotency-key": "deploy-2026-11-23"}))
	if first.Status != 201 || second.Status != 201 || first.Raw != second.Raw {
		t.Fatalf("answers differ:\n%d %s\n%d %s", first.Status, first.Raw, second.Status, second.Raw)
	}
	if n := len(e.portal.Tokens()) - before; n != 1 {
		t.Fatalf("%d tokens made", n)
	}
	other := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"other"}`, hdr))
	if other.Status != 422 || n(e) != before+1 {
		t.Fatalf("reused key: %d %s", other.Status, other.Raw)
	}
	// Direct invocations use idempotencyKey; a throttled first try leaves
	// the key free for the retry.
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Status: 429, Count: 10, RetryAfter: time.Millisecond})
	_, err := e.invoke(handlers.Create, map[string]any{"adminId": 3, "idempotencyKey": "sfn-exec-1"})
	fnError(t, err, handlers.TypeRateLimited, "throttl")
	e.portal.ClearFaults()
	a, err := e.invoke(handlers.Create, map[string]any{"adminId": 3, "idempotencyKey": "sfn-exec-1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.invoke(handlers.Create, map[string]any{"adminId": 3, "idempotencyKey": "sfn-exec-1"})
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || n(e) != before+2 {
		t.Fatalf("direct replay: %s vs %s, %d tokens", ja, jb, n(e)-before)
	}
}

func n(e *env) int { return len(e.portal.Tokens()) }

func TestToggle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "ci"})
	r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tok.ID), nil, `{"enabled":false}`, nil))
	// The type is the one the query that found the token said (in the
	// variance mode, the portal's record says "api" or nothing).
	if r.Status != 200 || r.Body["status"] != 1.0 || r.Body["note"] != "ci" || r.Body["id"] != float64(tok.ID) || r.Body["type"] != "lmv1" {
		t.Fatalf("disable: %d %s", r.Status, r.Raw)
	}
	if got, _ := e.portal.Token(tok.ID); got.Status != 1 {
		t.Fatal("not disabled in the portal")
	}
	// A note-only change keeps the token disabled.
	r = e.http(handlers.Toggle, httpAPI("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tok.ID), "", `{"note":"ci (paused)"}`, nil))
	if got, _ := e.portal.Token(tok.ID); r.Status != 200 || got.Status != 1 || got.Note != "ci (paused)" {
		t.Fatalf("note change: %d %s, portal %+v", r.Status, r.Raw, got)
	}
	out, err := e.invoke(handlers.Toggle, map[string]any{"adminId": "2", "tokenId": tok.ID, "status": 2})
	if err != nil || toMap(t, out)["status"] != 2.0 {
		t.Fatalf("direct enable: %v %v", out, err)
	}
}

// A note written by someone else between the toggle's read and its write
// stays: the write sends only the fields the caller asked to change.
func TestToggleKeepsAChangeMadeBetweenReadAndWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "ci"})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/2/apitokens", Then: func(p *lmsandbox.Portal) {
		p.Update(tok.ID, func(t *lmsandbox.Token) { t.Note = "ci #keep (written meanwhile)" })
	}})
	r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tok.ID), nil, `{"enabled":false}`, nil))
	got, _ := e.portal.Token(tok.ID)
	if r.Status != 200 || got.Status != 1 || got.Note != "ci #keep (written meanwhile)" || r.Body["note"] != got.Note {
		t.Fatalf("disable reverted a note written meanwhile: %d %s, portal %+v", r.Status, r.Raw, got)
	}
}

func TestDeleteSchedulesSecretDeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, map[string]string{"Idempotency-Key": "k1"}))
	id := int64(r.Body["id"].(float64))
	name := fmt.Sprintf("logicmonitor/api-tokens/2/%d", id)

	r = e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id), nil, "", nil))
	var del tokens.DeleteOutput
	if r.into(t, &del); r.Status != 200 || !del.Deleted || del.Secret == nil || del.Secret.Name != name || del.Secret.DeletionDate == nil {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if _, ok := e.portal.Token(id); ok {
		t.Fatal("token still in LogicMonitor")
	}
	sec, _ := e.sm.Get(name)
	if sec.DeletedDate.IsZero() || sec.RecoveryDays != 7 {
		t.Fatalf("secret not scheduled for deletion with 7 days: %+v", sec)
	}
	for _, s := range e.sm.Secrets() {
		if strings.Contains(s.Name, "idempotency/") && s.DeletedDate.IsZero() {
			t.Fatalf("idempotency claim %s left behind", s.Name)
		}
	}
	// A token without a stored secret deletes fine.
	plain := e.seed(lmsandbox.TokenSpec{AdminID: 3})
	out, err := e.invoke(handlers.Delete, map[string]any{"adminId": 3, "tokenId": plain.ID})
	if err != nil || toMap(t, out)["secret"] != nil {
		t.Fatalf("delete without secret: %v %v", out, err)
	}
	// A delete that stopped after LogicMonitor finishes on retry.
	r = e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil))
	id2 := int64(r.Body["id"].(float64))
	e.sm.Fail("DeleteSecret", 1, localsecrets.Failure{Type: "AccessDeniedException"})
	r = e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id2), nil, "", nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "retry the delete") {
		t.Fatalf("half-done delete: %d %s", r.Status, r.Raw)
	}
	r = e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id2), nil, "", nil))
	if r.Status != 200 || r.Body["alreadyGone"] != true {
		t.Fatalf("retried delete: %d %s", r.Status, r.Raw)
	}
	// Once everything is gone, another delete is a plain 404.
	r = e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, id2), nil, "", nil))
	if r.Status != 404 {
		t.Fatalf("delete of a gone token: %d %s", r.Status, r.Raw)
	}
}

func TestUpstreamFailuresAre5xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.portal.Inject(lmsandbox.Fault{Status: 500, Count: 4})
	r := e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "LogicMonitor") {
		t.Fatalf("500s: %d %s", r.Status, r.Raw)
	}
	e.portal.Inject(lmsandbox.Fault{Status: 503, Count: 4})
	r = e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.Status != 503 {
		t.Fatalf("503s: %d %s", r.Status, r.Raw)
	}
	e.portal.Inject(lmsandbox.Fault{Status: 429, Count: 10, RetryAfter: 10 * time.Millisecond})
	r = e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.Status != 429 || r.Headers["Retry-After"] == "" || r.Body["type"] != handlers.TypeRateLimited {
		t.Fatalf("throttled: %d %v %s", r.Status, r.Headers, r.Raw)
	}
	e.portal.ClearFaults()
	e.portal.Inject(lmsandbox.Fault{Status: 500, Count: 4})
	_, err := e.invoke(handlers.List, map[string]any{})
	fnError(t, err, handlers.TypeUpstream, "LogicMonitor")
}

func TestUpstreamTimeoutIs504(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.portal.Inject(lmsandbox.Fault{Latency: 3 * time.Second, Count: 4})
	svc := handlers.New(handlers.Options{Config: e.cfg, SecretsAPI: awssecrets.New(e.api), Logger: logging.New(allLogs), HTTPClient: shortClient()})
	r := e.httpWith(svc, handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.Status != 504 {
		t.Fatalf("slow portal: %d %s", r.Status, r.Raw)
	}
}
