package cleanup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Mark records that a token's owner was warned before a stage acts on it
// (cloud-custodian's mark-then-act). A run acts on a token only when its
// mark matches the token's last use and WarnDays have passed since the
// warning was delivered; a token used since no longer matches and is
// unmarked.
type Mark struct {
	AdminID  int64
	TokenID  int64
	AccessID string
	// LastUse is the last use the warning was about: a later use voids
	// the mark.
	LastUse    time.Time
	EligibleOn time.Time
	// WarnedAt is when the warning was delivered; ActOn the earliest time
	// a run acts: max(EligibleOn, WarnedAt + WarnDays).
	WarnedAt time.Time
	ActOn    time.Time
}

// Marks is where one stage's marks for one portal live.
type Marks interface {
	// Load returns every live mark: all of them, or an error.
	Load(ctx context.Context) ([]Mark, error)
	// Put records a mark unless one for the same token and last use is
	// there already (the first delivered warning counts).
	Put(ctx context.Context, m Mark) error
	// Remove deletes a mark if it is still the one given (same last use),
	// so a newer mark another run wrote stays.
	Remove(ctx context.Context, m Mark) error
	// Take removes the mark as Remove does and says whether this call
	// removed it: of two runs about to act on a token, only the one that
	// took its mark acts.
	Take(ctx context.Context, m Mark) (bool, error)
}

// SkipAwaitingWarning: the token is eligible, but its owner has not been
// warned WarnDays ago yet (warned this run, or recently).
const SkipAwaitingWarning = "awaitingWarning"

// ErrNoMarks refuses a run with warnings on and nowhere to keep marks: it
// could neither warn reliably nor act after a warning.
var ErrNoMarks = errors.New("warnDays is above 0 but no marks table is configured (CLEANUP_MARKS_TABLE): set it, or set warnDays to 0 to act without warnings")

type markKey struct{ admin, token int64 }

// matches says whether m is a mark of t as it is now: same access id and
// the same last use (a token used since is no longer warned about).
func (m Mark) matches(t logicmonitor.Token) bool {
	return m.AccessID == t.AccessID && m.LastUse.Equal(LastUse(t))
}

// actionTime is when a run may act on a token marked by m under the current
// policy: a later warnDays or unusedDays moves it later, never earlier
// than the policy allows.
func (r Run) actionTime(m Mark, t logicmonitor.Token) time.Time {
	eligibleOn := LastUse(t).Add(days(r.Policy.UnusedDays))
	return later(eligibleOn, m.WarnedAt.Add(days(r.Policy.WarnDays)))
}

// MarkFor is the mark a warning makes once delivered at now: the action
// date counts from the delivery.
func MarkFor(w Warning, now time.Time) Mark {
	actOn := later(w.EligibleOn, now.Add(days(w.WarnDays)))
	if w.Reason == ReasonExpired {
		actOn = later(w.EligibleOn, now) // an expiry is kept, warned late or not
	}
	return Mark{AdminID: w.AdminID, TokenID: w.TokenID, AccessID: w.AccessID, LastUse: w.LastUse, EligibleOn: w.EligibleOn,
		WarnedAt: now.UTC(), ActOn: actOn.UTC()}
}

