package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// portalsEnv adds registered portals to the env: each a company of one
// multi-portal sandbox, with users 1 (the service user, administrator) and
// 2, and its credentials secret lmtokens/portals/<company>.
func portalsEnv(t *testing.T, companies ...string) (*env, *lmsandbox.MultiServer) {
	e := newEnv(t, lmsandbox.Config{})
	multi := lmsandbox.NewMultiServer()
	t.Cleanup(func() {
		for _, c := range companies {
			if p := multi.Portal(c); p != nil {
				for _, tok := range p.Tokens() {
					secretsSeen.Lock()
					secretsSeen.keys = append(secretsSeen.keys, tok.AccessKey)
					secretsSeen.Unlock()
				}
			}
		}
		multi.Close()
	})
	for _, c := range companies {
		e.addPortal(multi, c)
	}
	return e, multi
}

func (e *env) addPortal(multi *lmsandbox.MultiServer, company string, extra ...string) *lmsandbox.Portal {
	p, url := multi.AddPortal(company, lmsandbox.Config{})
	p.AddAdmin(lmsandbox.Admin{ID: 1, Username: "lmtokens@" + company + ".example", Roles: []string{"administrator"}})
	p.AddAdmin(lmsandbox.Admin{ID: 2, Username: "ci@" + company + ".example"})
	own, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 1, Note: "lmtokens service"})
	if err != nil {
		e.t.Fatal(err)
	}
	fields := ""
	for _, x := range extra {
		fields += "," + x
	}
	e.sm.Put("lmtokens/portals/"+company, fmt.Sprintf(`{"company":%q,"accessId":%q,"accessKey":%q,"baseUrl":%q%s}`, company, own.AccessID, own.AccessKey, url, fields))
	return p
}

func portalRoute(method, tmpl, portal string, admin, token int64, body string, hdr map[string]string) any {
	params := ids(admin, token)
	if admin == 0 {
		delete(params, "adminId")
	}
	params["portal"] = portal
	return rest(method, tmpl, params, nil, body, hdr)
}

