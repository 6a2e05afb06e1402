package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
)

// Cleanup's safety guarantees, each through the real cleanup binaries (the
// toggle and delete binaries with CLEANUP_ENABLED=true) against the sandbox.

func (e *env) cleanupFn(t *testing.T, fn string, settings ...string) *lambdaruntime.Function {
	return e.startBinary(t, fn, append([]string{"CLEANUP_ENABLED=true"}, settings...)...)
}

func runReport(t *testing.T, f *lambdaruntime.Function, event any) cleanup.Report {
	t.Helper()
	return runReportWithin(t, f, event, 20*time.Second)
}

// runReportWithin runs a cleanup whose invocation may last up to d.
func runReportWithin(t *testing.T, f *lambdaruntime.Function, event any, d time.Duration) cleanup.Report {
	t.Helper()
	res := invokeBinaryWithin(t, f, event, d)
	if res.Failed() {
		t.Fatalf("cleanup failed: %s: %s", res.ErrorType, res.ErrorMessage)
	}
	var rep cleanup.Report
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		t.Fatalf("not a report: %s", res.Payload)
	}
	return rep
}

// afterListing makes change run right after the run's listing (both token
// types' first pages), before any token is re-read.
func afterListing(p *lmsandbox.Server, change func(*lmsandbox.Portal)) {
	p.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens"}) // the first page of one type: as is
	p.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Then: change})
}

var runNow = map[string]any{"cleanup": map[string]any{}}

func TestCleanupActsOnlyOnFreshRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	reenabled := e.seed(lmsandbox.TokenSpec{AdminID: 2, Status: 1, Note: "paused", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	afterListing(e.portal, func(p *lmsandbox.Portal) {
		p.Update(reenabled.ID, func(t *lmsandbox.Token) { t.Status, t.LastUsedOn = 2, time.Now().Unix() })
	})
	rep := runReport(t, e.cleanupFn(t, "delete"), runNow)
	if _, ok := e.portal.Token(reenabled.ID); !ok || rep.Skipped[cleanup.SkipChanged] != 1 || rep.Succeeded != 0 {
		t.Fatalf("a token re-enabled and used after the listing was deleted: %+v", rep)
	}

	kept := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "old laptop", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	renamed := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "old", CreatedDaysAgo: 700, LastUsedDaysAgo: 400})
	afterListing(e.portal, func(p *lmsandbox.Portal) {
		p.Update(kept.ID, func(t *lmsandbox.Token) { t.Note = "old laptop #keep" })
		p.Update(renamed.ID, func(t *lmsandbox.Token) { t.Note = "old, renamed since" })
	})
	rep = runReport(t, e.cleanupFn(t, "toggle"), runNow)
	k, _ := e.portal.Token(kept.ID)
	r, _ := e.portal.Token(renamed.ID)
	if k.Status != 2 || k.Note != "old laptop #keep" {
		t.Fatalf("a token marked #keep after the listing: %+v", k)
	}
	if r.Status != 1 || r.Note != "old, renamed since" {
		t.Fatalf("disable must change the status only, keeping the fresh note: %+v", r)
	}
	if rep.Skipped[cleanup.SkipChanged] != 1 || rep.Succeeded < 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestCleanupSkipsIncompleteRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{KeepLastUsed: true})
	own := e.portal.Tokens()[0]
	e.portal.Age(own.ID, 400, 200) // in use, but the portal shows it unused
	e.portal.StripFields(own.ID, "accessId")
	usedRecently := e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 0.04})
	e.portal.StripFields(usedRecently.ID, "lastUsedOn")
	keep := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "break-glass #keep", CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	e.portal.StripFields(keep.ID, "note")
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 3, CreatedDaysAgo: 900, LastUsedDaysAgo: 800})

	f := e.cleanupFn(t, "toggle")
	rep := runReport(t, f, runNow)
	if rep.Skipped[cleanup.SkipIncomplete] != 3 || rep.Succeeded != 1 || rep.Actions[0].TokenID != stale.ID {
		t.Fatalf("report %+v", rep)
	}
	for _, tok := range []lmsandbox.Token{own, usedRecently, keep} {
		got, _ := e.portal.Token(tok.ID)
		if got.Status != 2 || got.Note != tok.Note {
			t.Fatalf("incomplete record %d was changed: %+v", tok.ID, got)
		}
	}
	// The functions still get in with their own token.
	if rep := runReport(t, f, runNow); rep.Outcome != "ok" {
		t.Fatalf("second run %+v", rep)
	}
}

