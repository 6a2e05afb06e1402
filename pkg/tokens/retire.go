package tokens

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Retirement carries out cleanup.Run.Retirement's rule. A record is only
// a claim (anyone allowed CreateSecret under the prefix can write one), so
// nothing is done on its word: it must be proven against the secret it
// names (secrets.Retirements.Prove). Then a fresh read must find the
// token. A retirement counts against the run's cap like any other action.

// retirement is a due rotated-out record and what the run makes of it.
type retirement struct {
	rec    secrets.Retirement
	action cleanup.Action
	// proven says the record passed every check: it is carried out, cap
	// permitting.
	proven bool
	// unverified says it failed the proof: it retires nothing, but once
	// its token is gone it is removed (delete stage).
	unverified bool
}

// planRetirements reads the portal's records and decides, for those that
// are due, whether each may be carried out. It reads Secrets Manager only.
func (s *Service) planRetirements(ctx context.Context, stage cleanup.Stage, pol cleanup.Policy, p *portalState, self cleanup.Self) ([]retirement, error) {
	recs, err := p.retirements().List(ctx)
	if err != nil {
		return nil, err
	}
	rule := cleanup.Run{Stage: stage, Policy: pol, Self: self}
	src := secrets.RecordSource{Keys: p.keys, Credentials: func(name, arn string) bool {
		if p.name == "" {
			return s.isDefaultCredentials(name, arn)
		}
		return name == p.credentialsSecret
	}}
	now := s.now()
	var out []retirement
	for _, r := range recs {
		a := cleanup.Action{Portal: p.name, AdminID: r.AdminID, TokenID: r.TokenID, AccessID: r.AccessID, Type: r.Type,
			Detail: fmt.Sprintf("rotated out of %s (replaced by token %d); record %s", r.Secret, r.ReplacedBy, r.Record)}
		if !r.Complete() {
			a.Skipped, a.Detail = cleanup.SkipUnverified+": the rotated-out record is incomplete", r.Record
			out = append(out, retirement{rec: r, action: a, unverified: r.AdminID > 0 && r.TokenID > 0})
			continue
		}
		due, skip := rule.Retirement(now, cleanup.Retiring{TokenID: r.TokenID, AccessID: r.AccessID, DisableAt: r.DisableAt, DeleteAt: r.DeleteAt})
		if !due {
			continue
		}
		if a.Skipped = skip; skip != "" {
			out = append(out, retirement{rec: r, action: a})
			continue
		}
		var unverified *secrets.UnverifiedError
		switch err := p.retirements().Prove(ctx, r, src); {
		case err == nil:
			out = append(out, retirement{rec: r, action: a, proven: true})
			continue
		case errors.Is(err, secrets.ErrStillCurrent):
			a.Skipped = "its key's version is still AWSCURRENT: the rotation did not finish"
		case errors.As(err, &unverified):
			a.Skipped = cleanup.SkipUnverified + ": " + unverified.Reason + "; the record is left for a person to check"
			s.log.WarnContext(ctx, "rotated-out record not proven: left alone", "record", r.Record, "adminId", r.AdminID, "tokenId", r.TokenID, "reason", unverified.Reason)
			out = append(out, retirement{rec: r, action: a, unverified: true})
			continue
		default:
			a.Error = "proving its record: " + Classify(err, s.cfg.CredentialsSecret).Message
		}
		out = append(out, retirement{rec: r, action: a})
	}
	// The longest overdue first, as the policy's actions go stalest first.
	sort.SliceStable(out, func(i, j int) bool { return out[i].rec.DisableAt.Before(out[j].rec.DisableAt) })
	return out, nil
}

// carryOut retires the proven tokens, as many as the budget grants (the
// rest wait for the next run). Each token is read afresh first; one gone
// already has its record removed by the delete stage. It returns the
// actions and how many proven ones the cap left for later.
func (s *Service) carryOut(ctx context.Context, stage cleanup.Stage, dryRun bool, p *portalState, c logicmonitor.Portal, plans []retirement, budget *cleanup.Budget) (acts []cleanup.Action, capped int) {
	proven := 0
	for _, pl := range plans {
		if pl.proven {
			proven++
		}
	}
	granted := budget.Take(proven)
	for _, pl := range plans {
		a := pl.action
		switch {
		case pl.proven && granted == 0:
			a.Skipped = cleanup.SkipCapped + ": the run's cap was reached; the next run continues"
			capped++
		case pl.proven:
			granted--
			s.retireOne(ctx, stage, dryRun, p, c, pl.rec, &a)
		case pl.unverified && stage == cleanup.StageDelete && !dryRun:
			// A record that retires nothing is left for a person only while
			// its token exists: once the token is gone, it is removed.
			_, err := c.GetToken(ctx, pl.rec.AdminID, pl.rec.TokenID, pl.rec.Type)
			if logicmonitor.IsNotFound(err) {
				if err := p.retirements().Remove(ctx, pl.rec.Record); err != nil {
					a.Error = "removing the record of a token that is gone: " + err.Error()
				} else {
					a.Detail += "; its token is gone: the record was removed"
				}
			}
		}
		acts = append(acts, a)
	}
	return acts, capped
}

// retireOne disables or deletes one proven rotated-out token.
func (s *Service) retireOne(ctx context.Context, stage cleanup.Stage, dryRun bool, p *portalState, c logicmonitor.Portal, r secrets.Retirement, a *cleanup.Action) {
	tok, err := c.GetToken(ctx, r.AdminID, r.TokenID, r.Type) // "" (an older record): both types
	if logicmonitor.IsNotFound(err) {
		a.Skipped = cleanup.SkipGone
		if !dryRun && stage == cleanup.StageDelete {
			if err := p.retirements().Remove(ctx, r.Record); err != nil {
				a.Error = err.Error()
			}
		}
		return
	}
	if err != nil {
		a.Error = "re-reading it: " + Classify(err, s.cfg.CredentialsSecret).Message
		return
	}
	a.Type, a.Note, a.CreatedOn, a.LastUsedOn = tok.Type, tok.Note, tok.CreatedOn, tok.LastUsedOn
	if dryRun {
		return
	}
	d := s.tokenDetail(ctx, p.name, *tok, lifecycle.ReasonRotation)
	switch {
	case stage == cleanup.StageDisable && tok.Status != logicmonitor.StatusEnabled:
		a.Skipped = "already disabled"
	case stage == cleanup.StageDisable:
		disabled := logicmonitor.StatusDisabled
		if _, err := c.UpdateToken(ctx, r.AdminID, r.TokenID, logicmonitor.UpdateOptions{Status: &disabled}); err != nil {
			a.Error = "disabling it: " + Classify(err, s.cfg.CredentialsSecret).Message
			return
		}
		a.Done = true
		d.Before, d.After = &lifecycle.State{Status: tok.Status, Note: tok.Note}, &lifecycle.State{Status: disabled, Note: tok.Note}
		s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenUpdated, Detail: d})
	default:
		if err := c.DeleteToken(ctx, r.AdminID, r.TokenID); err != nil && !logicmonitor.IsNotFound(err) {
			a.Error = "deleting it: " + Classify(err, s.cfg.CredentialsSecret).Message
			return
		}
		a.Done = true
		s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenDeleted, Detail: d})
		if err := p.retirements().Remove(ctx, r.Record); err != nil {
			a.Error = "deleted; its rotated-out record was not: " + err.Error()
		}
	}
}
