package handlers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

var scheduledEvent = map[string]any{
	"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
	"source": "aws.events", "account": "123456789012", "time": "2026-11-23T03:00:00Z", "region": "us-east-1",
	"resources": []string{"arn:aws:events:us-east-1:123456789012:rule/lmtokens-disable"}, "detail": map[string]any{},
}

// cleanup runs a cleanup function (fn with CLEANUP_ENABLED=true) on event,
// with the CLEANUP_* settings given as KEY=VALUE.
func (e *env) cleanup(fn string, event any, settings ...string) cleanup.Report {
	e.t.Helper()
	out, err := e.invokeCleanup(fn, event, settings...)
	return report(e.t, out, err)
}

func (e *env) invokeCleanup(fn string, event any, settings ...string) (any, error) {
	e.t.Helper()
	// Warnings are off unless a test turns them on: most tests are about
	// what a run acts on.
	vars := map[string]string{"CLEANUP_ENABLED": "true", "CLEANUP_WARN_DAYS": "0"}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg := e.cfg
	var err error
	cfg.Cleanup, err = tokens.CleanupConfigFromEnv(func(k string) string { return vars[k] })
	o := e.options(cfg)
	o.ConfigErr = err
	return e.invokeWith(handlers.New(o), fn, event)
}

func report(t testing.TB, out any, err error) cleanup.Report {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	var r cleanup.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("not a report: %s", b)
	}
	if strings.Contains(string(b), "accessKey") {
		t.Fatalf("report mentions keys: %s", b)
	}
	return r
}

// staleEnv seeds tokens of every kind the policy must tell apart.
func staleEnv(t *testing.T) (*env, map[string]lmsandbox.Token) {
	e := newEnv(t, lmsandbox.Config{})
	toks := map[string]lmsandbox.Token{
		"stale":        e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "old laptop", CreatedDaysAgo: 400, LastUsedDaysAgo: 120}),
		"staleBearer":  e.seed(lmsandbox.TokenSpec{AdminID: 3, Type: "bearer", Note: "old traces", CreatedDaysAgo: 400, LastUsedDaysAgo: 150}),
		"neverUsedOld": e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "never used", CreatedDaysAgo: 200, NeverUsed: true}),
		"neverUsedNew": e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "just made", CreatedDaysAgo: 5, NeverUsed: true}),
		"fresh":        e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "nightly", CreatedDaysAgo: 400, LastUsedDaysAgo: 1}),
		"kept":         e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "break-glass #KEEP", CreatedDaysAgo: 900, LastUsedDaysAgo: 800}),
		"protected":    e.seed(lmsandbox.TokenSpec{AdminID: 3, AccessID: "ProtectedAccessId001", CreatedDaysAgo: 900, LastUsedDaysAgo: 800}),
		"disabledOld":  e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "abandoned", Status: 1, CreatedDaysAgo: 700, LastUsedDaysAgo: 365}),
		"disabledMid":  e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "paused", Status: 1, CreatedDaysAgo: 700, LastUsedDaysAgo: 100}),
	}
	return e, toks
}

func TestCleanupDisableStageOnSchedule(t *testing.T) {
	t.Parallel()
	e, toks := staleEnv(t)
	rep := e.cleanup(handlers.Toggle, scheduledEvent, "CLEANUP_PROTECTED_ACCESS_IDS=ProtectedAccessId001, other")
	if rep.Stage != cleanup.StageDisable || rep.DryRun || rep.Policy.UnusedDays != 90 || rep.Outcome != "ok" {
		t.Fatalf("report %+v", rep)
	}
	want := map[int64]bool{toks["stale"].ID: true, toks["staleBearer"].ID: true, toks["neverUsedOld"].ID: true}
	if len(rep.Actions) != len(want) {
		t.Fatalf("actions %+v", rep.Actions)
	}
	for _, a := range rep.Actions {
		if !want[a.TokenID] || !a.Done {
			t.Fatalf("unexpected action %+v", a)
		}
		if got, _ := e.portal.Token(a.TokenID); got.Status != 1 {
			t.Fatalf("token %d not disabled", a.TokenID)
		}
	}
	// Stalest first: the never-used token created 200 days ago leads.
	if rep.Actions[0].TokenID != toks["neverUsedOld"].ID {
		t.Fatalf("order %+v", rep.Actions)
	}
	if rep.Skipped[cleanup.SkipKept] != 1 || rep.Skipped[cleanup.SkipProtected] != 1 || rep.Skipped[cleanup.SkipSelf] != 1 || rep.Skipped[cleanup.SkipFresh] != 2 {
		t.Fatalf("skipped %v", rep.Skipped)
	}
	for _, name := range []string{"fresh", "kept", "protected", "neverUsedNew"} {
		if got, _ := e.portal.Token(toks[name].ID); got.Status != 2 {
			t.Fatalf("%s was disabled", name)
		}
	}
	if !strings.Contains(allLogs.String(), `"msg":"cleanup report"`) {
		t.Fatal("the report was not logged")
	}
}

func TestCleanupDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e, toks := staleEnv(t)
	before := e.mutations()
	dry := e.cleanup(handlers.Delete, map[string]any{"cleanup": map[string]any{"dryRun": true, "unusedDays": 200}})
	if !dry.DryRun || e.mutations() != before {
		t.Fatalf("dry run changed something: %+v", dry)
	}
	if len(dry.Actions) != 1 || dry.Actions[0].TokenID != toks["disabledOld"].ID || dry.Actions[0].Done {
		t.Fatalf("dry run plan %+v", dry.Actions)
	}
	// The real run does exactly what the dry run said.
	real := e.cleanup(handlers.Delete, map[string]any{"cleanup": map[string]any{"unusedDays": 200}})
	if len(real.Actions) != 1 || real.Actions[0].TokenID != dry.Actions[0].TokenID || !real.Actions[0].Done {
		t.Fatalf("real run %+v", real.Actions)
	}
	if _, ok := e.portal.Token(toks["disabledOld"].ID); ok {
		t.Fatal("not deleted")
	}
	if _, ok := e.portal.Token(toks["disabledMid"].ID); !ok {
		t.Fatal("a disabled token used 100 days ago was deleted under a 200-day policy")
	}
}

func TestCleanupDeleteStageSchedulesSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	// A token created through the functions, then disabled and aged.
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"temp","status":1}`, nil))
	id := int64(r.Body["id"].(float64))
	e.portal.Age(id, 400, 300)
	rep := e.cleanup(handlers.Delete, map[string]any{"cleanup": map[string]any{}})
	if rep.Stage != cleanup.StageDelete || rep.Policy.UnusedDays != 180 || len(rep.Actions) != 1 || !strings.Contains(rep.Actions[0].Detail, "scheduled for deletion") {
		t.Fatalf("report %+v", rep)
	}
	if sec, _ := e.sm.Get(r.Body["secret"].(map[string]any)["name"].(string)); sec.DeletedDate.IsZero() {
		t.Fatal("secret not scheduled for deletion")
	}
}

func TestCleanupCapAndContinuation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for i := 0; i < 7; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 500, LastUsedDaysAgo: float64(100 + i)})
	}
	first := e.cleanup(handlers.Toggle, scheduledEvent, "CLEANUP_MAX_ACTIONS=3")
	if !first.CapReached || len(first.Actions) != 3 || first.Remaining != 4 || first.Eligible != 7 {
		t.Fatalf("first run %+v", first)
	}
	second := e.cleanup(handlers.Toggle, scheduledEvent, "CLEANUP_MAX_ACTIONS=3")
	third := e.cleanup(handlers.Toggle, scheduledEvent, "CLEANUP_MAX_ACTIONS=3")
	if len(second.Actions) != 3 || len(third.Actions) != 1 || third.CapReached {
		t.Fatalf("continuation: %d then %d (cap %v)", len(second.Actions), len(third.Actions), third.CapReached)
	}
	// The event may lower the cap but the stalest go first.
	if first.Actions[0].DaysUnused < first.Actions[2].DaysUnused {
		t.Fatal("not stalest first")
	}
}

func TestCleanupPartialFailure(t *testing.T) {
	t.Parallel()
	e, toks := staleEnv(t)
	// Every attempt to disable one token fails; the others go through.
	e.portal.Inject(lmsandbox.Fault{Method: "PATCH", Path: fmt.Sprintf("/apitokens/%d", toks["stale"].ID), Status: 500, Count: 10})
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}}, "CLEANUP_PROTECTED_ACCESS_IDS=ProtectedAccessId001")
	if rep.Outcome != "partial" || rep.Failed != 1 || rep.Succeeded != 2 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "token") {
		t.Fatalf("report %+v", rep)
	}
	disabled := 0
	for _, name := range []string{"stale", "staleBearer", "neverUsedOld"} {
		if got, _ := e.portal.Token(toks[name].ID); got.Status == 1 {
			disabled++
		}
	}
	if got, _ := e.portal.Token(toks["stale"].ID); disabled != 2 || got.Status != 2 {
		t.Fatalf("%d disabled", disabled)
	}
}

func TestCleanupInvalidPolicy(t *testing.T) {
	t.Parallel()
	e, _ := staleEnv(t)
	for _, bad := range []string{
		`{"cleanup":{"unusedDays":0}}`, `{"cleanup":{"unusedDays":"90"}}`, `{"cleanup":{"maxActions":-1}}`,
		`{"cleanup":{"keepMarkers":[""]}}`, `{"cleanup":{"unusedDay":30}}`, `{"cleanup":[1]}`,
	} {
		_, err := e.invokeCleanup(handlers.Toggle, []byte(bad))
		fnError(t, err, handlers.TypeValidation, "")
	}
	_, err := e.invokeCleanup(handlers.Toggle, scheduledEvent, "CLEANUP_UNUSED_DAYS=ninety")
	fnError(t, err, handlers.TypeConfiguration, "CLEANUP_UNUSED_DAYS")
	if e.mutations() != 0 {
		t.Fatal("an invalid policy changed tokens")
	}
}

func TestCleanupPacedUnderRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{RateLimit: 10, RateWindow: time.Second})
	for i := 0; i < 25; i++ {
		e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 500, LastUsedDaysAgo: 200})
	}
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Succeeded != 25 {
		t.Fatalf("report %+v", rep)
	}
	throttled := 0
	for _, r := range e.portal.Requests() {
		if r.Status == 429 {
			throttled++
		}
	}
	if throttled > 2 {
		t.Fatalf("%d responses were 429", throttled)
	}
}

func TestCleanupStoreFailureDuringDeleteIsReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.storeKey(e.seed(lmsandbox.TokenSpec{AdminID: 2, Status: 1, CreatedDaysAgo: 500, LastUsedDaysAgo: 400}))
	e.sm.Fail("DeleteSecret", 1, localsecrets.Failure{Type: "AccessDeniedException"})
	rep := e.cleanup(handlers.Delete, scheduledEvent)
	if rep.Outcome != "failed" || !strings.Contains(rep.Errors[0], "not scheduled for deletion") {
		t.Fatalf("report %+v", rep)
	}
}

// A portal that ignores the status filter returns every token: cleanup still
// judges each one from its record.
func TestCleanupDecidesLocallyWhenThePortalIgnoresFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{IgnoreFilterOn: []string{"status"}})
	enabled := e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	disabled := e.seed(lmsandbox.TokenSpec{AdminID: 2, Status: 1, CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	rep := e.cleanup(handlers.Delete, map[string]any{"cleanup": map[string]any{}})
	if len(rep.Actions) != 1 || rep.Actions[0].TokenID != disabled.ID || rep.Skipped[cleanup.SkipOtherStatus] != 2 {
		t.Fatalf("report %+v", rep)
	}
	if _, ok := e.portal.Token(enabled.ID); !ok {
		t.Fatal("the delete stage deleted an enabled token")
	}
}

// A portal that ignores the id filter answers a batch's re-read with every
// token of the user: each token is still judged from its own fresh record
// (one kept since the listing is left alone), and a deleted one is gone.
func TestBatchedRereadWhenThePortalIgnoresTheIDFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{IgnoreFilterOn: []string{"id"}})
	stale := e.seedStale(5)
	e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 1}) // fresh: listed, never acted on
	kept, gone := stale[0], stale[1]
	afterListing(e.portal, func(p *lmsandbox.Portal) {
		p.Update(kept.ID, func(t *lmsandbox.Token) { t.Note = "#keep" })
		p.RemoveToken(gone.ID)
	})
	rep := e.cleanup(handlers.Toggle, map[string]any{"cleanup": map[string]any{}})
	if rep.Succeeded != 3 || rep.Skipped[cleanup.SkipChanged] != 1 || rep.Skipped[cleanup.SkipGone] != 1 || rep.Failed != 0 {
		t.Fatalf("succeeded %d, skipped %v, failed %d", rep.Succeeded, rep.Skipped, rep.Failed)
	}
	for _, tok := range stale[2:] {
		if got, _ := e.portal.Token(tok.ID); got.Status != 1 {
			t.Fatalf("stale token %d was not disabled", tok.ID)
		}
	}
	if got, _ := e.portal.Token(kept.ID); got.Status != 2 {
		t.Fatal("a token kept after the listing was disabled")
	}
}
