package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Cleanup runs a cleanup stage over every portal at once (the
// default one and each registered one), with the configured policy
// narrowed by spec ({"cleanup": spec}; nil for a scheduled-rule event) and
// by each portal's own overrides. One portal failing is reported and does
// not stop the others.
func (s *Service) Cleanup(ctx context.Context, stage cleanup.Stage, spec json.RawMessage) (cleanup.Report, error) {
	policy, err := s.cleanupPolicy(stage, spec)
	if err != nil {
		return cleanup.Report{}, err
	}
	counter := s.Counter()
	names, _, err := s.portalNames(ctx, true)
	if err != nil {
		return cleanup.Report{}, fmt.Errorf("cleanup acted on nothing: the registered portals could not be listed: %w", err)
	}
	portals := append([]string{""}, names...)
	reports := make([]cleanup.Report, len(portals))
	errs := make([]error, len(portals))
	// One cap for the whole run: every portal's actions and retirements
	// draw on it.
	budget := cleanup.NewBudget(policy.MaxActions)
	listings := make(chan struct{}, listingsAtOnce)
	var wg sync.WaitGroup
	for i, name := range portals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = s.cleanupPortal(ctx, stage, policy, name, budget, listings)
			// Its events go out as soon as it is done, while the
			// others still run.
			s.deliverChanges(ctx, &reports[i])
			s.logItems(ctx, reports[i])
		}()
	}
	wg.Wait()

	rep, err := reports[0], errs[0]
	if len(portals) > 1 {
		rep, err = cleanup.Combine(portals, reports, errs)
	}
	rep.LMRequests = counter()
	s.deliverSummary(ctx, invocationEnd(ctx), portals, &rep)
	s.logReportLine(ctx, rep) // its items are logged, portal by portal
	return s.cleanupAnswer(rep, err)
}

// listingsAtOnce bounds the portals whose listings one run reads at
// once. A listing is the memory and CPU of a run: read all at once, a
// hundred portals' listings would hold the memory of all of them together
// and finish together, so that every portal's first window of changes
// would start at the same late moment; read a few at a time, each portal
// starts acting as soon as its own listing is in.
const listingsAtOnce = 4

// cleanupPolicy is the stage's policy narrowed by spec, refused when the
// deployment cannot carry it out (warnings with nowhere to mark them or
// no one to tell).
func (s *Service) cleanupPolicy(stage cleanup.Stage, spec json.RawMessage) (cleanup.Policy, error) {
	policy, err := s.cfg.Cleanup.Policies[stage].Override(spec, s.cfg.Cleanup.AllowWidening)
	if err != nil {
		return policy, Invalid("%v", err)
	}
	if policy.WarnDays > 0 && s.marks == nil {
		return policy, &Error{Kind: KindConfiguration, Message: "configuration: " + cleanup.ErrNoMarks.Error()}
	}
	if policy.WarnDays > 0 && !s.events.Enabled() {
		return policy, &Error{Kind: KindConfiguration, Message: "configuration: warnDays is above 0 but no event bus is configured (EVENT_BUS_NAME): the warnings would reach no one. Set it, or set warnDays to 0 to act without warnings"}
	}
	return policy, nil
}

// cleanupAnswer is what a run answers: its bounded report, or the error
// of a run that saw only part of what it had to and acted on nothing.
func (s *Service) cleanupAnswer(rep cleanup.Report, err error) (cleanup.Report, error) {
	switch {
	case errors.Is(err, cleanup.ErrSelfUnknown):
		return cleanup.Report{}, &Error{Kind: KindConfiguration, Message: "cleanup refused: " + err.Error()}
	case err != nil:
		// The run saw only part of what it had to and acted on nothing.
		e := Classify(err, s.cfg.CredentialsSecret)
		e.Message = "cleanup acted on nothing: " + e.Message
		return cleanup.Report{}, e
	}
	return rep.Bounded(MaxReportAnswerBytes), nil
}

// Bounds of a run's report where it is handed on whole: its answer (Lambda
// returns at most 6 MB) and its log line (CloudWatch Logs takes 256 KB an
// event).
const (
	MaxReportAnswerBytes = 4 << 20
	MaxReportLogBytes    = 200 << 10
)

// logReport logs the report (bounded, counts whole) on the line the
// stack's metrics read, then each of its items on a line of its own, so
// the log holds the whole run however large.
func (s *Service) logReport(ctx context.Context, rep cleanup.Report) {
	s.logReportLine(ctx, rep)
	s.logItems(ctx, rep)
}

// logReportLine logs the report, bounded, on the line the stack's metrics
// read.
func (s *Service) logReportLine(ctx context.Context, rep cleanup.Report) {
	s.log.InfoContext(ctx, "cleanup report", "report", rep.Bounded(MaxReportLogBytes))
}

