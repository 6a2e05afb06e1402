package handlers

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/events"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// emit puts lifecycle events on the bus. A failure never fails the change:
// the emitter retries, then logs each lost event in full.
func (s *Service) emit(ctx context.Context, evs ...events.Event) {
	s.events.Emit(ctx, evs...)
}

// tokenDetail is the common part of a token event: where, who, why, when.
func (s *Service) tokenDetail(ctx context.Context, portal string, t logicmonitor.Token, reason string) events.Token {
	d := events.Token{
		Portal: portal, AdminID: t.AdminID, AdminName: t.AdminName, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type, Note: t.Note,
		Caller: logging.WhoFrom(ctx).Caller, Reason: reason, Time: s.now().UTC(),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		d.RequestID = lc.AwsRequestID
	}
	if d.Type == "" {
		d.Type = logicmonitor.TypeLMv1
	}
	return d
}

// MaxEventActions bounds the actions a Cleanup Run Completed event lists,
// so that it stays far below EventBridge's 256 KB; the rest are counted.
const MaxEventActions = 200

// CleanupSummary is the detail of a Cleanup Run Completed event.
type CleanupSummary struct {
	Stage          cleanup.Stage    `json:"stage"`
	DryRun         bool             `json:"dryRun"`
	Outcome        string           `json:"outcome"`
	Portals        []string         `json:"portals"`
	Examined       int              `json:"examined"`
	Eligible       int              `json:"eligible"`
	Succeeded      int              `json:"succeeded"`
	Failed         int              `json:"failed"`
	Remaining      int              `json:"remaining"`
	Warned         int              `json:"warned"`
	Skipped        map[string]int   `json:"skipped"`
	Actions        []cleanup.Action `json:"actions"`
	ActionsOmitted int              `json:"actionsOmitted"`
	// Retired are the rotated-out tokens the run retired or left alone
	// (unverified records among them); OrphanedSecrets the key secrets
	// whose token is gone.
	Retired                []cleanup.Action `json:"retired"`
	RetiredOmitted         int              `json:"retiredOmitted"`
	OrphanedSecrets        []cleanup.Orphan `json:"orphanedSecrets"`
	OrphanedSecretsOmitted int              `json:"orphanedSecretsOmitted"`
	Errors                 []string         `json:"errors"`
	Caller                 string           `json:"caller"`
	RequestID              string           `json:"requestId"`
	Reason                 string           `json:"reason"`
	Time                   string           `json:"time"`
}

// cleanupEvents are a run's events: each change it made, each warning
// (not in a dry run), and its summary.
func (s *Service) cleanupEvents(ctx context.Context, portals []string, rep cleanup.Report) []events.Event {
	var evs []events.Event
	for _, a := range rep.Actions {
		if !a.Done || rep.DryRun {
			continue
		}
		d := s.tokenDetail(ctx, a.Portal, logicmonitor.Token{ID: a.TokenID, AdminID: a.AdminID, AccessID: a.AccessID, Type: a.Type, Note: a.Note}, events.ReasonCleanup)
		if rep.Stage == cleanup.StageDisable {
			d.Before, d.After = &events.State{Status: logicmonitor.StatusEnabled, Note: a.Note}, &events.State{Status: logicmonitor.StatusDisabled, Note: a.Note}
			evs = append(evs, events.Event{DetailType: events.TokenUpdated, Detail: d})
			continue
		}
		if a.Secret != "" {
			d.Secret = &events.Secret{Name: a.Secret}
		}
		evs = append(evs, events.Event{DetailType: events.TokenDeleted, Detail: d})
	}
	if !rep.DryRun {
		kind := events.TokenWillBeDisabled
		if rep.Stage == cleanup.StageDelete {
			kind = events.TokenWillBeDeleted
		}
		for _, w := range rep.Warnings {
			d := s.tokenDetail(ctx, w.Portal, logicmonitor.Token{ID: w.TokenID, AdminID: w.AdminID, AdminName: w.AdminName, AccessID: w.AccessID, Type: w.Type, Note: w.Note}, events.ReasonCleanup)
			on, last := w.EligibleOn, w.LastUse
			d.EligibleOn, d.LastUse = &on, &last
			evs = append(evs, events.Event{DetailType: kind, Detail: d})
		}
	}
	base := s.tokenDetail(ctx, "", logicmonitor.Token{}, events.ReasonCleanup)
	sum := CleanupSummary{
		Stage: rep.Stage, DryRun: rep.DryRun, Outcome: rep.Outcome, Portals: portals, Examined: rep.Examined, Eligible: rep.Eligible,
		Succeeded: rep.Succeeded, Failed: rep.Failed, Remaining: rep.Remaining, Warned: len(rep.Warnings), Skipped: rep.Skipped,
		Actions: rep.Actions, Errors: rep.Errors, Caller: base.Caller, RequestID: base.RequestID, Reason: events.ReasonCleanup,
		Time: base.Time.Format(time.RFC3339),
	}
	sum.Actions, sum.ActionsOmitted = firstOf(sum.Actions)
	sum.Retired, sum.RetiredOmitted = firstOf(rep.Retired)
	sum.OrphanedSecrets, sum.OrphanedSecretsOmitted = firstOf(rep.OrphanedSecrets)
	return append(evs, events.Event{DetailType: events.CleanupRunCompleted, Detail: sum})
}

// firstOf keeps the first MaxEventActions items of a list for an event and
// counts the rest.
func firstOf[T any](items []T) ([]T, int) {
	if items == nil {
		items = []T{}
	}
	if len(items) <= MaxEventActions {
		return items, 0
	}
	return items[:MaxEventActions], len(items) - MaxEventActions
}