func TestPortalsAreDiscoveredAndIsolated(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex", "initech")
	globex := multi.Portal("globex")

	// GET /portals: the default portal and every registered one, checked.
	var ps tokens.PortalsOutput
	r := e.http(handlers.List, rest("GET", "/portals", nil, nil, "", nil))
	r.into(t, &ps)
	if r.Status != 200 || len(ps.Portals) != 3 || ps.Portals[0].Name != "acme" || !ps.Portals[0].Default || ps.Portals[1].Name != "globex" || ps.Portals[2].Credentials != "ok" {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}

	// Create in globex: the token is there, its key under the portal's prefix.
	r = e.http(handlers.Create, portalRoute("POST", "/portals/{portal}/admins/{adminId}/tokens", "globex", 2, 0, `{"note":"globex ci"}`, map[string]string{"Idempotency-Key": "same-key"}))
	var out tokens.CreateOutput
	if r.into(t, &out); r.Status != 201 || out.Secret.Name != fmt.Sprintf("logicmonitor/api-tokens/globex/2/%d", out.ID) {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	tok, ok := globex.Token(out.ID)
	sec, _ := e.sm.Get(out.Secret.Name)
	if !ok || tok.Note != "globex ci" || sec.Tags["lmtokens:portal"] != "globex" || !strings.Contains(sec.Value, tok.AccessKey) || !strings.Contains(sec.Value, `"company":"globex"`) {
		t.Fatalf("token %+v, secret %+v", tok, sec.Tags)
	}
	// The same idempotency key in another portal is another request.
	r = e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"globex ci"}`, map[string]string{"Idempotency-Key": "same-key"}))
	if r.Status != 201 || int64(r.Body["id"].(float64)) == out.ID && r.Body["secret"].(map[string]any)["name"] == out.Secret.Name {
		t.Fatalf("default portal with the same key: %d %s", r.Status, r.Raw)
	}

	// A delete through the default portal never reaches globex's token or key.
	e.http(handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, out.ID), nil, "", nil))
	if _, ok := globex.Token(out.ID); !ok {
		t.Fatal("a default-portal delete removed globex's token")
	}
	if sec, _ := e.sm.Get(out.Secret.Name); !sec.DeletedDate.IsZero() {
		t.Fatal("a default-portal delete scheduled globex's key")
	}
	// Through globex it goes, with its key.
	if r := e.http(handlers.Delete, portalRoute("DELETE", "/portals/{portal}/admins/{adminId}/tokens/{tokenId}", "globex", 2, out.ID, "", nil)); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if sec, _ := e.sm.Get(out.Secret.Name); sec.DeletedDate.IsZero() {
		t.Fatal("globex's key not scheduled for deletion")
	}

	// Every shape names the portal: HTTP API, direct, EventBridge.
	if r := e.http(handlers.List, httpAPI("GET", "/portals/{portal}/admins/{adminId}/tokens", map[string]string{"portal": "initech", "adminId": "1"}, "", "", nil)); r.Status != 200 || r.Body["total"] != 1.0 {
		t.Fatalf("HTTP API: %d %s", r.Status, r.Raw)
	}
	listed, err := e.invoke(handlers.List, map[string]any{"portal": "initech", "adminId": 1})
	if err != nil || toMap(t, listed)["total"] != 1.0 {
		t.Fatalf("direct list: %v %v", listed, err)
	}
	made, err := e.invoke(handlers.Create, map[string]any{"source": "ops", "detail-type": "CreateToken", "detail": map[string]any{"portal": "initech", "adminId": 2}})
	if err != nil || !strings.HasPrefix(toMap(t, made)["secret"].(map[string]any)["name"].(string), "logicmonitor/api-tokens/initech/2/") {
		t.Fatalf("EventBridge create: %v %v", made, err)
	}

	// Unknown and invalid portals.
	if r := e.http(handlers.List, portalRoute("GET", "/portals/{portal}/tokens", "hooli", 0, 0, "", nil)); r.Status != 404 || !strings.Contains(r.Raw, "lmtokens/portals/hooli") {
		t.Fatalf("unknown portal: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{"Globex", "glo_bex", "1globex", "idempotency", "-x"} {
		if r := e.http(handlers.List, portalRoute("GET", "/portals/{portal}/tokens", bad, 0, 0, "", nil)); r.Status != 400 {
			t.Fatalf("portal %q: %d %s", bad, r.Status, r.Raw)
		}
	}
	_, err = e.invoke(handlers.Create, map[string]any{"portal": "nope", "adminId": 2})
	fnError(t, err, handlers.TypeNotFound, "no portal")
}

// A portal registered after the functions started is served within seconds,
// without a redeploy; a portal whose secret names another company is a
// configuration error, never the other company's portal.
func TestPortalRegisteredWhileRunning(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex")
	c := newClock()
	svc := e.serviceOn(e.cfg, c)
	if r := e.httpWith(svc, handlers.List, rest("GET", "/portals", nil, nil, "", nil)); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	e.addPortal(multi, "umbrella")
	// A name not found is looked up again only once the list is 5 s old.
	if r := e.httpWith(svc, handlers.List, portalRoute("GET", "/portals/{portal}/tokens", "umbrella", 0, 0, "", nil)); r.Status != 404 {
		t.Fatalf("a miss within 5 s read the list again: %d %s", r.Status, r.Raw)
	}
	c.Advance(5100 * time.Millisecond)
	if r := e.httpWith(svc, handlers.List, portalRoute("GET", "/portals/{portal}/tokens", "umbrella", 0, 0, "", nil)); r.Status != 200 || r.Body["total"] != 1.0 {
		t.Fatalf("new portal: %d %s", r.Status, r.Raw)
	}
	e.sm.Put("lmtokens/portals/wayne", `{"company":"globex","accessId":"x","accessKey":"y"}`)
	c.Advance(5100 * time.Millisecond)
	if r := e.httpWith(svc, handlers.List, portalRoute("GET", "/portals/{portal}/tokens", "wayne", 0, 0, "", nil)); r.Status != 500 || !strings.Contains(r.Raw, "must name its own portal") {
		t.Fatalf("mismatched company: %d %s", r.Status, r.Raw)
	}
}

// One cleanup run covers every portal at once, each with its own overrides
// (which only narrow); one portal failing is reported and stops no other.
func TestCleanupAcrossPortals(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex")
	initech := e.addPortal(multi, "initech", `"cleanup":{"unusedDays":365}`)
	hooli := e.addPortal(multi, "hooli")
	e.sm.Put("lmtokens/portals/hooli", `{"company":"hooli","accessId":"WrongAccessId","accessKey":"wrong"}`)
	e.addPortal(multi, "wide", `"cleanup":{"unusedDays":1}`)
	stale := map[string]lmsandbox.Token{}
	stale["acme"] = e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 200})
	for name, p := range map[string]*lmsandbox.Portal{"globex": multi.Portal("globex"), "initech": initech, "hooli": hooli} {
		tok, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 200})
		if err != nil {
			t.Fatal(err)
		}
		stale[name] = tok
	}
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Outcome != "partial" || len(rep.Portals) != 5 || rep.Succeeded != 2 {
		t.Fatalf("report %+v", rep)
	}
	sections := map[string]cleanup.Report{}
	for _, p := range rep.Portals {
		sections[p.Portal] = p
	}
	if sections[""].Succeeded != 1 || sections["globex"].Succeeded != 1 || sections["initech"].Skipped[cleanup.SkipFresh] < 1 ||
		sections["initech"].Policy.UnusedDays != 365 || sections["hooli"].Outcome != "failed" || sections["wide"].Outcome != "failed" ||
		!strings.Contains(strings.Join(sections["wide"].Errors, " "), "only narrow") {
		t.Fatalf("sections %+v", sections)
	}
	for name, p := range map[string]*lmsandbox.Portal{"globex": multi.Portal("globex"), "initech": initech} {
		got, _ := p.Token(stale[name].ID)
		if want := map[string]int{"globex": 1, "initech": 2}[name]; got.Status != want {
			t.Errorf("%s: status %d, want %d", name, got.Status, want)
		}
	}
	if got, _ := e.portal.Token(stale["acme"].ID); got.Status != 1 {
		t.Error("the default portal's stale token was not disabled")
	}
	if len(rep.Actions) != 2 || rep.Actions[0].Portal == rep.Actions[1].Portal {
		t.Fatalf("actions %+v", rep.Actions)
	}
}

// The whole inventory in one call, bounded.
func TestInventory(t *testing.T) {
	t.Parallel()
	e, _ := portalsEnv(t)
	for i := 0; i < 1500; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: fmt.Sprintf("t%d", i)})
	}
	e.seed(lmsandbox.TokenSpec{AdminID: 3, Type: "bearer"})
	var page tokens.ListOutput
	r := e.http(handlers.List, rest("GET", "/tokens", nil, map[string]string{"all": "true"}, "", nil))
	if r.into(t, &page); r.Status != 200 || page.Total != 1502 || len(page.Items) != 1502 {
		t.Fatalf("%d total %d items %d", r.Status, page.Total, len(page.Items))
	}
	out, err := e.invoke(handlers.List, map[string]any{"all": true, "type": "bearer"})
	if err != nil || toMap(t, out)["total"] != 1.0 {
		t.Fatalf("direct: %v %v", out, err)
	}
	// A portal larger than one answer carries: a clear 413 that says to page.
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Count: 2, Body: `{"total":20000,"searchId":null,"items":[]}`})
	r = e.http(handlers.List, rest("GET", "/tokens", nil, map[string]string{"all": "true"}, "", nil))
	if r.Status != 413 || !strings.Contains(r.Raw, "page through it") {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
}

// A portal can never be named default (the default portal's name in the
// provider's physical ids), idempotency or rotated-out (the folders under
// the key prefix): such a name is a 400, a secret registering one is not a
// portal, and a resource naming one fails, so a portal and the default
// portal never share a physical id or a key name.
func TestReservedPortalNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for _, name := range []string{"default", "idempotency", "rotated-out"} {
		e.sm.Put("lmtokens/portals/"+name, `{"company":"`+name+`","accessId":"x","accessKey":"y"}`)
		if r := e.http(handlers.Create, portalRoute("POST", "/portals/{portal}/admins/{adminId}/tokens", name, 2, 0, `{}`, nil)); r.Status != 400 || !strings.Contains(r.Raw, "reserves") {
			t.Errorf("create in portal %q: %d %s", name, r.Status, r.Raw)
		}
	}
	var ps tokens.PortalsOutput
	r := e.http(handlers.List, rest("GET", "/portals", nil, nil, "", nil))
	if r.into(t, &ps); len(ps.Portals) != 1 {
		t.Errorf("reserved names listed as portals: %s", r.Raw)
	}
	before := len(e.portal.Tokens())
	rcv := newReceiver(t)
	ans := rcv.sender(t, e.startBinary(t, "provider"))(cfnEvent(rcv, cfn.RequestCreate, "reserved-1", "", map[string]any{"AdminId": "2", "Portal": "default"}, nil))
	if ans.Status != cfn.StatusFailed || !strings.Contains(ans.Reason, "reserves") || len(e.portal.Tokens()) != before {
		t.Fatalf("a resource in portal \"default\": %+v", ans)
	}
}

// The inventory's limits through the real list binary: an answer measured
// as Lambda returns it (the API Gateway envelope escapes the body again)
// is a 413 once it would pass 6 MB, though its body alone is under the 5 MiB
// bound; a portal that reports a negative total is refused, naming it; a
// token deleted while the pages are read costs no live token its place.
func TestInventoryLimitsAsLambdaReturnsThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	quotes := strings.Repeat(`"`, 990) // each becomes \" in the body, \\\" in the envelope
	for i := 0; i < 2400; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: quotes})
	}
	list := e.startBinary(t, "list")
	res := invokeBinary(t, list, rest("GET", "/tokens", nil, map[string]string{"all": "true", "fields": "id,note"}, "", nil))
	if res.Failed() {
		t.Fatalf("an answer too large for Lambda failed the invocation: %+v", res)
	}
	r := binaryHTTP(t, list, rest("GET", "/tokens", nil, map[string]string{"all": "true", "fields": "id,note"}, "", nil))
	if r.Status != 413 || !strings.Contains(r.Raw, "6 MB") {
		t.Fatalf("an inventory over 6 MB as returned: %d %.300s", r.Status, r.Raw)
	}
	// Smaller, it fits.
	if r := binaryHTTP(t, list, rest("GET", "/tokens", nil, map[string]string{"all": "true", "fields": "id"}, "", nil)); r.Status != 200 {
		t.Fatalf("the ids alone: %d %.300s", r.Status, r.Raw)
	}

	// A token deleted while the inventory is read.
	victim := e.portal.Tokens()[3].ID
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Then: func(p *lmsandbox.Portal) { p.RemoveToken(victim) }})
	r = binaryHTTP(t, list, rest("GET", "/tokens", nil, map[string]string{"all": "true", "fields": "id"}, "", nil))
	var out tokens.ListOutput
	r.into(t, &out)
	if r.Status != 200 || out.Total != len(e.portal.Tokens()) || out.ChangedDuringListing {
		t.Fatalf("inventory while a token was deleted: %d, %d tokens of %d, changed %v", r.Status, out.Total, len(e.portal.Tokens()), out.ChangedDuringListing)
	}

	// A portal that answers a negative total.
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Count: 2, Status: 200, Body: `{"total":-60000,"searchId":null,"items":[]}`})
	r = binaryHTTP(t, list, rest("GET", "/tokens", nil, map[string]string{"all": "true"}, "", nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "negative total") {
		t.Fatalf("a negative total: %d %.300s", r.Status, r.Raw)
	}
}

