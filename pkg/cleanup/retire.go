package cleanup

import (
	"strings"
	"time"
)

// A rotation leaves a record for the token it replaced; the cleanup stages
// retire that token on the record's dates: the disable stage once its
// grace period is over, the delete stage once its deletion date has
// passed. Retiring is the rule here; proving the record against the secret
// it names, and acting, are the domain's (pkg/tokens).

// Retiring is a rotated-out token as its record describes it.
type Retiring struct {
	TokenID   int64
	AccessID  string
	DisableAt time.Time
	DeleteAt  time.Time
}

// Retirement decides whether a stage retires a rotated-out token now: due
// says its date for the stage has passed; skip, when due, names why it is
// still left alone (the functions' own token, a protected access id).
func (r Run) Retirement(now time.Time, t Retiring) (due bool, skip string) {
	at := t.DisableAt
	if r.Stage == StageDelete {
		at = t.DeleteAt
	}
	if now.Before(at) {
		return false, ""
	}
	switch {
	case t.TokenID == r.Self.TokenID || t.AccessID != "" && t.AccessID == r.Self.AccessID:
		return true, SkipSelf + ": the functions' own token"
	case r.Policy.protects(t.AccessID):
		return true, SkipProtected + ": its access id is protected"
	}
	return true, ""
}

// protects reports whether the policy protects an access id.
func (p Policy) protects(accessID string) bool {
	for _, id := range p.ProtectedAccessIDs {
		if strings.TrimSpace(id) == accessID {
			return true
		}
	}
	return false
}
