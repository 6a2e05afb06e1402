package cleanup

import (
	"context"
	"fmt"
	"sync"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// ReasonOwnerInactive marks an action on a token whose owner LogicMonitor
// reports suspended, or no longer has: the disable stage disables such
// tokens at once, whatever their use, the functions' own and protected
// access ids excepted.
const ReasonOwnerInactive = "ownerInactive"

// OwnerChecker is what a Target implements to let the disable stage judge
// tokens by their owner: why the owner is inactive ("suspended", "no longer
// exists"), or "" when active.
type OwnerChecker interface {
	OwnerInactive(ctx context.Context, adminID int64) (string, error)
}

// inactiveOwners reads each distinct owner of the enabled tokens once,
// Concurrency at a time (the client paces them under the portal's rate
// limit). An owner that cannot be read is reported and its tokens are
// judged by their use alone: no proof, no action.
func (r Run) inactiveOwners(ctx context.Context, oc OwnerChecker, tokens []logicmonitor.Token, protected map[string]bool, rep *Report) map[int64]string {
	var owners []logicmonitor.Token // one token of each owner, to name in errors
	seen := map[int64]bool{}
	for _, t := range tokens {
		if seen[t.AdminID] || t.AdminID <= 0 || t.Status != logicmonitor.StatusEnabled || r.exempt(t, protected) != "" {
			continue
		}
		seen[t.AdminID] = true
		owners = append(owners, t)
	}
	whys := make([]string, len(owners))
	errs := make([]error, len(owners))
	sem := make(chan struct{}, max(r.Concurrency, 1))
	var wg sync.WaitGroup
	for i, t := range owners {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			whys[i], errs[i] = oc.OwnerInactive(ctx, t.AdminID)
		}()
	}
	wg.Wait()
	rep.OwnersRead += len(owners)
	inactive := map[int64]string{}
	for i, t := range owners {
		switch {
		case errs[i] != nil:
			rep.AddError(fmt.Sprintf("reading user %d, the owner of token %d: %v: its tokens were judged by their use alone", t.AdminID, t.ID, errs[i]))
		case whys[i] != "":
			inactive[t.AdminID] = whys[i]
		}
	}
	return inactive
}

// ownerRule reports whether t is an enabled token of an inactive owner
// that the rule may act on.
func (r Run) ownerRule(t logicmonitor.Token, protected map[string]bool, inactive map[int64]string) bool {
	if _, ok := inactive[t.AdminID]; !ok || t.Status != logicmonitor.StatusEnabled || t.ID <= 0 {
		return false
	}
	return len(t.Missing(logicmonitor.FieldID, logicmonitor.FieldAdminID, logicmonitor.FieldAccessID, logicmonitor.FieldStatus)) == 0 && r.exempt(t, protected) == ""
}

// exempt says why no rule acts on t: the functions' own token (or user,
// when the token is unknown) or a protected access id.
func (r Run) exempt(t logicmonitor.Token, protected map[string]bool) string {
	switch {
	case (r.Self.AccessID != "" && t.AccessID == r.Self.AccessID) || (r.Self.TokenID != 0 && t.ID == r.Self.TokenID):
		return SkipSelf
	case !r.Self.known() && t.AdminID == r.Self.AdminID:
		return SkipSelfUser
	case protected[t.AccessID]:
		return SkipProtected
	}
	return ""
}
