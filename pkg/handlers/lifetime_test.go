package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// near reports whether a time is within a minute of want.
func near(got *time.Time, want time.Time) bool {
	return got != nil && got.Sub(want).Abs() < time.Minute
}

// A token's lifetime, asked on create in each shape and capped by the
// deployment and the portal: the answer, the secret's value and its tag say
// when it expires; a longer request than the cap is refused naming the cap,
// and makes nothing.
func TestLifetimesOnCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	create := e.startBinary(t, "create", "TOKEN_MAX_LIFETIME_DAYS=90")
	now := time.Now()

	out := createKey(t, create, 2, `{"note":"thirty days","expiresInDays":30}`)
	want := now.Add(30 * 24 * time.Hour)
	key := e.storedKey(t, out.Secret.Name, "")
	sec, _ := e.sm.Get(out.Secret.Name)
	if !near(out.ExpiresAt, want) || !near(key.ExpiresAt, want) || key.LifetimeDays != 30 ||
		sec.Tags[secrets.TagExpiresAt] != key.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Fatalf("expiry: answer %v, value %v (%d days), tag %q", out.ExpiresAt, key.ExpiresAt, key.LifetimeDays, sec.Tags[secrets.TagExpiresAt])
	}

	// Under the cap, a create that asks no lifetime gets the cap's.
	out = createKey(t, create, 2, `{"note":"no lifetime asked"}`)
	if !near(out.ExpiresAt, now.Add(90*24*time.Hour)) || e.storedKey(t, out.Secret.Name, "").LifetimeDays != 90 {
		t.Fatalf("the cap's lifetime: %v", out.ExpiresAt)
	}

	// A direct invocation, and an absolute time.
	at := now.Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	res := invokeBinary(t, create, map[string]any{"adminId": 2, "note": "until then", "expiresAt": at.Format(time.RFC3339)})
	var direct tokens.CreateOutput
	if err := json.Unmarshal(res.Payload, &direct); err != nil || res.Failed() {
		t.Fatalf("direct create: %s", res.Payload)
	}
	if direct.ExpiresAt == nil || !direct.ExpiresAt.Equal(at) {
		t.Fatalf("direct create with expiresAt %s: %s", at, res.Payload)
	}

	before := len(e.portal.Tokens())
	for body, say := range map[string]string{
		`{"expiresInDays":120}`: "expiresInDays 120 is over this portal's maximum lifetime of 90 days (maxLifetimeDays)",
		fmt.Sprintf(`{"expiresAt":%q}`, now.Add(100*24*time.Hour).UTC().Format(time.RFC3339)): "past this portal's maximum lifetime of 90 days",
		fmt.Sprintf(`{"expiresAt":%q}`, now.Add(-time.Hour).UTC().Format(time.RFC3339)):       "is not in the future",
		`{"expiresInDays":5,"expiresAt":"2030-01-01T00:00:00Z"}`:                              "not both",
		`{"expiresInDays":0}`: "expiresInDays must be a whole number of days from 1 to 3650",
	} {
		r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, body, nil))
		if r.Status != 400 || !strings.Contains(r.Raw, say) {
			t.Errorf("%s: %d %s, want a 400 saying %q", body, r.Status, r.Raw, say)
		}
	}
	if n := len(e.portal.Tokens()); n != before {
		t.Fatalf("refused creates made %d tokens", n-before)
	}

	// A portal's own cap, shorter than the deployment's, wins.
	e.sm.Put(credsSecret, fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q,"maxLifetimeDays":7}`, operatorID, operatorKey))
	capped := e.startBinary(t, "create", "TOKEN_MAX_LIFETIME_DAYS=90")
	r := binaryHTTP(t, capped, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"expiresInDays":30}`, nil))
	if r.Status != 400 || !strings.Contains(r.Raw, "maximum lifetime of 7 days") {
		t.Fatalf("the portal's cap: %d %s", r.Status, r.Raw)
	}
	if out := createKey(t, capped, 2, `{}`); !near(out.ExpiresAt, now.Add(7*24*time.Hour)) {
		t.Fatalf("the portal's cap as the default lifetime: %v", out.ExpiresAt)
	}
}

