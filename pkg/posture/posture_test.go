package posture

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

func ids(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule.ID)
	}
	slices.Sort(out)
	return out
}

func TestEachRule(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ago := func(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).Unix() }
	fresh := logicmonitor.Token{ID: 7, AdminID: 2, AdminName: "ci", CreatedOn: ago(30), LastUsedOn: ago(1)}
	for _, c := range []struct {
		what string
		tok  logicmonitor.Token
		f    Facts
		want []string
	}{
		{"a healthy token", fresh, Facts{Now: now, UnusedDays: 90, MaxLifetimeDays: 365, MadeByLmtokens: true, KeyStored: true}, nil},
		{"unused", logicmonitor.Token{ID: 7, AdminID: 2, CreatedOn: ago(200), LastUsedOn: ago(120)}, Facts{Now: now, UnusedDays: 90}, []string{"unused"}},
		{"never used, made long ago", logicmonitor.Token{ID: 7, AdminID: 2, CreatedOn: ago(100)}, Facts{Now: now, UnusedDays: 90}, []string{"unused"}},
		{"the unused rule off", logicmonitor.Token{ID: 7, AdminID: 2, CreatedOn: ago(200), LastUsedOn: ago(120)}, Facts{Now: now}, nil},
		{"over the cap", logicmonitor.Token{ID: 7, AdminID: 2, CreatedOn: ago(100), LastUsedOn: ago(1)}, Facts{Now: now, MaxLifetimeDays: 90}, []string{"over-max-lifetime"}},
		{"not rotated for a year", logicmonitor.Token{ID: 7, AdminID: 2, CreatedOn: ago(400), LastUsedOn: ago(1)}, Facts{Now: now}, []string{"not-rotated"}},
		{"an administrator's", logicmonitor.Token{ID: 7, AdminID: 1, AdminName: "ops", Roles: []string{"Administrator"}, CreatedOn: ago(3), LastUsedOn: ago(1)}, Facts{Now: now}, []string{"administrator-owner"}},
		{"lmsupport's", logicmonitor.Token{ID: 7, AdminID: 9, AdminName: "lmsupport", CreatedOn: ago(3), LastUsedOn: ago(1)}, Facts{Now: now}, []string{"lmsupport-owner"}},
		{"a suspended owner's", fresh, Facts{Now: now, OwnerInactive: "is suspended"}, []string{"owner-suspended"}},
		{"made by lmtokens, key gone", fresh, Facts{Now: now, MadeByLmtokens: true}, []string{"key-missing"}},
		{"several at once", logicmonitor.Token{ID: 7, AdminID: 9, AdminName: "lmsupport", Roles: []string{"administrator"}, CreatedOn: ago(500)}, Facts{Now: now, UnusedDays: 90, MaxLifetimeDays: 365},
			[]string{"administrator-owner", "lmsupport-owner", "not-rotated", "over-max-lifetime", "unused"}},
	} {
		if got := ids(Evaluate(c.tok, c.f)); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
	}
}

// Every rule says what fixes it, in words and as the lmtokens call, in the
// token's portal; finding ids are stable and distinct per rule.
func TestRulesSayWhatFixesThem(t *testing.T) {
	tok := logicmonitor.Token{ID: 7, AdminID: 2}
	seen := map[string]bool{}
	for _, r := range Rules {
		if r.ID == "" || r.Title == "" || r.Fix == "" || (r.Severity != Low && r.Severity != Medium && r.Severity != High) {
			t.Errorf("rule %+v is incomplete", r)
		}
		if call := r.Call("acme", tok); !strings.Contains(call, "/portals/acme/admins/2/tokens/7") {
			t.Errorf("%s: call %q", r.ID, call)
		}
		if call := r.Call("", tok); strings.Contains(call, "/portals/") || !strings.Contains(call, " /admins/2/tokens/7") {
			t.Errorf("%s: default portal call %q", r.ID, call)
		}
		id := FindingID("", tok, r)
		if seen[id] || id != FindingID("", tok, r) || !strings.HasPrefix(id, "lmtokens/default/2/7/") {
			t.Errorf("%s: finding id %q", r.ID, id)
		}
		seen[id] = true
	}
}

// A run raises what is new, refreshes what it reported a month ago,
// leaves the rest alone, and archives what it no longer finds.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tok := func(id int64) logicmonitor.Token { return logicmonitor.Token{ID: id, AdminID: 2, AccessID: "a"} }
	found := func(id int64, r Rule) Finding { return Found("acme", tok(id), Violation{r, "why"}) }
	first := now.Add(-50 * 24 * time.Hour)
	ledger := []Raised{
		{ID: FindingID("acme", tok(1), Unused), RuleID: Unused.ID, AdminID: 2, TokenID: 1, FirstSeen: first, ReportedAt: now.Add(-24 * time.Hour)},
		{ID: FindingID("acme", tok(2), NotRotated), RuleID: NotRotated.ID, AdminID: 2, TokenID: 2, FirstSeen: first, ReportedAt: first},
		{ID: FindingID("acme", tok(3), KeyMissing), RuleID: KeyMissing.ID, AdminID: 2, TokenID: 3, FirstSeen: first, ReportedAt: first},
		{ID: "lmtokens/acme/2/4/retired-rule", RuleID: "retired-rule", AdminID: 2, TokenID: 4, FirstSeen: first, ReportedAt: first},
	}
	p := Decide("acme", []Finding{found(1, Unused), found(2, NotRotated), found(5, AdminOwner), found(5, AdminOwner)}, ledger, now)
	if p.Raised != 1 || p.Refreshed != 1 || p.Archived != 2 || len(p.Send) != 4 || len(p.Keep) != 2 || len(p.Drop) != 2 {
		t.Fatalf("plan %+v", p)
	}
	byID := map[string]Finding{}
	for _, f := range p.Send {
		byID[f.ID] = f
	}
	if f := byID[FindingID("acme", tok(5), AdminOwner)]; !f.FirstSeen.Equal(now) || f.Archived {
		t.Errorf("raised: %+v", f)
	}
	if f := byID[FindingID("acme", tok(2), NotRotated)]; !f.FirstSeen.Equal(first) || f.Archived {
		t.Errorf("refreshed keeps its first sighting: %+v", f)
	}
	if _, sent := byID[FindingID("acme", tok(1), Unused)]; sent {
		t.Error("a finding reported yesterday was sent again")
	}
	for _, id := range []string{FindingID("acme", tok(3), KeyMissing), "lmtokens/acme/2/4/retired-rule"} {
		if f := byID[id]; !f.Archived || f.Portal != "acme" || f.Rule.Title == "" || !strings.Contains(f.Call, "/portals/acme/admins/2/tokens/") {
			t.Errorf("archived %s: %+v", id, f)
		}
	}
	for _, k := range p.Keep {
		if !k.ReportedAt.Equal(now) {
			t.Errorf("kept %+v: reported now", k)
		}
	}
	// Findings reported on one day come due over 15 days, none before 30
	// nor after 44.
	days := map[int]bool{}
	for i := range 200 {
		r := Raised{ID: fmt.Sprintf("lmtokens/acme/2/%d/unused", i), ReportedAt: now}
		for d := 0; d <= 45; d++ {
			if refreshDue(r, now.Add(time.Duration(d)*24*time.Hour)) {
				if d < 30 || d > 44 {
					t.Fatalf("%s due after %d days", r.ID, d)
				}
				days[d] = true
				break
			}
		}
	}
	if len(days) < 10 {
		t.Errorf("200 findings come due on %d distinct days", len(days))
	}
}