// logItems logs each item of a report on a line of its own. A run over
// several portals logs each portal's as soon as its events are delivered,
// while the others still run: the lines are in the log even if the
// invocation is cut short later.
func (s *Service) logItems(ctx context.Context, rep cleanup.Report) {
	for _, a := range rep.Actions {
		s.log.InfoContext(ctx, "cleanup item", "stage", rep.Stage, "action", a)
	}
	for _, a := range rep.Retired {
		s.log.InfoContext(ctx, "cleanup item", "stage", rep.Stage, "retired", a)
	}
	for _, o := range rep.OrphanedSecrets {
		s.log.InfoContext(ctx, "cleanup item", "stage", rep.Stage, "orphanedSecret", o)
	}
	for _, w := range rep.Warnings {
		s.log.InfoContext(ctx, "cleanup item", "stage", rep.Stage, "warning", w)
	}
	for _, e := range rep.Errors {
		s.log.InfoContext(ctx, "cleanup item", "stage", rep.Stage, "portal", rep.Portal, "error", e)
	}
}

// cleanupPortal runs one portal's part of a cleanup, paced by that portal's
// own rate limits, within the run's budget (and the portal's own cap).
// Its rotated-out tokens are retired on their records' dates, whatever the
// policy's age rules say; the delete stage also sweeps the key secrets whose
// token is gone. Both happen only after a complete listing.
func (s *Service) cleanupPortal(ctx context.Context, stage cleanup.Stage, policy cleanup.Policy, name string, runBudget *cleanup.Budget, listings chan struct{}) (cleanup.Report, error) {
	rep := cleanup.Report{Stage: stage, DryRun: policy.DryRun, Policy: policy, Portal: name, Outcome: "failed", Skipped: map[string]int{}}
	p, err := s.lookupPortal(ctx, name)
	if err != nil {
		rep.AddError(err.Error())
		return rep, err
	}
	var runErr error
	err = s.withLM(ctx, p, func(c logicmonitor.Portal, creds secrets.Credentials) error {
		pol, err := policy.Override(creds.Cleanup, false) // a portal's own overrides only narrow
		if err != nil {
			return &Error{Kind: KindConfiguration, Message: fmt.Sprintf("configuration: the cleanup overrides of portal %q: %v", name, err)}
		}
		budget := runBudget.Within(pol.MaxActions)
		self := cleanup.Self{AccessID: creds.AccessID, AdminID: creds.AdminID, TokenID: creds.TokenID}
		// Retirements are decided first (Secrets Manager only) and hold
		// their share of the cap, so the policy's actions cannot starve a
		// rotation's promise.
		plans, planErr := s.planRetirements(ctx, stage, pol, p, self)
		proven := 0
		for _, pl := range plans {
			if pl.proven {
				proven++
			}
		}
		reserved := budget.Take(proven)
		// The portal's key secrets are listed once a run: the expiries,
		// the posture findings and the delete stage's sweep of orphaned
		// secrets all read it.
		keyIndex := sync.OnceValues(func() ([]secrets.KeySecret, error) { return p.keys.KeyIndex(ctx) })
		keySecrets := func() ([]secrets.KeySecret, error) {
			all, err := keyIndex()
			return secrets.Live(all), err
		}
		target := &cleanupTarget{client: c, listings: listings, deleteKey: func(ctx context.Context, adminID, tokenID int64) (keyDeletion, error) {
			return s.deleteKey(ctx, p, adminID, tokenID, false)
		}, expiries: func(ctx context.Context, horizon time.Time) (map[int64]time.Time, error) {
			return s.expiries(ctx, p, keySecrets, stage, horizon)
		}, expiry: func(ctx context.Context, adminID, tokenID int64) (time.Time, bool, error) {
			return s.expiry(ctx, p, adminID, tokenID)
		}}
		run := cleanup.Run{Stage: stage, Policy: pol, Now: s.now(), Self: self, Budget: budget}
		if s.marks != nil {
			run.Marks = s.marks.Scope(stage, name)
		}
		rep, runErr = run.Execute(ctx, target)
		if runErr == nil {
			var capped int
			rep.Retired, capped = s.carryOut(ctx, stage, pol.DryRun, p, c, plans, cleanup.NewBudget(reserved))
			rep.Remaining += capped
			rep.CapReached = rep.CapReached || capped > 0
			if planErr != nil {
				rep.AddError("rotated-out tokens: " + Classify(planErr, s.cfg.CredentialsSecret).Message)
			}
			if stage == cleanup.StageDisable && s.findings != nil {
				s.reportPosture(ctx, name, run, creds, target, keyIndex, &rep)
			}
			if stage == cleanup.StageDelete {
				orphans, err := s.sweepOrphans(ctx, p, c, keySecrets, target.listed, pol.DryRun, budget)
				rep.OrphanedSecrets = orphans
				if err != nil {
					rep.AddError("orphaned secrets: " + Classify(err, s.cfg.CredentialsSecret).Message)
				}
			}
			rep.Settle()
		}
		if logicmonitor.IsUnauthorized(runErr) {
			return runErr // the credentials may have rotated: withLM reads them again
		}
		return nil
	})
	rep.SetPortal(name) // its events and marks are the portal's
	if err != nil {
		rep.AddError(Classify(err, s.cfg.CredentialsSecret).Message)
		rep.Outcome = "failed"
		return rep, err
	}
	return rep, runErr
}

