package tokens

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/clip"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// emit puts lifecycle events on the bus. A failure never fails the change:
// the emitter retries, then logs each lost event in full.
func (s *Service) emit(ctx context.Context, evs ...lifecycle.Event) {
	s.events.Emit(ctx, evs...)
}

// tokenDetail is the common part of a token event: where, who, why, when.
func (s *Service) tokenDetail(ctx context.Context, portal string, t logicmonitor.Token, reason string) lifecycle.Token {
	d := lifecycle.Token{
		Portal: portal, AdminID: t.AdminID, AdminName: t.AdminName, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type, Note: t.Note,
		Caller: logging.WhoFrom(ctx).Caller, Reason: reason, Time: s.now().UTC(), RequestID: logging.RequestID(ctx), LastAuthIP: t.LastAuthIP,
	}
	if d.Type == "" {
		d.Type = logicmonitor.TypeLMv1
	}
	return d
}

// Bounds of a Cleanup Run Completed event: at most MaxSummaryItems of each
// list (fewer if the event would still exceed MaxSummaryBytes), each text
// clipped. The counts are whole; the full report is in the function's log
// ("msg":"cleanup report") and its answer.
const (
	MaxSummaryItems = 25
	MaxSummaryBytes = 200 << 10
)

// CleanupSummary is the detail of a Cleanup Run Completed event.
type CleanupSummary struct {
	Stage     cleanup.Stage  `json:"stage"`
	DryRun    bool           `json:"dryRun"`
	Outcome   string         `json:"outcome"`
	Portals   []string       `json:"portals"`
	Examined  int            `json:"examined"`
	Eligible  int            `json:"eligible"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Remaining int            `json:"remaining"`
	Skipped   map[string]int `json:"skipped"`
	// Warned counts the warnings delivered (and marked); in a dry run, the
	// warnings the run would send. WarningsUndelivered counts those the
	// next run sends again; EventsUndelivered the run's other events that
	// only its log holds.
	Warned              int `json:"warned"`
	WarningsUndelivered int `json:"warningsUndelivered"`
	Unmarked            int `json:"unmarked"`
	EventsUndelivered   int `json:"eventsUndelivered"`
	// Findings are the disable stage's posture findings (absent: none
	// configured).
	Findings *cleanup.Findings `json:"findings,omitempty"`
	// Truncated says a list below holds only its first items; the
	// *Omitted counts say how many were left out.
	Truncated      bool             `json:"truncated"`
	Actions        []cleanup.Action `json:"actions"`
	ActionsOmitted int              `json:"actionsOmitted"`
	// Retired are the rotated-out tokens the run retired or left alone
	// (unverified records among them); OrphanedSecrets the key secrets
	// whose token is gone.
	Retired                []cleanup.Action `json:"retired"`
	RetiredOmitted         int              `json:"retiredOmitted"`
	OrphanedSecrets        []cleanup.Orphan `json:"orphanedSecrets"`
	OrphanedSecretsOmitted int              `json:"orphanedSecretsOmitted"`
	PortalsOmitted         int              `json:"portalsOmitted"`
	Errors                 []string         `json:"errors"`
	ErrorsOmitted          int              `json:"errorsOmitted"`
	Caller                 string           `json:"caller"`
	RequestID              string           `json:"requestId"`
	Reason                 string           `json:"reason"`
	Time                   string           `json:"time"`
}

// invocationEnd is when the invocation must have answered.
func invocationEnd(ctx context.Context) time.Time {
	if dl, ok := ctx.Deadline(); ok {
		return dl
	}
	return time.Now().Add(15 * time.Minute)
}

// deliverChanges delivers a portal's events and accounts for each in its
// report: first the warnings, each marked only once delivered (the next run
// warns again those that were not); then the changes the run made. Nothing
// is emitted or marked in a dry run. They may retry until summaryReserve
// before the invocation's deadline; the run's summary (deliverSummary)
// until the deadline itself.
func (s *Service) deliverChanges(ctx context.Context, rep *cleanup.Report) {
	by := invocationEnd(ctx).Add(-summaryReserve)
	if !rep.DryRun && len(rep.Warnings) > 0 {
		kind := lifecycle.TokenWillBeDisabled
		if rep.Stage == cleanup.StageDelete {
			kind = lifecycle.TokenWillBeDeleted
		}
		evs := make([]lifecycle.Event, len(rep.Warnings))
		for i, w := range rep.Warnings {
			d := s.tokenDetail(ctx, w.Portal, logicmonitor.Token{ID: w.TokenID, AdminID: w.AdminID, AdminName: w.AdminName, AccessID: w.AccessID, Type: w.Type, Note: w.Note, LastAuthIP: w.LastAuthIP}, lifecycle.ReasonCleanup)
			on, last, act := w.EligibleOn, w.LastUse, w.ActOn
			d.EligibleOn, d.LastUse, d.ActOn = &on, &last, &act
			k := kind
			if w.Reason == cleanup.ReasonExpired {
				// The warning names the expiry, not a last use.
				d.LastUse, d.ExpiresAt = nil, w.ExpiresAt
				if rep.Stage == cleanup.StageDisable {
					k = lifecycle.TokenWillExpire
				}
			}
			evs[i] = lifecycle.Event{DetailType: k, Detail: d}
		}
		delivered := s.events.Deliver(ctx, by, evs...).Delivered
		s.markWarned(ctx, rep, delivered)
	}
	var changes []lifecycle.Event
	for _, a := range rep.Actions {
		if !a.Done || rep.DryRun {
			continue
		}
		d := s.tokenDetail(ctx, a.Portal, logicmonitor.Token{ID: a.TokenID, AdminID: a.AdminID, AccessID: a.AccessID, Type: a.Type, Note: a.Note, LastAuthIP: a.LastAuthIP}, lifecycle.ReasonCleanup)
		if rep.Stage == cleanup.StageDisable {
			d.Before, d.After = &lifecycle.State{Status: logicmonitor.StatusEnabled, Note: a.Note}, &lifecycle.State{Status: logicmonitor.StatusDisabled, Note: a.Note}
			kind := lifecycle.TokenUpdated
			if a.Reason == cleanup.ReasonExpired {
				kind, d.ExpiresAt = lifecycle.TokenExpired, a.ExpiresAt
			}
			changes = append(changes, lifecycle.Event{DetailType: kind, Detail: d})
			continue
		}
		if a.Secret != "" {
			d.Secret = &lifecycle.Secret{Name: a.Secret}
		}
		changes = append(changes, lifecycle.Event{DetailType: lifecycle.TokenDeleted, Detail: d})
	}
	rep.EventsUndelivered += s.events.Deliver(ctx, by, changes...).Undelivered
	rep.Account()
}

// deliverSummary puts a run's Cleanup Run Completed, by end: the last of
// its events.
func (s *Service) deliverSummary(ctx context.Context, end time.Time, portals []string, rep *cleanup.Report) {
	sum := s.cleanupSummary(ctx, portals, *rep)
	if s.events.Deliver(ctx, end, lifecycle.Event{DetailType: lifecycle.CleanupRunCompleted, Detail: sum}).Undelivered > 0 {
		rep.EventsUndelivered++
		rep.Account()
	}
}

// summaryReserve is the time kept for a run's summary after its other
// events.
const summaryReserve = 2 * time.Second

// markWarned marks each delivered warning (at most 8 writes at once) and
// counts the rest as undelivered.
func (s *Service) markWarned(ctx context.Context, rep *cleanup.Report, delivered []bool) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, w := range rep.Warnings {
		if !delivered[i] {
			rep.Tally(w.Portal, func(r *cleanup.Report) { r.WarningsUndelivered++ })
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.marks.Scope(rep.Stage, w.Portal).Put(ctx, cleanup.MarkFor(w, s.now()))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				msg := fmt.Sprintf("token %d of user %d was warned, but its mark was not written (the next run warns it again): %v", w.TokenID, w.AdminID, err)
				rep.Tally(w.Portal, func(r *cleanup.Report) { r.MarkErrors++; r.AddError(msg) })
				return
			}
			rep.Tally(w.Portal, func(r *cleanup.Report) { r.Marked++ })
		}()
	}
	wg.Wait()
}

// cleanupSummary is a run's summary, within MaxSummaryBytes: the first
// MaxSummaryItems of each list, halved until the event fits.
func (s *Service) cleanupSummary(ctx context.Context, portals []string, rep cleanup.Report) CleanupSummary {
	base := s.tokenDetail(ctx, "", logicmonitor.Token{}, lifecycle.ReasonCleanup)
	warned := rep.Warned()
	return clip.Within(MaxSummaryBytes, MaxSummaryItems, func(n int) CleanupSummary {
		sum := CleanupSummary{
			Stage: rep.Stage, DryRun: rep.DryRun, Outcome: rep.Outcome, Examined: rep.Examined, Eligible: rep.Eligible,
			Succeeded: rep.Succeeded, Failed: rep.Failed, Remaining: rep.Remaining, Skipped: rep.Skipped, Warned: warned,
			WarningsUndelivered: rep.WarningsUndelivered, Unmarked: rep.Unmarked, EventsUndelivered: rep.EventsUndelivered, Findings: rep.Findings,
			Caller: clip.Text(base.Caller, clip.MaxText), RequestID: base.RequestID, Reason: lifecycle.ReasonCleanup, Time: base.Time.Format(time.RFC3339),
		}
		sum.Actions, sum.ActionsOmitted = clip.First(rep.Actions, n, cleanup.Action.Clipped)
		sum.Retired, sum.RetiredOmitted = clip.First(rep.Retired, n, cleanup.Action.Clipped)
		sum.OrphanedSecrets, sum.OrphanedSecretsOmitted = clip.First(rep.OrphanedSecrets, n, cleanup.Orphan.Clipped)
		sum.Errors, sum.ErrorsOmitted = clip.First(rep.Errors, n, func(e string) string { return clip.Text(e, clip.MaxText) })
		sum.Portals, sum.PortalsOmitted = clip.First(portals, 4*n, func(p string) string { return clip.Text(p, clip.MaxName) })
		sum.Truncated = sum.ActionsOmitted+sum.RetiredOmitted+sum.OrphanedSecretsOmitted+sum.ErrorsOmitted+sum.PortalsOmitted > 0
		return sum
	})
}