// A rotation gives the new token a fresh lifetime, as long as the one it
// replaced was given, under today's cap (here lowered from 20 to 10 days
// since the create); the secret's tag follows it.
func TestRotationGivesAFreshLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true, "TOKEN_MAX_LIFETIME_DAYS=10")
	create := e.startBinary(t, "create", "ROTATION_FUNCTION_ARN="+rotateARN, "TOKEN_MAX_LIFETIME_DAYS=20")
	out := createKey(t, create, 2, `{"note":"rotates","rotationDays":30,"expiresInDays":15}`)
	e.sm.WaitRotations()
	startRotation(t, create, 2, out.ID)
	e.sm.WaitRotations()
	cur := e.storedKey(t, out.Secret.Name, "")
	sec, _ := e.sm.Get(out.Secret.Name)
	if cur.TokenID == out.ID || cur.LifetimeDays != 10 || !near(cur.ExpiresAt, time.Now().Add(10*24*time.Hour)) ||
		sec.Tags[secrets.TagExpiresAt] != cur.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Fatalf("after the rotation: token %d, %d days to %v, tag %q", cur.TokenID, cur.LifetimeDays, cur.ExpiresAt, sec.Tags[secrets.TagExpiresAt])
	}
}

// ageExpiry moves a key's expiry d into the past, in its value and its tag,
// as passDays moves the portal's and the marks' times (the functions read
// the real clock).
func (e *env) ageExpiry(t *testing.T, name string, d time.Duration) {
	t.Helper()
	k := e.storedKey(t, name, "")
	at := k.ExpiresAt.Add(-d).UTC()
	k.ExpiresAt = &at
	b, _ := json.Marshal(k)
	e.sm.PutTagged(name, string(b), map[string]string{secrets.TagExpiresAt: at.Format(time.RFC3339)})
}

// A token made with a lifetime: its owner is warned warnDays before (API
// Token Will Expire, marked once delivered), the disable stage disables it
// at its expiry (API Token Expired), not before, and the delete stage
// deletes it a week later; a token without a lifetime, used as often, is
// left alone; a dry run only reports.
func TestExpiryWarnedDisabledDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	create := e.startBinary(t, "create")
	out := createKey(t, create, 2, `{"note":"ten days","expiresInDays":10}`)
	plain := createKey(t, create, 2, `{"note":"no lifetime"}`)
	e.eb.Reset() // the creates' events
	disable := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", warn14)
	remove := e.startBinary(t, "delete", "CLEANUP_ENABLED=true", warn14)
	day := 24 * time.Hour
	kinds := func() map[string]int {
		m := map[string]int{}
		for _, ev := range e.events(t) {
			d := detailOf(t, ev.Detail)
			if d["tokenId"] == float64(out.ID) {
				m[ev.DetailType]++
			}
			if d["tokenId"] == float64(plain.ID) {
				t.Errorf("the token without a lifetime got %s", ev.DetailType)
			}
		}
		return m
	}

	rep := runReport(t, disable, scheduledEvent)
	if len(rep.Warnings) != 1 || rep.Warnings[0].Reason != cleanup.ReasonExpired || rep.Warnings[0].TokenID != out.ID || kinds()[lifecycle.TokenWillExpire] != 1 {
		t.Fatalf("first run: warnings %+v, events %v", rep.Warnings, kinds())
	}
	e.passDays(5)
	e.ageExpiry(t, out.Secret.Name, 5*day)
	if rep := runReport(t, disable, scheduledEvent); rep.Succeeded != 0 || len(rep.Warnings) != 0 || status(e, out.ID) != 2 {
		t.Fatalf("before the expiry: %d acted, %d warned again, status %d", rep.Succeeded, len(rep.Warnings), status(e, out.ID))
	}
	e.passDays(5.01)
	e.ageExpiry(t, out.Secret.Name, time.Duration(5.01*24*float64(time.Hour)))
	if rep := runReport(t, disable, map[string]any{"cleanup": map[string]any{"dryRun": true}}); rep.Eligible != 1 || status(e, out.ID) != 2 {
		t.Fatalf("a dry run at expiry: eligible %d, status %d", rep.Eligible, status(e, out.ID))
	}
	rep = runReport(t, disable, scheduledEvent)
	if rep.Succeeded != 1 || rep.Actions[0].Reason != cleanup.ReasonExpired || status(e, out.ID) != 1 || status(e, plain.ID) != 2 || kinds()[lifecycle.TokenExpired] != 1 {
		t.Fatalf("at expiry: %+v, status %d, events %v", rep.Actions, status(e, out.ID), kinds())
	}
	// The delete stage: warned, then a week after the expiry deleted.
	runReport(t, remove, scheduledEvent)
	e.passDays(7.01)
	e.ageExpiry(t, out.Secret.Name, time.Duration(7.01*24*float64(time.Hour)))
	rep = runReport(t, remove, scheduledEvent)
	if _, ok := e.portal.Token(out.ID); ok || rep.Succeeded != 1 || rep.Actions[0].Reason != cleanup.ReasonExpired {
		t.Fatalf("a week after expiry: %+v (still there: %v)", rep.Actions, ok)
	}
	if _, ok := e.portal.Token(plain.ID); !ok {
		t.Fatal("the token without a lifetime was deleted")
	}
}

