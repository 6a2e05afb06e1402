package tokens

import (
	"context"
	"fmt"
	"sync"
	"time"

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
	now := s.now()
	current := s.judge(name, run, creds, target, index, rep.Actions, now)
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
	sent := s.sendFindings(ctx, plan.Send, now, sum, rep, fail)
	sum.Unreported = len(plan.Send) - len(sent)
	if errs, sample := record(ctx, ledger, plan, sent); errs > 0 {
		sum.Unreported += errs
		fail(fmt.Sprintf("recording %d of them (they are sent again next run)", errs), sample)
	}
}

// judge returns the findings of the listed enabled tokens, leaving out
// those the run itself disabled and the functions' own token (deleting it,
// as most rules advise, would stop lmtokens; its hygiene is the rotation
// of the credentials).
func (s *Service) judge(name string, run cleanup.Run, creds secrets.Credentials, target *cleanupTarget, index []secrets.KeySecret, actions []cleanup.Action, now time.Time) []posture.Finding {
	made, kept := map[int64]bool{}, map[int64]bool{}
	for _, ks := range index {
		made[ks.TokenID] = true
		kept[ks.TokenID] = kept[ks.TokenID] || !ks.Scheduled
	}
	acted := map[int64]bool{}
	for _, a := range actions {
		if a.Done {
			acted[a.TokenID] = true
		}
	}
	var out []posture.Finding
	spared := run.Spares()
	for _, t := range target.listed {
		if t.Status != logicmonitor.StatusEnabled || t.ID <= 0 || t.AdminID <= 0 || acted[t.ID] || run.Own(t) {
			continue
		}
		f := posture.Facts{Now: now, UnusedDays: run.Policy.UnusedDays, Spared: spared(t), MaxLifetimeDays: s.capDays(creds.MaxLifetimeDays),
			MadeByLmtokens: made[t.ID], KeyStored: kept[t.ID]}
		if why, ok := target.owners.Load(t.AdminID); ok {
			f.OwnerInactive = why.(string)
		}
		for _, v := range posture.Evaluate(t, f) {
			out = append(out, posture.Found(name, t, v))
		}
	}
	return out
}

// sendFindings imports the findings and returns the ids Security Hub
// acknowledged: those of the calls that succeeded (calls go in order,
// MaxPerCall at a time, and stop at the first failure) and that it did not
// refuse.
func (s *Service) sendFindings(ctx context.Context, send []posture.Finding, now time.Time, sum *cleanup.Findings, rep *cleanup.Report, fail func(string, error)) map[string]bool {
	got, err := s.findings.Report(ctx, send, now)
	sum.Calls, sum.Refused = got.Calls, len(got.Refused)
	if err != nil {
		fail("importing them into Security Hub", err)
	}
	if len(got.Refused) > 0 {
		rep.AddError(fmt.Sprintf("posture findings: Security Hub refused %d of %d findings (the next run sends them again), for one: %s", len(got.Refused), len(send), firstRefusal(got.Refused)))
	}
	taken := len(send)
	if err != nil {
		taken = min(got.Imported+len(got.Refused), len(send))
	}
	sent := map[string]bool{}
	for _, f := range send[:taken] {
		if _, refused := got.Refused[f.ID]; !refused {
			sent[f.ID] = true
		}
	}
	return sent
}

// record writes the ledger entries of the findings Security Hub took, 8 at
// a time: each raised or refreshed one kept, each archived one dropped. It
// returns how many writes failed, and one of their errors.
func record(ctx context.Context, ledger posture.Ledger, plan posture.Plan, sent map[string]bool) (int, error) {
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
	return errs, sample
}

func firstRefusal(refused map[string]string) string {
	for id, why := range refused {
		return id + ": " + why
	}
	return ""
}