// The functions' own token looks unused for 200 days (the portal stamps
// lastUsedOn lazily); it is never touched, with LMv1 or bearer credentials.
func TestCleanupNeverTouchesTheFunctionsOwnToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{KeepLastUsed: true})
	lmv1 := e.portal.Tokens()[0]
	e.portal.Age(lmv1.ID, 400, 200)
	bearer := e.seed(lmsandbox.TokenSpec{AdminID: 1, Type: "bearer", Note: "lmtokens service (bearer)", CreatedDaysAgo: 400, LastUsedDaysAgo: 200})
	other := e.seed(lmsandbox.TokenSpec{AdminID: 1, Note: "admin's old laptop", CreatedDaysAgo: 400, LastUsedDaysAgo: 200})

	rep := runReport(t, e.cleanupFn(t, "toggle", "CLEANUP_DRY_RUN=true"), runNow)
	if rep.Skipped[cleanup.SkipSelf] != 1 {
		t.Fatalf("LMv1: %+v", rep)
	}

	for name, c := range map[string]struct {
		ids       string
		wantSkip  string
		wantError string
	}{
		"bearer naming its token": {fmt.Sprintf(`,"adminId":1,"tokenId":%d`, bearer.ID), cleanup.SkipSelf, ""},
		"bearer naming its user":  {`,"adminId":1`, cleanup.SkipSelfUser, ""},
		"bearer naming nothing":   {"", "", "cannot be identified"},
	} {
		secret := "lmtokens/bearer-" + strings.ReplaceAll(name, " ", "-")
		e.sm.Put(secret, fmt.Sprintf(`{"company":"acme","bearerToken":%q%s}`, bearer.AccessKey, c.ids))
		f := e.cleanupFn(t, "toggle", "LM_CREDENTIALS_SECRET="+secret, "CLEANUP_DRY_RUN=true")
		if c.wantError != "" {
			res := invokeBinary(t, f, runNow)
			if res.ErrorType != handlers.TypeConfiguration || !strings.Contains(res.ErrorMessage, c.wantError) {
				t.Fatalf("%s: %+v", name, res)
			}
			continue
		}
		rep := runReport(t, f, runNow)
		if rep.Skipped[c.wantSkip] == 0 {
			t.Fatalf("%s: %+v", name, rep)
		}
		for _, a := range rep.Actions {
			if a.TokenID == bearer.ID {
				t.Fatalf("%s: the run would disable its own token", name)
			}
		}
	}
	// For real, with the secret naming the token.
	rep = runReport(t, e.cleanupFn(t, "toggle", "LM_CREDENTIALS_SECRET=lmtokens/bearer-bearer-naming-its-token"), runNow)
	if got, _ := e.portal.Token(bearer.ID); got.Status != 2 {
		t.Fatalf("the functions' own bearer token was disabled: %+v", rep)
	}
	if got, _ := e.portal.Token(other.ID); got.Status != 1 {
		t.Fatal("naming the token must still let the run act on the user's other tokens")
	}
}

