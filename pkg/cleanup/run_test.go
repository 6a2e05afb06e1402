package cleanup

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// memTarget is an in-memory portal for the decision logic.
type memTarget struct {
	mu     sync.Mutex
	tokens []logicmonitor.Token
	acted  []int64
	fail   map[int64]bool
	delay  time.Duration
}

func (m *memTarget) List(context.Context, Stage) ([]logicmonitor.Token, error) {
	return append([]logicmonitor.Token(nil), m.tokens...), nil
}

func (m *memTarget) Act(_ context.Context, _ Stage, t logicmonitor.Token) (string, error) {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[t.ID] {
		return "", errors.New("boom")
	}
	m.acted = append(m.acted, t.ID)
	return "", nil
}

var now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func daysAgo(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).Unix() }

func TestDecisions(t *testing.T) {
	m := &memTarget{tokens: []logicmonitor.Token{
		{ID: 1, AccessID: "SELF", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(800)},
		{ID: 2, AccessID: "A", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(91)},
		{ID: 3, AccessID: "B", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(89)},
		{ID: 4, AccessID: "C", Status: 2, CreatedOn: daysAgo(95)}, // never used, created 95 days ago
		{ID: 5, AccessID: "D", Status: 2, CreatedOn: daysAgo(10)}, // never used, new
		{ID: 6, AccessID: "E", Status: 2, CreatedOn: daysAgo(900), Note: "prod #Keep it"},
		{ID: 7, AccessID: "P", Status: 2, CreatedOn: daysAgo(900)},
		{ID: 8, AccessID: "F", Status: 1, CreatedOn: daysAgo(900)}, // disabled: not this stage's
	}}
	p := DefaultPolicy(StageDisable)
	p.ProtectedAccessIDs = []string{"P"}
	rep, err := Run{Stage: StageDisable, Policy: p, Self: "SELF", Now: now}.Execute(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.acted) != 2 || rep.Succeeded != 2 {
		t.Fatalf("acted on %v", m.acted)
	}
	// Stalest first: 4 (never used, created 95 days ago) before 2 (used 91 days ago).
	if rep.Actions[0].TokenID != 4 || rep.Actions[1].TokenID != 2 {
		t.Fatalf("order %+v", rep.Actions)
	}
	want := map[string]int{SkipSelf: 1, SkipFresh: 2, SkipKept: 1, SkipProtected: 1, SkipOtherStatus: 1}
	for k, v := range want {
		if rep.Skipped[k] != v {
			t.Errorf("skipped %s = %d, want %d", k, rep.Skipped[k], v)
		}
	}
}

func TestDeleteStageOnlyDisabledAndCapped(t *testing.T) {
	m := &memTarget{fail: map[int64]bool{3: true}}
	for i := int64(1); i <= 5; i++ {
		m.tokens = append(m.tokens, logicmonitor.Token{ID: i, AccessID: "X", Status: 1, CreatedOn: daysAgo(400), LastUsedOn: daysAgo(190 + int(i))})
	}
	m.tokens = append(m.tokens, logicmonitor.Token{ID: 9, Status: 2, CreatedOn: daysAgo(900)})
	p := DefaultPolicy(StageDelete)
	p.MaxActions = 3
	rep, _ := Run{Stage: StageDelete, Policy: p, Now: now}.Execute(context.Background(), m)
	if !rep.CapReached || rep.Remaining != 2 || len(rep.Actions) != 3 || rep.Failed != 1 || rep.Outcome != "partial" {
		t.Fatalf("report %+v", rep)
	}
	if rep.Actions[0].TokenID != 5 || rep.Actions[1].TokenID != 4 || rep.Actions[2].TokenID != 3 {
		t.Fatalf("order %+v", rep.Actions)
	}
}

func TestPolicyOverrides(t *testing.T) {
	env := map[string]string{"CLEANUP_UNUSED_DAYS": "120", "CLEANUP_DRY_RUN": "true", "CLEANUP_PROTECTED_ACCESS_IDS": "a, b"}
	p, err := PolicyFromEnv(StageDisable, func(k string) string { return env[k] })
	if err != nil || p.UnusedDays != 120 || !p.DryRun || len(p.ProtectedAccessIDs) != 2 || p.KeepMarker != "#keep" {
		t.Fatalf("%+v %v", p, err)
	}
	q, err := p.Override([]byte(`{"dryRun":false,"maxActions":5,"protectedAccessIds":["c"]}`))
	if err != nil || q.DryRun || q.MaxActions != 5 || len(q.ProtectedAccessIDs) != 3 || q.UnusedDays != 120 {
		t.Fatalf("%+v %v", q, err)
	}
	for _, bad := range []string{`{"unusedDays":0}`, `{"unusedDays":4000}`, `{"maxActions":0}`, `{"x":1}`, `{"keepMarker":" "}`, `{"protectedAccessIds":[""]}`, `"x"`} {
		if _, err := p.Override([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := PolicyFromEnv(StageDelete, func(k string) string { return map[string]string{"CLEANUP_DRY_RUN": "maybe"}[k] }); err == nil {
		t.Error("CLEANUP_DRY_RUN=maybe accepted")
	}
	if d := DefaultPolicy(StageDelete); d.UnusedDays != 180 || d.MaxActions != 50 {
		t.Errorf("delete defaults %+v", d)
	}
}

// FuzzPolicyOverride: any cleanup object either yields a valid policy or an
// error, never a panic or an invalid policy.
func FuzzPolicyOverride(f *testing.F) {
	for _, s := range []string{`{}`, `{"unusedDays":30}`, `{"dryRun":true,"maxActions":5,"keepMarker":"#k","protectedAccessIds":["a"]}`, `null`, `[]`, `{"unusedDays":1e9}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := DefaultPolicy(StageDisable).Override(raw)
		if err == nil {
			if verr := p.Validate(); verr != nil {
				t.Fatalf("accepted an invalid policy %+v from %q: %v", p, raw, verr)
			}
		}
	})
}

// A run whose time runs out leaves the rest for the next run instead of
// failing them.
func TestRunStopsStartingActionsAtItsDeadline(t *testing.T) {
	m := &memTarget{delay: 40 * time.Millisecond}
	for i := int64(1); i <= 40; i++ {
		m.tokens = append(m.tokens, logicmonitor.Token{ID: i, Status: 2, CreatedOn: daysAgo(400)})
	}
	p := DefaultPolicy(StageDisable)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rep, err := Run{Stage: StageDisable, Policy: p, Now: now, Concurrency: 4, ActionBudget: 20 * time.Millisecond}.Execute(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.StoppedEarly || rep.Failed != 0 || rep.Succeeded == 0 || rep.Succeeded+rep.Remaining != 40 || rep.Outcome != "ok" {
		t.Fatalf("report: stopped %v, succeeded %d, failed %d, remaining %d, outcome %s", rep.StoppedEarly, rep.Succeeded, rep.Failed, rep.Remaining, rep.Outcome)
	}
}
