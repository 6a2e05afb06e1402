package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
)

// IAM policies match the literal path of API Gateway's method ARN, so only
// the canonical spelling of an id may reach a user: /admins/002/tokens must
// not get through a policy that denies admins/2.
func TestOnlyCanonicalIDsPass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2})
	bad := []string{"002", "02", "+2", " 2", "2 ", "2.0", "0x2", "2e0", "-2", "0"}
	for _, f := range catalog.Functions {
		for _, r := range f.Routes {
			if !strings.Contains(r.Path, "{adminId}") {
				continue
			}
			for _, spelling := range bad {
				params := map[string]string{"adminId": spelling}
				if strings.Contains(r.Path, "{tokenId}") {
					params["tokenId"] = fmt.Sprint(tok.ID)
				}
				if strings.Contains(r.Path, "{portal}") {
					params["portal"] = "acme"
				}
				body := ""
				if r.Method == http.MethodPatch {
					body = `{"enabled":false}`
				}
				for shape, ev := range map[string]any{
					"rest":    rest(r.Method, r.Path, params, nil, body, nil),
					"httpapi": httpAPI(r.Method, r.Path, params, "", body, nil),
				} {
					if got := e.http(f.Binary, ev); got.Status != 400 {
						t.Fatalf("%s %s with adminId %q (%s): %d %s", r.Method, r.Path, spelling, shape, got.Status, got.Raw)
					}
				}
			}
			// An encoded digit in the path, decoded in pathParameters.
			ev := rest(r.Method, r.Path, map[string]string{"adminId": "2", "tokenId": fmt.Sprint(tok.ID), "portal": "acme"}, nil, `{"enabled":false}`, nil)
			ev.Path = strings.Replace(ev.Path, "/admins/2/", "/admins/%32/", 1)
			if got := e.http(f.Binary, ev); got.Status != 400 {
				t.Fatalf("%s %s: %d %s", r.Method, ev.Path, got.Status, got.Raw)
			}
		}
	}
	// Direct and EventBridge requests, ids as numbers or strings.
	for _, fn := range []string{handlers.List, handlers.Create, handlers.Toggle, handlers.Delete} {
		for _, spelling := range []string{`"002"`, `"+2"`, `" 2"`, `2.0`, `2e0`, `"2.0"`, `02`, `-2`, `"0x2"`} {
			req := fmt.Sprintf(`{"adminId":%s,"tokenId":%d,"enabled":false}`, spelling, tok.ID)
			switch fn {
			case handlers.List, handlers.Create:
				req = fmt.Sprintf(`{"adminId":%s}`, spelling)
			case handlers.Delete:
				req = fmt.Sprintf(`{"adminId":%s,"tokenId":%d}`, spelling, tok.ID)
			}
			_, err := e.invoke(fn, []byte(req))
			fnError(t, err, handlers.TypeValidation, "")
			_, err = e.invoke(fn, []byte(`{"source":"ops","detail-type":"Request","detail":`+req+`}`))
			fnError(t, err, handlers.TypeValidation, "")
		}
	}
	if e.mutations() != 0 {
		t.Fatal("a non-canonical id reached LogicMonitor")
	}
	if got, _ := e.portal.Token(tok.ID); got.Status != 2 {
		t.Fatal("the token changed")
	}
}

func TestCreateRefusesProtectedUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	// User 1 is an administrator in the sandbox.
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(1, 0), nil, `{}`, nil))
	if r.Status != 403 || r.Body["type"] != handlers.TypeForbidden || !strings.Contains(fmt.Sprint(r.Body["message"]), `"administrator"`) {
		t.Fatalf("administrator: %d %s", r.Status, r.Raw)
	}
	_, err := e.invoke(handlers.Create, map[string]any{"adminId": 1})
	fnError(t, err, handlers.TypeForbidden, "PROTECTED_ROLES")
	if n := e.portal.CountRequests(http.MethodPost); n != 0 {
		t.Fatalf("%d POSTs for a protected user", n)
	}
	// Users protected by id, and roles named by configuration.
	e.portal.AddAdmin(lmsandbox.Admin{ID: 4, Username: "auditor@example.com", Roles: []string{"readonly", "Billing-Admin"}})
	cfg := e.cfg
	cfg.ProtectedAdminIDs, cfg.ProtectedRoles = []int64{3}, []string{"billing-admin"}
	svc := e.service(cfg)
	for _, admin := range []int64{3, 4} {
		if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(admin, 0), nil, `{}`, nil)); r.Status != 403 {
			t.Fatalf("user %d: %d %s", admin, r.Status, r.Raw)
		}
	}
	// A user's roles are read once for a burst of creates.
	e.portal.ResetRequests()
	for i := 0; i < 3; i++ {
		if r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil)); r.Status != 201 {
			t.Fatalf("user 2: %d %s", r.Status, r.Raw)
		}
	}
	reads := 0
	for _, req := range e.portal.Requests() {
		if req.Method == http.MethodGet && req.Path == "/setting/admins/2" {
			reads++
		}
	}
	if reads != 1 {
		t.Fatalf("roles read %d times", reads)
	}
	// Reducing an administrator's power stays allowed.
	adminTok := e.seed(lmsandbox.TokenSpec{AdminID: 1, Note: "old admin token"})
	if r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(1, adminTok.ID), nil, `{"enabled":false}`, nil)); r.Status != 200 {
		t.Fatalf("toggle: %d %s", r.Status, r.Raw)
	}
	if r := e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(1, adminTok.ID), nil, "", nil)); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
}