// With warnings on, each portal's own report counts its own marks, and the
// total is their sum.
func TestWarningsAcrossPortals(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex")
	e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 200})
	for range 2 {
		if _, err := multi.Portal("globex").AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 200}); err != nil {
			t.Fatal(err)
		}
	}
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}}, "CLEANUP_WARN_DAYS=14")
	marked := map[string]int{}
	for _, p := range rep.Portals {
		marked[p.Portal] = p.Marked
	}
	if rep.Marked != 3 || marked[""] != 1 || marked["globex"] != 2 || rep.Succeeded != 0 {
		t.Fatalf("marked %d in all, by portal %v", rep.Marked, marked)
	}
}

// A run over many portals reads at most four portals' listings at once: a
// listing is most of a run's memory, and read all at once they would all
// finish late together. With every listing slowed, no more than four
// portals are being listed at any moment, and every portal is cleaned.
func TestRunReadsFourListingsAtOnce(t *testing.T) {
	t.Parallel()
	companies := []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}
	e, multi := portalsEnv(t, companies...)
	const slow = 150 * time.Millisecond
	portals := []*lmsandbox.Portal{e.portal.Portal}
	for _, c := range companies {
		portals = append(portals, multi.Portal(c))
	}
	for _, p := range portals {
		if _, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300}); err != nil {
			t.Fatal(err)
		}
		p.Inject(lmsandbox.Fault{Method: "GET", Path: "/setting/admins/apitokens", Latency: slow, Count: 2})
	}
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Succeeded != len(portals) || rep.Outcome != "ok" {
		t.Fatalf("succeeded %d of %d, outcome %s, errors %v", rep.Succeeded, len(portals), rep.Outcome, rep.Errors)
	}
	type span struct{ from, to time.Time }
	var listings []span
	for _, p := range portals {
		var s span
		for _, r := range p.Requests() {
			if r.Method == "GET" && r.Path == "/setting/admins/apitokens" {
				if s.from.IsZero() || r.Received.Before(s.from) {
					s.from = r.Received
				}
				if end := r.Received.Add(slow); end.After(s.to) {
					s.to = end
				}
			}
		}
		listings = append(listings, s)
	}
	for _, s := range listings {
		at := 0
		for _, o := range listings {
			if !o.from.After(s.from) && o.to.After(s.from.Add(10*time.Millisecond)) {
				at++
			}
		}
		if at > 4 {
			t.Fatalf("%d portals were being listed at once, want at most 4", at)
		}
	}
}