// cleanupTarget acts through the LogicMonitor client and, for the delete
// stage, deleteKey.
type cleanupTarget struct {
	client logicmonitor.Portal
	// listings, when the run covers several portals, holds a place for
	// each listing being read (see listingsAtOnce).
	listings  chan struct{}
	deleteKey func(ctx context.Context, adminID, tokenID int64) (keyDeletion, error)
	// listed is what List returned: the delete stage's sweep of orphaned
	// secrets looks for their tokens in it.
	listed []logicmonitor.Token
	// expiries reads the portal's keys' expiries (see Expiries), expiry
	// one key's (see Expiry).
	expiries func(ctx context.Context, horizon time.Time) (map[int64]time.Time, error)
	expiry   func(ctx context.Context, adminID, tokenID int64) (time.Time, bool, error)
	// owners are the owners OwnerInactive read, by id: why each is
	// inactive ("" active). The posture findings reuse them.
	owners sync.Map
}

// Expiries are the expiries lmtokens gave the portal's tokens, due by
// horizon: the keys' expires-at tags find them, and each one's secret value
// (which token, which expiry) decides.
func (t *cleanupTarget) Expiries(ctx context.Context, horizon time.Time) (map[int64]time.Time, error) {
	return t.expiries(ctx, horizon)
}

// Expiry reads one token's expiry afresh from the secret that holds its key.
func (t *cleanupTarget) Expiry(ctx context.Context, adminID, tokenID int64) (time.Time, bool, error) {
	return t.expiry(ctx, adminID, tokenID)
}

// List narrows the disable stage's listing to enabled tokens on the
// portal; the delete stage lists every token, since its sweep of orphaned
// secrets must see the enabled ones too. Cleanup re-checks every token
// itself.
func (t *cleanupTarget) List(ctx context.Context, stage cleanup.Stage) ([]logicmonitor.Token, error) {
	opts := logicmonitor.ListAllOptions{Filter: "status:2"}
	if stage == cleanup.StageDelete {
		opts.Filter = ""
	}
	if t.listings != nil {
		select {
		case t.listings <- struct{}{}:
			defer func() { <-t.listings }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	toks, err := t.client.AllTokens(ctx, opts)
	t.listed = toks
	return toks, err
}

// Get re-reads a token, asking only for its own type: one request.
func (t *cleanupTarget) Get(ctx context.Context, tok logicmonitor.Token) (*logicmonitor.Token, error) {
	return t.client.GetToken(ctx, tok.AdminID, tok.ID, tok.Type)
}

// OwnerInactive reads a token's owner afresh (cleanup reads each once a
// run): suspended, or no longer in the portal.
func (t *cleanupTarget) OwnerInactive(ctx context.Context, adminID int64) (string, error) {
	a, err := t.client.GetAdmin(ctx, adminID)
	why := ""
	switch {
	case logicmonitor.IsNotFound(err):
		why = "no longer exists"
	case err != nil:
		return "", err
	case strings.EqualFold(a.Status, "suspended"):
		why = "is suspended"
	}
	t.owners.Store(adminID, why)
	return why, nil
}

// Act disables with a PATCH of the status alone (a note written since the
// token was read stays), or deletes the token and schedules its secret's
// deletion.
func (t *cleanupTarget) Act(ctx context.Context, stage cleanup.Stage, tok logicmonitor.Token) (cleanup.Acted, error) {
	if stage == cleanup.StageDisable {
		disabled := logicmonitor.StatusDisabled
		_, err := t.client.UpdateToken(ctx, tok.AdminID, tok.ID, logicmonitor.UpdateOptions{Status: &disabled})
		return cleanup.Acted{}, err
	}
	gone := ""
	if err := t.client.DeleteToken(ctx, tok.AdminID, tok.ID); err != nil {
		if !logicmonitor.IsNotFound(err) {
			return cleanup.Acted{}, err
		}
		gone = "already deleted (by another run?); "
	}
	kd, err := t.deleteKey(ctx, tok.AdminID, tok.ID)
	if err != nil {
		return cleanup.Acted{}, fmt.Errorf("deleted from LogicMonitor, but its secret was not scheduled for deletion: %w", err)
	}
	notes := strings.Join(kd.notes, "; ")
	if notes != "" {
		notes = "; " + notes
	}
	if kd.ref == nil {
		return cleanup.Acted{Detail: gone + "no stored secret" + notes}, nil
	}
	return cleanup.Acted{Detail: gone + "secret " + kd.ref.Name + " scheduled for deletion" + notes, Secret: kd.ref.Name}, nil
}
