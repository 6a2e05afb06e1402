package handlers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// detailOf decodes an event's detail.
func detailOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Each change through the API emits exactly one schema-valid event naming
// the caller, the token and, for create and delete, its secret; the create
// goes through the real binary.
func TestEveryChangeEmitsOneEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	const arn = "arn:aws:iam::123456789012:role/deployer"
	withCaller := func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
		ev.RequestContext.Identity.UserArn = arn
		return ev
	}
	create := e.startBinary(t, "create")
	r := binaryHTTP(t, create, withCaller(rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"evented"}`, nil)))
	var out tokens.CreateOutput
	r.into(t, &out)
	evs := e.events(t)
	if len(evs) != 1 || evs[0].DetailType != lifecycle.TokenCreated {
		t.Fatalf("create emitted %v", evs)
	}
	d := detailOf(t, evs[0].Detail)
	if d["caller"] != arn || d["tokenId"] != float64(out.ID) || d["secret"].(map[string]any)["name"] != out.Secret.Name || d["reason"] != "request" || d["requestId"] == "" {
		t.Fatalf("created: %s", evs[0].Detail)
	}

	e.eb.Reset()
	e.http(handlers.Toggle, withCaller(rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, out.ID), nil, `{"enabled":false,"note":"paused"}`, nil)))
	evs = e.events(t)
	if len(evs) != 1 || evs[0].DetailType != lifecycle.TokenUpdated {
		t.Fatalf("toggle emitted %v", evs)
	}
	d = detailOf(t, evs[0].Detail)
	if fmt.Sprint(d["before"]) != "map[note:evented status:2]" || fmt.Sprint(d["after"]) != "map[note:paused status:1]" || d["caller"] != arn {
		t.Fatalf("updated: %s", evs[0].Detail)
	}

	e.eb.Reset()
	if _, err := e.invoke(handlers.Delete, map[string]any{"adminId": 2, "tokenId": out.ID}); err != nil {
		t.Fatal(err)
	}
	evs = e.events(t)
	if len(evs) != 1 || evs[0].DetailType != lifecycle.TokenDeleted {
		t.Fatalf("delete emitted %v", evs)
	}
	d = detailOf(t, evs[0].Detail)
	if d["caller"] != "direct" || d["note"] != "paused" || d["secret"].(map[string]any)["deletionDate"] == nil {
		t.Fatalf("deleted: %s", evs[0].Detail)
	}

	// Reads and refused requests change nothing and emit nothing.
	e.eb.Reset()
	e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(1, 0), nil, `{}`, nil)) // an administrator: 403
	if evs := e.events(t); len(evs) != 0 {
		t.Fatalf("%d events without a change", len(evs))
	}
}

// Cleanup emits a warning per token within warnDays of eligibility that
// no mark covers (none in a dry run, which still reports them), one event
// per change, and its summary.
func TestCleanupEventsAndWarnings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "stale", CreatedDaysAgo: 400, LastUsedDaysAgo: 120})
	soon := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "soon", CreatedDaysAgo: 400, LastUsedDaysAgo: 76.5}) // eligible in 13.5 days
	e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "later", CreatedDaysAgo: 400, LastUsedDaysAgo: 50})
	warn := "CLEANUP_WARN_DAYS=14"

	dry := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{"dryRun": true}}, warn)
	if len(dry.Warnings) != 2 || dry.Warnings[0].TokenID != stale.ID || dry.Warnings[1].TokenID != soon.ID {
		t.Fatalf("dry run warnings %+v", dry.Warnings)
	}
	evs := e.events(t)
	if len(evs) != 1 || evs[0].DetailType != lifecycle.CleanupRunCompleted || len(e.db.Items(marksTable)) != 0 {
		t.Fatalf("a dry run emitted %v or marked", evs)
	}

	e.eb.Reset()
	rep := e.cleanup(handlers.Toggle, scheduledEvent, warn)
	kinds := map[string]int{}
	for _, ev := range e.events(t) {
		kinds[ev.DetailType]++
		d := detailOf(t, ev.Detail)
		if d["caller"] != "schedule" || d["reason"] != "cleanup" {
			t.Fatalf("%s: %s", ev.DetailType, ev.Detail)
		}
		switch ev.DetailType {
		case lifecycle.TokenWillBeDisabled:
			if d["eligibleOn"] == nil || d["actOn"] == nil || d["tokenId"] == float64(soon.ID) && d["adminName"] != "grafana@example.com" {
				t.Fatalf("warning: %s", ev.Detail)
			}
		case lifecycle.CleanupRunCompleted:
			if d["succeeded"] != 0.0 || d["warned"] != 2.0 || d["outcome"] != "ok" {
				t.Fatalf("summary: %s", ev.Detail)
			}
		}
	}
	if kinds[lifecycle.TokenWillBeDisabled] != 2 || kinds[lifecycle.CleanupRunCompleted] != 1 || len(kinds) != 2 || rep.Marked != 2 {
		t.Fatalf("events %v, marked %d", kinds, rep.Marked)
	}

	// Without warnings the stale token is disabled at once: one event.
	e.eb.Reset()
	e.cleanup(handlers.Toggle, scheduledEvent)
	var updated []map[string]any
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenUpdated {
			updated = append(updated, detailOf(t, ev.Detail))
		}
	}
	if len(updated) != 1 || updated[0]["tokenId"] != float64(stale.ID) || fmt.Sprint(updated[0]["after"]) != "map[note:stale status:1]" {
		t.Fatalf("updated: %v", updated)
	}
	// The delete stage warns before deleting.
	e.eb.Reset()
	e.cleanup(handlers.Delete, map[string]any{"cleanup": map[string]any{}}, "CLEANUP_UNUSED_DAYS=134", warn)
	var warned []string
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenWillBeDeleted {
			warned = append(warned, string(ev.Detail))
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], fmt.Sprintf(`"tokenId":%d`, stale.ID)) {
		t.Fatalf("delete warnings %v", warned)
	}
}

// An event that cannot be delivered never fails or undoes the change: the
// log carries it in full.
func TestUndeliveredEventsStayInTheLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.eb.FailCalls(100)
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"kept anyway"}`, nil))
	if r.Status != 201 {
		t.Fatalf("the change failed with its event: %d %s", r.Status, r.Raw)
	}
	id := int64(r.Body["id"].(float64))
	if _, ok := e.portal.Token(id); !ok {
		t.Fatal("the change was undone")
	}
	want := fmt.Sprintf(`"tokenId":%d`, id)
	var line string
	for _, l := range strings.Split(allLogs.String(), "\n") {
		if strings.Contains(l, `"msg":"event not delivered"`) && strings.Contains(l, want) {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, `"detailType":"API Token Created"`) || !strings.Contains(line, `"eventDeliveryFailed":1`) {
		t.Fatalf("no log line carries the lost event")
	}
	// Entries refused one by one are retried.
	e.eb.FailCalls(0)
	e2 := newEnv(t, lmsandbox.Config{})
	e2.eb.FailEntries(1)
	e2.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil))
	if evs := e2.events(t); len(evs) != 1 {
		t.Fatalf("%d events after a refused entry", len(evs))
	}
}

