package handlers_test

import (
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
)

// Tokens follow their owner: the next disable run disables the enabled
// tokens of a user LogicMonitor reports suspended, however recently used
// and without a warning (there is no one to warn), reports them as
// ownerInactive, leaves protected access ids and the functions' own token
// alone, and reads each owner once. A user who no longer exists is
// reported the same way.
func TestTokensFollowTheirOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 4, Username: "left@example.com"})
	used := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "used yesterday", CreatedDaysAgo: 30, LastUsedDaysAgo: 1})
	kept := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "ci #keep", CreatedDaysAgo: 30, LastUsedDaysAgo: 2})
	protected := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "break glass", CreatedDaysAgo: 30, LastUsedDaysAgo: 1})
	active := e.seed(lmsandbox.TokenSpec{AdminID: 3, Note: "grafana", CreatedDaysAgo: 30, LastUsedDaysAgo: 1})
	gone := e.seed(lmsandbox.TokenSpec{AdminID: 4, Note: "orphaned owner", CreatedDaysAgo: 30, LastUsedDaysAgo: 1})
	e.portal.SetAdminStatus(2, "suspended")
	e.portal.RemoveAdmin(4)
	fn := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true", warn14, "CLEANUP_PROTECTED_ACCESS_IDS="+protected.AccessID)

	dry := runReport(t, fn, map[string]any{"cleanup": map[string]any{"dryRun": true}})
	if dry.Eligible != 3 || status(e, used.ID) != 2 {
		t.Fatalf("dry run: eligible %d, token status %d", dry.Eligible, status(e, used.ID))
	}

	rep := runReport(t, fn, scheduledEvent)
	byToken := map[int64]cleanup.Action{}
	for _, a := range rep.Actions {
		byToken[a.TokenID] = a
	}
	for _, tok := range []lmsandbox.Token{used, kept} {
		a := byToken[tok.ID]
		if !a.Done || a.Reason != cleanup.ReasonOwnerInactive || !strings.Contains(a.Detail, "suspended") || status(e, tok.ID) != 1 {
			t.Errorf("token %d of the suspended owner: %+v, status %d", tok.ID, a, status(e, tok.ID))
		}
	}
	if a := byToken[gone.ID]; a.Reason != cleanup.ReasonOwnerInactive || a.Done || !strings.Contains(a.Detail, "no longer exists") {
		t.Errorf("the gone owner's token: %+v", a)
	}
	if _, acted := byToken[protected.ID]; acted || status(e, protected.ID) != 2 || status(e, active.ID) != 2 {
		t.Errorf("a protected token or an active owner's was touched: %+v", rep.Actions)
	}
	if rep.OwnersRead != 3 || len(rep.Warnings) != 0 {
		t.Errorf("owners read %d (want 3: users 2, 3 and 4, once each), warnings %d", rep.OwnersRead, len(rep.Warnings))
	}
	// Reactivated, the owner's tokens are judged by their use again.
	e.portal.SetAdminStatus(2, "active")
	e.portal.Update(used.ID, func(t *lmsandbox.Token) { t.Status = 2 })
	if rep := runReport(t, fn, scheduledEvent); rep.Eligible != 1 || status(e, used.ID) != 2 {
		t.Errorf("after reactivation: eligible %d (the gone owner's token), status %d", rep.Eligible, status(e, used.ID))
	}
}
