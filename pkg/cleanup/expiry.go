package cleanup

import (
	"context"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// ReasonExpired marks a warning about, and an action on, a token whose
// lifetime (which lmtokens gave it on create) ends: the disable stage
// disables it at its expiry, the delete stage deletes it ExpiredDeleteAfter
// later. Its owner is warned WarnDays before, as for disuse (mark, then
// act); the mark is of the expiry the warning named.
const ReasonExpired = "expired"

// ExpiredDeleteAfter is how long after its expiry the delete stage deletes
// an expired (disabled) token.
const ExpiredDeleteAfter = 7 * 24 * time.Hour

// SkipAwaitingExpiry counts the tokens warned of an expiry still to come.
const SkipAwaitingExpiry = "awaitingExpiry"

// ExpiryIndex is what a Target implements to let the stages act on
// expiries: each token's expiry that is at or before horizon, by token id,
// as its key's secret value says; and one token's expiry read afresh right
// before acting on it (found false: it has none now).
type ExpiryIndex interface {
	Expiries(ctx context.Context, horizon time.Time) (map[int64]time.Time, error)
	Expiry(ctx context.Context, adminID, tokenID int64) (at time.Time, found bool, err error)
}

// expiryDue is when the stage acts on a token that expires at e.
func (r Run) expiryDue(e time.Time) time.Time {
	if r.Stage == StageDelete {
		return e.Add(ExpiredDeleteAfter)
	}
	return e
}

// expiryCandidate returns when the stage acts on t for its expiry, if t has
// one due by horizon and the stage may act on it (the stage's status, a
// complete record, neither ours nor protected).
func (r Run) expiryCandidate(t logicmonitor.Token, protected map[string]bool, horizon time.Time) (time.Time, bool) {
	e, ok := r.expiries[t.ID]
	if !ok {
		return time.Time{}, false
	}
	due := r.expiryDue(e)
	want := logicmonitor.StatusEnabled
	if r.Stage == StageDelete {
		want = logicmonitor.StatusDisabled
	}
	if due.After(horizon) || t.Status != want || r.exempt(t, protected) != "" ||
		len(t.Missing(logicmonitor.FieldID, logicmonitor.FieldAdminID, logicmonitor.FieldAccessID, logicmonitor.FieldStatus)) > 0 {
		return time.Time{}, false
	}
	return due, true
}

// expiryMarked reports whether m is the mark of a warning about t's
// current expiry.
func (r Run) expiryMarked(m Mark, t logicmonitor.Token) bool {
	e, ok := r.expiries[t.ID]
	return ok && m.AccessID == t.AccessID && m.LastUse.Equal(e)
}