func TestCleanupEventsCanOnlyNarrow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	victim := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "#keep", Status: 1, CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	f := e.cleanupFn(t, "delete", "CLEANUP_DRY_RUN=true")
	for _, bad := range []string{
		`{"cleanup":{"dryRun":false}}`,
		`{"cleanup":{"unusedDays":1}}`,
		`{"cleanup":{"maxActions":10000}}`,
		`{"cleanup":{"keepMarker":"#nothing"}}`,
		`{"Cleanup":{}}`,
		`{"cleanup":{"DryRun":false}}`,
		`{"cleanup":{"dryRun":true,"dryRun":false}}`,
		`{"cleanup":{},"adminId":2,"tokenId":5}`,
		`{"source":"my.app","detail-type":"Cleanup","detail":{"cleanup":{}}}`,
		`{"source":"aws.events","detail-type":"Scheduled Event","detail":{"cleanup":{"dryRun":false}}}`,
	} {
		res := invokeBinary(t, f, json.RawMessage(bad))
		if res.ErrorType != handlers.TypeValidation {
			t.Fatalf("%s: %+v", bad, res)
		}
	}
	// The deployment's explicit setting permits widening.
	wide := e.cleanupFn(t, "delete", "CLEANUP_DRY_RUN=true", "CLEANUP_ALLOW_WIDENING=true")
	if rep := runReport(t, wide, json.RawMessage(`{"cleanup":{"dryRun":false,"unusedDays":30}}`)); rep.DryRun || rep.Policy.UnusedDays != 30 {
		t.Fatalf("allowed widening: %+v", rep)
	}
	if _, ok := e.portal.Token(victim.ID); !ok {
		t.Fatal("a #keep token was deleted")
	}

	// API functions run no cleanup, whatever the input says.
	del := e.startBinary(t, "delete")
	for _, bad := range []string{
		`{"adminId":2,"tokenId":5,"cleanup":{}}`,
		`{"cleanup":{}}`,
		`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`,
		`{"AdminId":2,"tokenId":5}`,
	} {
		if res := invokeBinary(t, del, json.RawMessage(bad)); res.ErrorType != handlers.TypeValidation {
			t.Fatalf("%s: %+v", bad, res)
		}
	}
	if e.mutations() != 0 {
		t.Fatal("a refused request changed the portal")
	}
}

// A listing cut short acts on nothing and says so.
func TestCleanupReportsAnIncompleteListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for i := 0; i < 2100; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	}
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Count: 2})
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Status: 500, Count: 100})
	res := invokeBinary(t, e.cleanupFn(t, "toggle"), runNow)
	if res.ErrorType != handlers.TypeUpstream || !strings.Contains(res.ErrorMessage, "acted on nothing") || !strings.Contains(res.ErrorMessage, "of 2") {
		t.Fatalf("%+v", res)
	}
	if e.mutations() != 0 {
		t.Fatal("a run that did not see every token acted")
	}
	want := `"outcome":"failed"`
	for i := 0; i < 100 && !strings.Contains(allLogs.String(), want); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(allLogs.String(), want) {
		t.Fatal("no failed report was logged")
	}
}

// Two delete stages at once: every token deleted once, its secret
// scheduled, and neither run reports an error.
func TestConcurrentCleanupRunsReportNoFalseErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	var made []int64
	for i := 0; i < 12; i++ {
		r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"status":1}`, nil))
		id := int64(r.Body["id"].(float64))
		e.portal.Age(id, 400, 300)
		made = append(made, id)
	}
	fns := []*lambdaruntime.Function{e.cleanupFn(t, "delete"), e.cleanupFn(t, "delete")}
	reps := make([]cleanup.Report, len(fns))
	var wg sync.WaitGroup
	raw, _ := json.Marshal(runNow)
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, _ := f.Invoke(ctx, raw)
			_ = json.Unmarshal(res.Payload, &reps[i])
		}()
	}
	wg.Wait()
	done := 0
	for _, rep := range reps {
		if rep.Outcome != "ok" || rep.Failed != 0 {
			t.Fatalf("report %+v", rep)
		}
		done += rep.Succeeded
	}
	if done < len(made) {
		t.Fatalf("%d deletions reported for %d tokens", done, len(made))
	}
	for _, id := range made {
		if _, ok := e.portal.Token(id); ok {
			t.Fatalf("token %d left", id)
		}
		if sec, _ := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/2/%d", id)); sec.DeletedDate.IsZero() {
			t.Fatalf("secret of %d not scheduled", id)
		}
	}
}