// In a run over several portals, a portal's changes are announced as soon
// as that portal is done, not when the slowest portal is: a stale token of
// a quick portal is announced while a slow portal is still changing its
// own.
func TestEachPortalsEventsGoOutWhenItIsDone(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "slow")
	quick, slow := e.portal.Portal, multi.Portal("slow")
	q, err := quick.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300}); err != nil {
		t.Fatal(err)
	}
	slow.Inject(lmsandbox.Fault{Method: "PATCH", Latency: 600 * time.Millisecond})
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Succeeded != 2 {
		t.Fatalf("succeeded %d, errors %v", rep.Succeeded, rep.Errors)
	}
	var slowPatch time.Time
	for _, r := range slow.Requests() {
		if r.Method == "PATCH" {
			slowPatch = r.Received.Add(600 * time.Millisecond) // its answer
		}
	}
	for _, ev := range e.events(t) {
		if ev.DetailType == "API Token Updated" && detailOf(t, ev.Detail)["accessId"] == q.AccessID {
			if !ev.Received.Before(slowPatch) {
				t.Fatalf("the quick portal's change was announced at %v, after the slow portal's change answered (%v)", ev.Received, slowPatch)
			}
			return
		}
	}
	t.Fatal("the quick portal's change was not announced")
}

// The re-read before a batch of changes fails closed: when its answers are
// lost past every retry, none of the batch's tokens is changed (each is
// reported as an error, the run partial or failed), and the next run,
// whose re-read answers, acts on them.
func TestLostRereadChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seedStale(3)
	e.portal.Inject(lmsandbox.Fault{Method: "GET", Path: "/setting/admins/2/apitokens", Drop: true, Count: 20})
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Succeeded != 0 || rep.Failed != len(stale) || rep.Outcome == "ok" {
		t.Fatalf("with the re-read lost: succeeded %d, failed %d, outcome %s", rep.Succeeded, rep.Failed, rep.Outcome)
	}
	for _, tok := range stale {
		if got, _ := e.portal.Token(tok.ID); got.Status != 2 {
			t.Fatalf("token %d was changed though its re-read was lost", tok.ID)
		}
	}
	if n := e.portal.CountRequests("PATCH"); n != 0 {
		t.Fatalf("%d changes sent without a re-read", n)
	}
	e.portal.ClearFaults()
	if rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}}); rep.Succeeded != len(stale) {
		t.Fatalf("the next run: succeeded %d, errors %v", rep.Succeeded, rep.Errors)
	}
}
