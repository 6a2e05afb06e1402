package tokens

import (
	"context"
	"fmt"
	"sync"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/posture"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// reportPosture judges the portal's enabled tokens by the posture rules,
// after the disable stage's complete listing, and reports the findings to
// Security Hub: new ones raised, lasting ones refreshed monthly, and those
// the portal's ledger remembers but the run no longer finds archived.
//
// It asks LogicMonitor nothing more: the listing carries each token's
// roles, and the owners are those the stage read (once each) for its own
// rule. Which tokens lmtokens made, and whether their keys are still kept,
// comes from the run's one listing of the key secrets (names and tags: an
// index, enough to report on; nothing is acted on by it). The ledger is
// written only after Security Hub took the findings, so a lost answer
// sends them again on the next run (an import is an upsert by id). A dry
// run counts what it would send and sends nothing.
func (s *Service) reportPosture(ctx context.Context, name string, run cleanup.Run, creds secrets.Credentials, target *cleanupTarget, keyIndex func() ([]secrets.KeySecret, error), rep *cleanup.Report) {
	sum := &cleanup.Findings{}
	rep.Findings = sum
	fail := func(what string, err error) {
		rep.AddError(fmt.Sprintf("posture findings: %s: %s", what, Classify(err, s.cfg.CredentialsSecret).Message))
	}
	index, err := keyIndex()
	if err != nil {
		fail("listing the key secrets", err)
		return
	}
	made, kept := map[int64]bool{}, map[int64]bool{}
	for _, ks := range index {
		made[ks.TokenID] = true
		kept[ks.TokenID] = kept[ks.TokenID] || !ks.Scheduled
	}
	acted := map[int64]bool{}
	for _, a := range rep.Actions {
		if a.Done {
			acted[a.TokenID] = true // disabled by this run: no longer a finding
		}
	}
	now := s.now()
	var current []posture.Finding
	for _, t := range target.listed {
		if t.Status != logicmonitor.StatusEnabled || t.ID <= 0 || t.AdminID <= 0 || acted[t.ID] || run.Own(t) {
			// The functions' own token is left out: deleting it, as most
			// rules would advise, stops lmtokens; its hygiene is the
			// rotation of the credentials (credentialsRotationDays).
			continue
		}
		f := posture.Facts{Now: now, UnusedDays: run.Policy.UnusedDays, Spared: run.Spared(t), MaxLifetimeDays: s.capDays(creds.MaxLifetimeDays),
			MadeByLmtokens: made[t.ID], KeyStored: kept[t.ID]}
		if why, ok := target.owners.Load(t.AdminID); ok {
			f.OwnerInactive = why.(string)
		}
		for _, v := range posture.Evaluate(t, f) {
			current = append(current, posture.Found(name, t, v))
		}
	}
	sum.Active = len(current)
	ledger := s.ledgers.Ledger(name)
	raised, err := ledger.Load(ctx)
	if err != nil {
		fail("reading what earlier runs reported", err)
		return
	}
	plan := posture.Decide(name, current, raised, now)
	sum.Raised, sum.Refreshed, sum.Archived = plan.Raised, plan.Refreshed, plan.Archived
	if len(plan.Send) == 0 || run.Policy.DryRun {
		return
	}
	got, err := s.findings.Report(ctx, plan.Send, now)
	sum.Calls, sum.Refused = got.Calls, len(got.Refused)
	if err != nil {
		// What Security Hub took before the failure is written below only
		// if it was acknowledged; the rest is sent again next run.
		fail("importing them into Security Hub", err)
	}
	if len(got.Refused) > 0 {
		rep.AddError(fmt.Sprintf("posture findings: Security Hub refused %d of %d findings (the next run sends them again), for one: %s", len(got.Refused), len(plan.Send), firstRefusal(got.Refused)))
	}
	if err != nil && got.Imported == 0 {
		sum.Unreported = len(plan.Send)
		return
	}
	// Only the findings of the calls that succeeded are recorded: calls go
	// in order, MaxPerCall at a time, and stop at the first failure.
	taken := len(plan.Send)
	if err != nil {
		taken = got.Imported + len(got.Refused)
	}
	sent := map[string]bool{}
	for _, f := range plan.Send[:min(taken, len(plan.Send))] {
		if _, refused := got.Refused[f.ID]; !refused {
			sent[f.ID] = true
		}
	}
	sum.Unreported = len(plan.Send) - len(sent)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   int
		sample error
	)
	sem := make(chan struct{}, 8)
	write := func(op func(context.Context, posture.Raised) error, r posture.Raised) {
		defer wg.Done()
		sem <- struct{}{}
		defer func() { <-sem }()
		if err := op(ctx, r); err != nil {
			mu.Lock()
			errs, sample = errs+1, err
			mu.Unlock()
		}
	}
	for _, r := range plan.Keep {
		if sent[r.ID] {
			wg.Add(1)
			go write(ledger.Put, r)
		}
	}
	for _, r := range plan.Drop {
		if sent[r.ID] {
			wg.Add(1)
			go write(ledger.Remove, r)
		}
	}
	wg.Wait()
	sum.Unreported += errs
	if errs > 0 {
		fail(fmt.Sprintf("recording %d of them (they are sent again next run)", errs), sample)
	}
}

func firstRefusal(refused map[string]string) string {
	for id, why := range refused {
		return id + ": " + why
	}
	return ""
}
