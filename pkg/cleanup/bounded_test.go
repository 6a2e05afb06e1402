package cleanup

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A report too large for where it goes keeps its counts whole and its
// lists' first items, clipped, and says what it left out; one that fits is
// handed on as it is.
func TestBoundedReport(t *testing.T) {
	long := strings.Repeat(`"x"\`, 2000)
	rep := Report{Stage: StageDisable, Succeeded: 3000, Skipped: map[string]int{}, Warnings: []Warning{}}
	for i := range 3000 {
		rep.Actions = append(rep.Actions, Action{TokenID: int64(i + 1), Note: long, Done: true})
		rep.Errors = append(rep.Errors, long)
	}
	b := rep.Bounded(200 << 10)
	raw, _ := json.Marshal(b)
	if len(raw) > 200<<10 || !b.Truncated || b.Succeeded != 3000 || len(b.Actions)+b.Omitted["actions"] != 3000 ||
		len(b.Errors)+b.Omitted["errors"] != 3000 || !strings.HasSuffix(b.Actions[0].Note, "…[truncated]") || b.Actions[0].TokenID != 1 {
		t.Fatalf("%d bytes, truncated %v, %d actions + %d omitted", len(raw), b.Truncated, len(b.Actions), b.Omitted["actions"])
	}
	small := Report{Stage: StageDisable, Actions: []Action{{TokenID: 1, Note: "n"}}, Errors: []string{}, Warnings: []Warning{}}
	if s := small.Bounded(200 << 10); s.Truncated || s.Omitted != nil || len(s.Actions) != 1 || s.Actions[0].Note != "n" {
		t.Fatalf("a small report changed: %+v", s)
	}
}

// A run over several portals holds each item in the total's lists and in
// its portal's: bounded whole when it fits; else the portals' copies go
// first (their counts stay), and the total keeps as many items as fit,
// each naming its portal.
func TestBoundedReportOverPortals(t *testing.T) {
	var reports []Report
	var names []string
	for p := range 20 {
		r := Report{Stage: StageDisable, Skipped: map[string]int{}, Warnings: []Warning{}, Errors: []string{}, Outcome: "ok"}
		for i := range 60 {
			r.Actions = append(r.Actions, Action{TokenID: int64(i + 1), Note: strings.Repeat("n", 100), Done: true})
		}
		r.Succeeded = 60
		reports = append(reports, r)
		names = append(names, fmt.Sprintf("portal%02d", p))
	}
	total, err := Combine(names, reports, make([]error, len(reports)))
	if err != nil {
		t.Fatal(err)
	}
	whole := total.Bounded(4 << 20)
	if whole.Truncated || len(whole.Actions) != 1200 || len(whole.Portals[3].Actions) != 60 {
		t.Fatalf("a report that fits was cut: truncated %v, %d actions, %d in a portal", whole.Truncated, len(whole.Actions), len(whole.Portals[3].Actions))
	}
	raw, _ := json.Marshal(whole)
	bound := len(raw) * 2 / 3 // the total's items fit, not twice over
	b := total.Bounded(bound)
	raw, _ = json.Marshal(b)
	if len(raw) > bound || len(b.Actions) != 1200 || len(b.Portals) != 20 || len(b.Portals[3].Actions) != 0 ||
		b.Omitted["portals.actions"] != 1200 || b.Portals[3].Succeeded != 60 || b.Actions[70].Portal != "portal01" {
		t.Fatalf("%d bytes of %d; %d actions, %d portals, %d of a portal's, omitted %v", len(raw), bound, len(b.Actions), len(b.Portals), len(b.Portals[3].Actions), b.Omitted)
	}
}