// List and inventory show when the lifetime lmtokens gave a token ends, and
// flag the tokens older than the portal's maximum lifetime.
func TestListShowsLifetimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	create := e.startBinary(t, "create", "TOKEN_MAX_LIFETIME_DAYS=365")
	list := e.startBinary(t, "list", "TOKEN_MAX_LIFETIME_DAYS=365")
	made := createKey(t, create, 2, `{"note":"with a lifetime","expiresInDays":30}`)
	old := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "made by hand long ago", CreatedDaysAgo: 400, LastUsedDaysAgo: 1})
	young := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "made by hand lately", CreatedDaysAgo: 100, LastUsedDaysAgo: 1})
	for _, q := range []map[string]string{nil, {"all": "true"}} {
		r := binaryHTTP(t, list, rest("GET", "/tokens", nil, q, "", nil))
		var page struct {
			Items []struct {
				ID              int64      `json:"id"`
				ExpiresAt       *time.Time `json:"expiresAt"`
				OverMaxLifetime bool       `json:"overMaxLifetime"`
			} `json:"items"`
			LifetimesUnknown bool `json:"lifetimesUnknown"`
		}
		if err := json.Unmarshal([]byte(r.Raw), &page); err != nil || r.Status != 200 || page.LifetimesUnknown {
			t.Fatalf("list %v: %d %s", q, r.Status, r.Raw)
		}
		seen := 0
		for _, it := range page.Items {
			switch it.ID {
			case made.ID:
				seen++
				if it.ExpiresAt == nil || !it.ExpiresAt.Equal(*made.ExpiresAt) || it.OverMaxLifetime {
					t.Errorf("list %v: the token made with a lifetime shows %v, over %v", q, it.ExpiresAt, it.OverMaxLifetime)
				}
			case old.ID, young.ID:
				seen++
				if it.ExpiresAt != nil || it.OverMaxLifetime != (it.ID == old.ID) {
					t.Errorf("list %v: token %d shows expiry %v, over the cap %v", q, it.ID, it.ExpiresAt, it.OverMaxLifetime)
				}
			}
		}
		if seen != 3 {
			t.Errorf("list %v: %d of the 3 tokens", q, seen)
		}
	}
}