// Where a token was last used from (LogicMonitor's lastAuthIp) is in the
// list, the inventory, the warning, the action's event and the run's
// summary.
func TestLastAuthIPWhereverATokenIsShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	const ip = "203.0.113.7"
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "used from afar", CreatedDaysAgo: 400, LastUsedDaysAgo: 120, LastAuthIP: ip})
	for _, q := range []map[string]string{nil, {"all": "true"}} {
		r := e.http(handlers.List, rest("GET", "/tokens", nil, q, "", nil))
		var page struct {
			Items []struct {
				ID         int64  `json:"id"`
				LastAuthIP string `json:"lastAuthIp"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &page); err != nil || r.Status != 200 {
			t.Fatalf("list %v: %d %s", q, r.Status, r.Raw)
		}
		found := false
		for _, it := range page.Items {
			found = found || it.ID == tok.ID && it.LastAuthIP == ip
		}
		if !found {
			t.Errorf("list %v does not show token %d's lastAuthIp: %s", q, tok.ID, r.Raw)
		}
	}
	warn := "CLEANUP_WARN_DAYS=14"
	e.cleanup(handlers.Toggle, scheduledEvent, warn)
	e.passDays(14.01)
	rep := e.cleanup(handlers.Toggle, scheduledEvent, warn)
	if rep.Succeeded != 1 || rep.Actions[0].LastAuthIP != ip {
		t.Fatalf("the run's report: %+v", rep.Actions)
	}
	seen := map[string]bool{}
	for _, ev := range e.events(t) {
		d := detailOf(t, ev.Detail)
		switch ev.DetailType {
		case lifecycle.TokenWillBeDisabled, lifecycle.TokenUpdated:
			seen[ev.DetailType] = d["lastAuthIp"] == ip
		case lifecycle.CleanupRunCompleted:
			if acts, _ := d["actions"].([]any); len(acts) == 1 {
				seen[ev.DetailType] = acts[0].(map[string]any)["lastAuthIp"] == ip
			}
		}
	}
	for _, k := range []string{lifecycle.TokenWillBeDisabled, lifecycle.TokenUpdated, lifecycle.CleanupRunCompleted} {
		if !seen[k] {
			t.Errorf("%s does not carry lastAuthIp %s", k, ip)
		}
	}
}