// Who created token 9: the caller's IAM ARN is in the answer, on the key's
// secret (tag and field) and in every log line, with API Gateway's request
// id, which the stack's access log records too.
func TestAuditTrailJoins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	const arn = "arn:aws:iam::123456789012:role/deploy-pipeline"
	apiRequestID := fmt.Sprintf("c0ffee-%d", time.Now().UnixNano())
	ev := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"audited"}`, nil)
	ev.RequestContext = events.APIGatewayProxyRequestContext{RequestID: apiRequestID, Stage: "v1", ResourcePath: ev.Resource, HTTPMethod: "POST",
		Identity: events.APIGatewayRequestIdentity{UserArn: arn, Caller: "AROAEXAMPLE:session", AccountID: "123456789012"}}
	r := e.http(handlers.Create, ev)
	if r.Status != 201 || r.Body["createdBy"] != arn {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	sec, _ := e.sm.Get(r.Body["secret"].(map[string]any)["name"].(string))
	var stored map[string]any
	_ = json.Unmarshal([]byte(sec.Value), &stored)
	if sec.Tags["lmtokens:created-by"] != arn || stored["createdBy"] != arn {
		t.Fatalf("secret: tags %v, createdBy %v", sec.Tags, stored["createdBy"])
	}
	var line string
	for _, l := range strings.Split(allLogs.String(), "\n") {
		if strings.Contains(l, apiRequestID) {
			line = l
		}
	}
	if !strings.Contains(line, `"caller":"`+arn+`"`) || !strings.Contains(line, `"path":"/admins/2/tokens"`) {
		t.Fatalf("log line: %s", line)
	}
	// HTTP API callers, and the kinds of other invokers.
	h := httpAPI("GET", "/tokens", nil, "", "", nil)
	h.RequestContext.RequestID = apiRequestID + "-h"
	h.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: arn}}
	e.http(handlers.List, h)
	if !strings.Contains(allLogs.String(), `"caller":"`+arn+`","apiRequestId":"`+apiRequestID+`-h"`) {
		t.Fatal("HTTP API caller not logged")
	}
	out, err := e.invoke(handlers.Create, map[string]any{"adminId": 2, "note": "direct"})
	if err != nil || toMap(t, out)["createdBy"] != "direct" {
		t.Fatalf("direct: %v %v", out, err)
	}
}

// A protected user's token may lose power, never gain it: toggle disables
// an administrator's token and refuses to enable it again (403), changing
// nothing.
func TestToggleNeverEnablesAProtectedUsersToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	admin := e.seed(lmsandbox.TokenSpec{AdminID: 1, Note: "root's"})
	if r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(1, admin.ID), nil, `{"enabled":false}`, nil)); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Raw)
	}
	r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(1, admin.ID), nil, `{"enabled":true}`, nil))
	if r.Status != 403 || !strings.Contains(r.Raw, "does not enable") {
		t.Fatalf("enable an administrator's token: %d %s", r.Status, r.Raw)
	}
	if tok, _ := e.portal.Token(admin.ID); tok.Status != 1 {
		t.Fatal("the administrator's token was enabled")
	}
	// A note change alone stays allowed.
	if r := e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(1, admin.ID), nil, `{"note":"retired"}`, nil)); r.Status != 200 {
		t.Fatalf("note: %d %s", r.Status, r.Raw)
	}
}