// Under a hostile world: a create with a lifetime whose answer is lost after
// LogicMonitor made the token is reconciled (nothing kept) and its retry
// with the same key makes exactly one token, expiry stored, and a replay
// answers the same expiry; two disable runs at once at the expiry disable
// it once and say so once; a token whose expiry moves between the run's
// start and its action is left alone, reported changed.
func TestLifetimesUnderAHostileWorld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	create := e.startBinary(t, "create")
	l := e.ledger(2)
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Status: 502, AfterProcessing: true})
	req := rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"lost","expiresInDays":10}`, map[string]string{"Idempotency-Key": "lost-lifetime"})
	if r := binaryHTTP(t, create, req); r.Status != 502 || !strings.Contains(r.Raw, "nothing was kept; retrying is safe") {
		t.Fatalf("first answer: %d %s", r.Status, r.Raw)
	}
	l.want(t, 0, 0)
	r := binaryHTTP(t, create, req)
	var out tokens.CreateOutput
	r.into(t, &out)
	if r.Status != 201 || !near(out.ExpiresAt, time.Now().Add(10*24*time.Hour)) || e.storedKey(t, out.Secret.Name, "").LifetimeDays != 10 {
		t.Fatalf("retry: %d %s", r.Status, r.Raw)
	}
	l.want(t, 1, 0)
	again := binaryHTTP(t, create, req) // a replay answers the same expiry
	var replay tokens.CreateOutput
	again.into(t, &replay)
	if again.Status != 201 || replay.ID != out.ID || replay.ExpiresAt == nil || !replay.ExpiresAt.Equal(*out.ExpiresAt) {
		t.Fatalf("replay: %d %s", again.Status, again.Raw)
	}

	other := createKey(t, create, 3, `{"note":"moved","expiresInDays":10}`)
	a, b := e.cleanupFn(t, "toggle", warn14), e.cleanupFn(t, "toggle", warn14)
	runReport(t, a, scheduledEvent) // warned, marked
	e.passDays(10.01)
	e.ageExpiry(t, out.Secret.Name, time.Duration(10.01*24*float64(time.Hour)))
	e.ageExpiry(t, other.Secret.Name, time.Duration(10.01*24*float64(time.Hour)))
	e.eb.Reset()
	// Between the run's start and its action on the other token (as each
	// run re-reads it: user 3's only token), its expiry moves to a new
	// lifetime.
	moved := time.Now().Add(100 * 24 * time.Hour).UTC().Truncate(time.Second)
	e.portal.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/3/apitokens", Count: 2, Then: func(*lmsandbox.Portal) {
		k := e.storedKey(t, other.Secret.Name, "")
		k.ExpiresAt = &moved
		raw, _ := json.Marshal(k)
		e.sm.PutTagged(other.Secret.Name, string(raw), map[string]string{secrets.TagExpiresAt: moved.Format(time.RFC3339)})
	}})
	var reps [2]cleanup.Report
	var wg sync.WaitGroup
	for i, fn := range []*lambdaruntime.Function{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = runReport(t, fn, scheduledEvent)
		}()
	}
	wg.Wait()
	expired := 0
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenExpired {
			expired++
		}
	}
	if status(e, out.ID) != 1 || expired != 1 || reps[0].Failed+reps[1].Failed != 0 {
		t.Fatalf("two runs at expiry: status %d, %d Expired events, failed %d+%d", status(e, out.ID), expired, reps[0].Failed, reps[1].Failed)
	}
	changed := 0
	for _, rep := range reps {
		for _, a := range rep.Actions {
			if a.TokenID == other.ID && strings.HasPrefix(a.Skipped, cleanup.SkipChanged) {
				changed++
			}
		}
	}
	if status(e, other.ID) != 2 || changed == 0 {
		t.Fatalf("a token whose expiry moved meanwhile: status %d, reported changed by %d runs", status(e, other.ID), changed)
	}
}
