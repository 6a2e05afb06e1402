package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
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
	// changed holds what Get returns instead of the listed token (nil: gone).
	changed map[int64]*logicmonitor.Token
}

func (m *memTarget) List(context.Context, Stage) ([]logicmonitor.Token, error) {
	return append([]logicmonitor.Token(nil), m.tokens...), nil
}

// Get returns the token as it is now, after the change hook if any.
func (m *memTarget) Get(_ context.Context, t logicmonitor.Token) (*logicmonitor.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.changed != nil {
		if c, ok := m.changed[t.ID]; ok {
			if c == nil {
				return nil, &logicmonitor.Error{Kind: logicmonitor.KindNotFound, Message: "gone"}
			}
			return c, nil
		}
	}
	return &t, nil
}

func (m *memTarget) Act(_ context.Context, _ Stage, t logicmonitor.Token) (Acted, error) {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[t.ID] {
		return Acted{}, errors.New("boom")
	}
	m.acted = append(m.acted, t.ID)
	return Acted{}, nil
}

var now = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func daysAgo(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).Unix() }

func TestDecisions(t *testing.T) {
	m := &memTarget{tokens: []logicmonitor.Token{
		{ID: 1, AdminID: 1, AccessID: "SELF", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(800)},
		{ID: 2, AdminID: 2, AccessID: "A", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(91)},
		{ID: 3, AdminID: 2, AccessID: "B", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(89)},
		{ID: 4, AdminID: 2, AccessID: "C", Status: 2, CreatedOn: daysAgo(95)}, // never used, created 95 days ago
		{ID: 5, AdminID: 2, AccessID: "D", Status: 2, CreatedOn: daysAgo(10)}, // never used, new
		{ID: 6, AdminID: 2, AccessID: "E", Status: 2, CreatedOn: daysAgo(900), Note: "prod #Keep it"},
		{ID: 7, AdminID: 2, AccessID: "P", Status: 2, CreatedOn: daysAgo(900)},
		{ID: 8, AdminID: 2, AccessID: "F", Status: 1, CreatedOn: daysAgo(900)}, // disabled: not this stage's
	}}
	p := actNow(StageDisable)
	p.ProtectedAccessIDs = []string{"P"}
	rep, err := Run{Stage: StageDisable, Policy: p, Self: Self{AccessID: "SELF"}, Now: now}.Execute(context.Background(), m)
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
		m.tokens = append(m.tokens, logicmonitor.Token{ID: i, AdminID: 2, AccessID: "X", Status: 1, CreatedOn: daysAgo(400), LastUsedOn: daysAgo(190 + int(i))})
	}
	m.tokens = append(m.tokens, logicmonitor.Token{ID: 9, AdminID: 2, AccessID: "Y", Status: 2, CreatedOn: daysAgo(900)})
	p := actNow(StageDelete)
	p.MaxActions = 3
	rep, _ := Run{Stage: StageDelete, Policy: p, Self: Self{AccessID: "SELF"}, Now: now}.Execute(context.Background(), m)
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
	if err != nil || p.UnusedDays != 120 || !p.DryRun || len(p.ProtectedAccessIDs) != 2 || len(p.KeepMarkers) != 1 || p.KeepMarkers[0] != "#keep" {
		t.Fatalf("%+v %v", p, err)
	}
	// Narrowing is always allowed; protection and markers only grow.
	q, err := p.Override([]byte(`{"unusedDays":200,"maxActions":5,"protectedAccessIds":["c"],"keepMarkers":["#hold"]}`), false)
	if err != nil || !q.DryRun || q.MaxActions != 5 || len(q.ProtectedAccessIDs) != 3 || q.UnusedDays != 200 || len(q.KeepMarkers) != 2 {
		t.Fatalf("%+v %v", q, err)
	}
	// Widening is refused unless the deployment allows it.
	for _, widen := range []string{`{"dryRun":false}`, `{"unusedDays":30}`, `{"maxActions":51}`} {
		if _, err := p.Override([]byte(widen), false); err == nil || !strings.Contains(err.Error(), "only narrow") {
			t.Errorf("%s: %v", widen, err)
		}
		if _, err := p.Override([]byte(widen), true); err != nil {
			t.Errorf("%s with widening allowed: %v", widen, err)
		}
	}
	for _, bad := range []string{`{"unusedDays":4000}`, `{"maxActions":0}`, `{"x":1}`, `{"keepMarkers":[" "]}`, `{"protectedAccessIds":[""]}`, `"x"`,
		`{"DryRun":true}`, `{"dryRun":true,"dryRun":false}`, `{"keepMarker":"#k"}`} {
		if _, err := p.Override([]byte(bad), true); err == nil {
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

// FuzzPolicyOverride: any cleanup object either yields a valid policy that
// is no wider than the configured one, or an error; never a panic.
func FuzzPolicyOverride(f *testing.F) {
	for _, s := range []string{`{}`, `{"unusedDays":300}`, `{"dryRun":true,"maxActions":5,"keepMarkers":["#k"],"protectedAccessIds":["a"]}`, `null`, `[]`, `{"unusedDays":1e9}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		base := DefaultPolicy(StageDisable)
		p, err := base.Override(raw, false)
		if err == nil {
			if verr := p.Validate(); verr != nil {
				t.Fatalf("accepted an invalid policy %+v from %q: %v", p, raw, verr)
			}
			if p.UnusedDays < base.UnusedDays || p.MaxActions > base.MaxActions || len(p.KeepMarkers) < len(base.KeepMarkers) {
				t.Fatalf("%q widened the policy to %+v", raw, p)
			}
		}
	})
}

// Records that lack a field a rule needs are never acted on.
func TestIncompleteRecordsAreSkipped(t *testing.T) {
	var toks []logicmonitor.Token
	for _, raw := range []string{
		`{"id":1,"adminId":2,"status":2,"note":"","createdOn":1,"lastUsedOn":1}`,                  // no accessId
		`{"id":2,"adminId":2,"accessId":"B","status":2,"note":"","createdOn":1}`,                  // no lastUsedOn
		`{"id":3,"adminId":2,"accessId":"C","status":2,"note":"","lastUsedOn":0}`,                 // never used, no createdOn
		`{"id":4,"adminId":2,"accessId":"D","status":2,"createdOn":1,"lastUsedOn":1}`,             // no note
		`{"id":5,"adminId":2,"accessId":"E","note":"","createdOn":1,"lastUsedOn":1}`,              // no status
		`{"id":6,"accessId":"F","status":2,"note":"","createdOn":1,"lastUsedOn":1}`,               // no adminId
		`{"id":7,"adminId":2,"accessId":"G","status":2,"note":null,"createdOn":1,"lastUsedOn":1}`, // null note
		`{"id":8,"adminId":2,"accessId":"H","status":2,"note":"","createdOn":1,"lastUsedOn":1}`,   // complete
	} {
		var tok logicmonitor.Token
		if err := json.Unmarshal([]byte(raw), &tok); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	m := &memTarget{tokens: toks}
	rep, err := Run{Stage: StageDisable, Policy: actNow(StageDisable), Self: Self{AccessID: "SELF"}, Now: now}.Execute(context.Background(), m)
	if err != nil || rep.Skipped[SkipIncomplete] != 7 || len(m.acted) != 1 || m.acted[0] != 8 {
		t.Fatalf("acted on %v, report %+v, %v", m.acted, rep.Skipped, err)
	}
}

// staleTarget holds n enabled tokens of user 2, ids 1 to n, unused for
// 300 days.
func staleTarget(n int) *memTarget {
	m := &memTarget{changed: map[int64]*logicmonitor.Token{}}
	for i := int64(1); i <= int64(n); i++ {
		m.tokens = append(m.tokens, logicmonitor.Token{ID: i, AdminID: 2, AccessID: "X", Status: 2, CreatedOn: daysAgo(400), LastUsedOn: daysAgo(300)})
	}
	return m
}

// changeSinceListing makes token used used today, kept marked #keep,
// disabled disabled and gone deleted, after m's listing.
func changeSinceListing(m *memTarget, used, kept, disabled, gone int64) {
	u, k, d := m.tokens[used-1], m.tokens[kept-1], m.tokens[disabled-1]
	u.LastUsedOn = daysAgo(0)
	k.Note = "#keep: needed after all"
	d.Status = 1
	m.changed[used], m.changed[kept], m.changed[disabled], m.changed[gone] = &u, &k, &d, nil
}

// The fresh read right before acting wins over the listing.
func TestFreshRecordDecides(t *testing.T) {
	m := staleTarget(4)
	changeSinceListing(m, 1, 2, 3, 4)
	rep, _ := Run{Stage: StageDisable, Policy: actNow(StageDisable), Self: Self{AccessID: "SELF"}, Now: now}.Execute(context.Background(), m)
	if len(m.acted) != 0 || rep.Skipped[SkipChanged] != 3 || rep.Skipped[SkipGone] != 1 || rep.Outcome != "ok" || rep.Failed != 0 {
		t.Fatalf("acted on %v, report %+v", m.acted, rep)
	}
}

// Without an access id or token id (bearer credentials), the functions' own
// user's tokens are all left alone; knowing nothing, the run refuses.
func TestSelfWithBearerCredentials(t *testing.T) {
	m := &memTarget{tokens: []logicmonitor.Token{
		{ID: 1, AdminID: 1, AccessID: "own", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(800)},
		{ID: 2, AdminID: 1, AccessID: "own2", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(800)},
		{ID: 3, AdminID: 2, AccessID: "x", Status: 2, CreatedOn: daysAgo(900), LastUsedOn: daysAgo(800)},
	}}
	p := actNow(StageDisable)
	rep, _ := Run{Stage: StageDisable, Policy: p, Self: Self{TokenID: 1, AdminID: 1}, Now: now}.Execute(context.Background(), m)
	if rep.Skipped[SkipSelf] != 1 || len(m.acted) != 2 {
		t.Fatalf("by token id: acted on %v", m.acted)
	}
	m.acted = nil
	rep, _ = Run{Stage: StageDisable, Policy: p, Self: Self{AdminID: 1}, Now: now}.Execute(context.Background(), m)
	if rep.Skipped[SkipSelfUser] != 2 || len(m.acted) != 1 || m.acted[0] != 3 {
		t.Fatalf("by user: acted on %v", m.acted)
	}
	m.acted = nil
	rep, err := Run{Stage: StageDisable, Policy: p, Now: now}.Execute(context.Background(), m)
	if !errors.Is(err, ErrSelfUnknown) || rep.Outcome != "failed" || len(m.acted) != 0 {
		t.Fatalf("unknown self: %v %+v", err, rep)
	}
}

// A listing that failed part-way acts on nothing and says so.
func TestFailedListingActsOnNothing(t *testing.T) {
	m := &listFails{}
	rep, err := Run{Stage: StageDisable, Policy: actNow(StageDisable), Self: Self{AccessID: "S"}, Now: now}.Execute(context.Background(), m)
	if err == nil || rep.Outcome != "failed" || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "listing") {
		t.Fatalf("%v %+v", err, rep)
	}
}

type listFails struct{ memTarget }

func (*listFails) List(context.Context, Stage) ([]logicmonitor.Token, error) {
	return nil, &logicmonitor.IncompleteError{Fetched: 31, Total: 5000, Err: context.DeadlineExceeded}
}

// A run whose time runs out leaves the rest for the next run instead of
// failing them.
func TestRunStopsStartingActionsAtItsDeadline(t *testing.T) {
	m := &memTarget{delay: 40 * time.Millisecond}
	for i := int64(1); i <= 40; i++ {
		m.tokens = append(m.tokens, logicmonitor.Token{ID: i, AdminID: 2, AccessID: "X", Status: 2, CreatedOn: daysAgo(400)})
	}
	p := actNow(StageDisable)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rep, err := Run{Stage: StageDisable, Policy: p, Self: Self{AccessID: "S"}, Now: now, Concurrency: 4, ActionBudget: 20 * time.Millisecond}.Execute(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.StoppedEarly || rep.Failed != 0 || rep.Succeeded == 0 || rep.Succeeded+rep.Remaining != 40 || rep.Outcome != "ok" {
		t.Fatalf("report: stopped %v, succeeded %d, failed %d, remaining %d, outcome %s", rep.StoppedEarly, rep.Succeeded, rep.Failed, rep.Remaining, rep.Outcome)
	}
}

// actNow is a stage's default policy without warnings: eligible tokens are
// acted on at once, as the decision tests need.
func actNow(s Stage) Policy {
	p := DefaultPolicy(s)
	p.WarnDays = 0
	return p
}

// batchTarget re-reads many tokens at once, recording each batch's size.
type batchTarget struct {
	*memTarget
	batches []int
	singles int
}

func (b *batchTarget) GetMany(ctx context.Context, toks []logicmonitor.Token) []Reread {
	b.mu.Lock()
	b.batches = append(b.batches, len(toks))
	b.mu.Unlock()
	out := make([]Reread, len(toks))
	for i, t := range toks {
		out[i].Token, out[i].Err = b.memTarget.Get(ctx, t)
	}
	return out
}

func (b *batchTarget) Get(ctx context.Context, t logicmonitor.Token) (*logicmonitor.Token, error) {
	b.mu.Lock()
	b.singles++
	b.mu.Unlock()
	return b.memTarget.Get(ctx, t)
}

// A target that re-reads in batches is re-read a batch of 20 at a time,
// and each token's fresh record still decides: used, kept, disabled or
// gone since the listing, it is left alone.
func TestBatchedRereadsDecide(t *testing.T) {
	m := staleTarget(45)
	changeSinceListing(m, 1, 22, 45, 30)
	b := &batchTarget{memTarget: m}
	rep, _ := Run{Stage: StageDisable, Policy: actNow(StageDisable), Self: Self{AccessID: "SELF"}, Now: now}.Execute(context.Background(), b)
	if len(m.acted) != 41 || rep.Skipped[SkipChanged] != 3 || rep.Skipped[SkipGone] != 1 || rep.Outcome != "ok" {
		t.Fatalf("acted on %d, report %+v", len(m.acted), rep)
	}
	for _, id := range m.acted {
		if id == 1 || id == 22 || id == 45 || id == 30 {
			t.Fatalf("token %d was acted on, though its fresh record forbade it", id)
		}
	}
	if len(b.batches) != 3 || b.batches[0] != 20 || b.batches[2] != 5 || b.singles != 0 {
		t.Fatalf("re-read in batches %v and %d single reads, want [20 20 5] and none", b.batches, b.singles)
	}
}

// A batch's record grown old while its action waited (a rate limit held
// the actions back) is not trusted: the token is read again alone.
func TestOldBatchRecordsAreReadAgain(t *testing.T) {
	old := maxRereadAge
	maxRereadAge = time.Millisecond
	t.Cleanup(func() { maxRereadAge = old })
	m := staleTarget(5)
	m.delay = 3 * time.Millisecond
	b := &batchTarget{memTarget: m}
	rep, _ := Run{Stage: StageDisable, Policy: actNow(StageDisable), Self: Self{AccessID: "SELF"}, Now: now, Concurrency: 1}.Execute(context.Background(), b)
	if rep.Succeeded != 5 || len(b.batches) != 1 || b.singles < 4 {
		t.Fatalf("succeeded %d; batches %v, %d single re-reads (want the 4 after the first read again)", rep.Succeeded, b.batches, b.singles)
	}
}
