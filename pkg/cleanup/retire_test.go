package cleanup

import (
	"testing"
	"time"
)

func TestRetirementRule(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	rec := Retiring{TokenID: 7, AccessID: "A7", DisableAt: now.Add(-day), DeleteAt: now.Add(day)}
	self := Self{AdminID: 1, TokenID: 9, AccessID: "A9"}
	for _, c := range []struct {
		what  string
		stage Stage
		rec   Retiring
		pol   Policy
		due   bool
		skip  string
	}{
		{"disable: grace over", StageDisable, rec, Policy{}, true, ""},
		{"delete: not yet its date", StageDelete, rec, Policy{}, false, ""},
		{"delete: date passed", StageDelete, Retiring{TokenID: 7, AccessID: "A7", DeleteAt: now}, Policy{}, true, ""},
		{"disable: grace not over", StageDisable, Retiring{TokenID: 7, DisableAt: now.Add(time.Second)}, Policy{}, false, ""},
		{"the functions' own token by id", StageDisable, Retiring{TokenID: 9, AccessID: "X", DisableAt: now}, Policy{}, true, SkipSelf + ": the functions' own token"},
		{"the functions' own token by access id", StageDisable, Retiring{TokenID: 8, AccessID: "A9", DisableAt: now}, Policy{}, true, SkipSelf + ": the functions' own token"},
		{"a protected access id", StageDisable, rec, Policy{ProtectedAccessIDs: []string{" A7 "}}, true, SkipProtected + ": its access id is protected"},
	} {
		due, skip := Run{Stage: c.stage, Policy: c.pol, Self: self}.Retirement(now, c.rec)
		if due != c.due || skip != c.skip {
			t.Errorf("%s: due=%v skip=%q, want %v %q", c.what, due, skip, c.due, c.skip)
		}
	}
}
