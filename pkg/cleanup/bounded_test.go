package cleanup

import (
	"encoding/json"
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
