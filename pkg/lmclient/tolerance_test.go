package lmclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// What LogicMonitor's documentation leaves open, each form a portal may
// plausibly send, served raw (not by the sandbox): the client must read
// every one, and take no safety decision from a field the schema lacks.

// rawPortal answers every request with body for the path it names.
func rawPortal(t *testing.T, bodies map[string]string) *lmclient.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/santaba/rest") + "?" + r.URL.Query().Get("type")
		body, ok := bodies[key]
		if !ok {
			t.Errorf("unexpected request %s", key)
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	auth, _ := lmauth.NewLMv1("OperatorAccessId0001", operatorKey)
	c, err := lmclient.New(lmclient.Options{BaseURL: srv.URL + "/santaba/rest", Auth: auth, AllowHTTPLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestARecordsTypeComesFromItsQuery(t *testing.T) {
	c := rawPortal(t, map[string]string{
		// LMv1 records as portals may send them: "api", "API Token", none.
		"GET /setting/admins/2/apitokens?": `{"total":3,"searchId":null,"items":[
			{"id":1,"adminId":2,"type":"api","accessId":"A1","status":2,"note":"","createdOn":1,"lastUsedOn":0},
			{"id":2,"adminId":2,"type":"API Token","accessId":"A2","status":2,"note":"","createdOn":1,"lastUsedOn":0},
			{"id":3,"adminId":2,"accessId":"A3","status":2,"note":"","createdOn":1,"lastUsedOn":0}]}`,
		// A bearer listing whose records say nothing, or something odd.
		"GET /setting/admins/2/apitokens?bearer": `{"total":2,"items":[
			{"id":4,"adminId":2,"accessId":"B4","status":2,"note":"","createdOn":1,"lastUsedOn":0},
			{"id":5,"adminId":2,"type":"api","accessId":"B5","status":2,"note":"","createdOn":1,"lastUsedOn":0}]}`,
		"POST /setting/admins/2/apitokens?":       `{"id":6,"adminId":2,"type":"API Token","accessId":"A6","accessKey":"k","status":2,"note":"n","createdOn":1}`,
		"POST /setting/admins/2/apitokens?bearer": `{"id":7,"adminId":2,"accessId":"B7","accessKey":"lmb_k","status":2,"note":"n","createdOn":1}`,
	})
	ctx := context.Background()
	toks, err := c.Tokens.ListAll(ctx, logicmonitor.ListAllOptions{AdminID: 2})
	if err != nil || len(toks) != 5 {
		t.Fatalf("%d tokens, %v", len(toks), err)
	}
	for _, tok := range toks {
		want := logicmonitor.TypeLMv1
		if tok.ID >= 4 {
			want = logicmonitor.TypeBearer
		}
		if tok.Type != want {
			t.Errorf("token %d has type %q, want %q (from its query)", tok.ID, tok.Type, want)
		}
	}
	for typ, id := range map[string]int64{logicmonitor.TypeLMv1: 6, logicmonitor.TypeBearer: 7} {
		made, err := c.Tokens.Create(ctx, 2, logicmonitor.CreateOptions{Type: typ, Note: "n"})
		if err != nil || made.ID != id || made.Type != typ {
			t.Errorf("create %s: %+v %v", typ, made, err)
		}
	}
}

func TestUnknownFieldsAndRolesInEitherForm(t *testing.T) {
	c := rawPortal(t, map[string]string{
		"GET /setting/admins/apitokens?": `{"total":2,"searchId":null,"_links":{"next":null},"items":[
			{"id":1,"adminId":2,"roles":["readonly"],"accessId":"A1","status":2,"note":"","createdOn":1,"lastUsedOn":0,"someNewField":{"x":[1,2]},"userPermission":"write"},
			{"roles":[{"id":3,"name":"administrator","description":"x"}],"id":2,"adminId":1,"accessId":"A2","status":1,"note":"","createdOn":1,"lastUsedOn":5,"lastAuthIp":"10.0.0.1","createdBy":"ops"}]}`,
		"GET /setting/admins/1?": `{"id":1,"username":"ops","roles":["administrator"],"status":"active","apionly":false}`,
		"GET /setting/admins/2?": `{"id":2,"username":"ci","roles":[{"id":4,"name":"readonly","privileges":[]}],"status":"suspended"}`,
		"GET /setting/admins/3?": `{"id":3,"username":"odd","roles":null,"status":"active"}`,
	})
	ctx := context.Background()
	l, err := c.Tokens.List(ctx, 0, logicmonitor.ListOptions{})
	if err != nil || len(l.Items) != 2 {
		t.Fatalf("list: %+v %v", l, err)
	}
	if l.Items[0].Roles[0] != "readonly" || l.Items[1].Roles[0] != "administrator" || l.Items[1].LastAuthIP != "10.0.0.1" {
		t.Errorf("roles or fields: %+v", l.Items)
	}
	for id, want := range map[int64]string{1: "administrator", 2: "readonly"} {
		a, err := c.Admins.Get(ctx, id)
		if err != nil || len(a.Roles) != 1 || a.Roles[0].Name != want {
			t.Errorf("user %d: %+v %v", id, a, err)
		}
	}
	if a, _ := c.Admins.Get(ctx, 2); a.Status != "suspended" {
		t.Errorf("user 2's status: %q", a.Status)
	}
	// Roles the portal does not say cannot be read as "none": a check that
	// depends on them (protected users) must fail closed.
	if _, err := c.Admins.Get(ctx, 3); err == nil {
		t.Error("a user without roles was read as a user with none")
	}
}