// MarkStore gives each stage and portal its marks.
type MarkStore interface {
	Scope(stage Stage, portal string) Marks
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// markOf returns the mark a token is acted on under, when warnings are on.
func markOf(marks map[markKey]Mark, t logicmonitor.Token) (Mark, bool) {
	m, ok := marks[markKey{t.AdminID, t.ID}]
	return m, ok
}

// candidates decides on each listed token. Without warnings an eligible token is
// acted on. With them, a token that is eligible or will be within WarnDays
// is a candidate: without a mark matching it, it is warned (and not acted
// on); with one, it is acted on once the mark's time has come. Marks of
// tokens that are no longer candidates are removed (not in a dry run).
// Marks that cannot be read fail the run: it acts on nothing.
func (r Run) candidates(ctx context.Context, tokens []logicmonitor.Token, cutoff time.Time, protected map[string]bool, inactive map[int64]string, reasons map[int64]string, rep *Report) ([]logicmonitor.Token, map[markKey]Mark, error) {
	var eligible []logicmonitor.Token
	warnOn := r.Policy.WarnDays > 0
	marks := map[markKey]Mark{}
	if warnOn {
		if r.Marks == nil {
			return nil, nil, ErrNoMarks
		}
		list, err := r.Marks.Load(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the warning marks (a run that cannot tell who was warned acts on nothing): %w", err)
		}
		for _, m := range list {
			marks[markKey{m.AdminID, m.TokenID}] = m
		}
		rep.Skipped[SkipAwaitingWarning] = 0
	}
	horizon := r.Now.Add(days(r.Policy.WarnDays))
	current := map[markKey]bool{}
	for _, t := range tokens {
		rep.Examined++
		if r.ownerRule(t, protected, inactive) {
			// An inactive owner's token is disabled without a warning:
			// there is no one to warn, and it should not work meanwhile.
			eligible = append(eligible, t)
			reasons[t.ID] = ReasonOwnerInactive
			continue
		}
		if due, ok := r.expiryCandidate(t, protected, horizon); ok {
			// Its expiry governs it: warned WarnDays before, acted on
			// once due when the warning's mark names this expiry.
			k := markKey{t.AdminID, t.ID}
			if !warnOn {
				if !r.Now.Before(due) {
					eligible = append(eligible, t)
					reasons[t.ID] = ReasonExpired
				} else {
					rep.Skipped[SkipAwaitingExpiry]++
				}
				continue
			}
			if m, ok := marks[k]; ok && r.expiryMarked(m, t) {
				current[k] = true
				if !r.Now.Before(due) {
					eligible = append(eligible, t)
					reasons[t.ID] = ReasonExpired
					continue
				}
			} else {
				e := r.expiries[t.ID]
				rep.Warnings = append(rep.Warnings, Warning{AdminID: t.AdminID, AdminName: t.AdminName, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type,
					Note: t.Note, LastUse: e, LastAuthIP: t.LastAuthIP, EligibleOn: due, ActOn: later(due, r.Now).UTC(), WarnDays: r.Policy.WarnDays,
					Reason: ReasonExpired, ExpiresAt: &e})
			}
			rep.Skipped[SkipAwaitingExpiry]++
			continue
		}
		reason := r.decide(t, cutoff, protected)
		if !warnOn {
			if reason != "" {
				rep.Skipped[reason]++
				continue
			}
			eligible = append(eligible, t)
			continue
		}
		eligibleOn := LastUse(t).Add(days(r.Policy.UnusedDays)).UTC()
		if reason != "" && (reason != SkipFresh || eligibleOn.After(horizon)) {
			rep.Skipped[reason]++
			continue
		}
		k := markKey{t.AdminID, t.ID}
		if m, ok := marks[k]; ok && m.matches(t) {
			current[k] = true
			if reason == "" && !r.Now.Before(r.actionTime(m, t)) {
				eligible = append(eligible, t)
				continue
			}
		} else {
			rep.Warnings = append(rep.Warnings, Warning{AdminID: t.AdminID, AdminName: t.AdminName, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type,
				Note: t.Note, LastUse: LastUse(t), LastAuthIP: t.LastAuthIP, EligibleOn: eligibleOn, ActOn: later(eligibleOn, horizon).UTC(), WarnDays: r.Policy.WarnDays})
		}
		if reason == "" {
			reason = SkipAwaitingWarning
		}
		rep.Skipped[reason]++
	}
	if r.Policy.DryRun {
		return eligible, marks, nil
	}
	for k, m := range marks {
		if current[k] {
			continue
		}
		if err := r.Marks.Remove(ctx, m); err != nil {
			rep.MarkErrors++
			rep.AddError(fmt.Sprintf("unmarking token %d of user %d: %v", m.TokenID, m.AdminID, err))
			continue
		}
		rep.Unmarked++
	}
	return eligible, marks, nil
}
