package handlers

import (
	"context"
	"fmt"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/events"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// retire carries out the rotated-out records that are due: the disable
// stage disables a token past its grace period, the delete stage deletes one
// past its deletion date and then its record. Each token is re-read first,
// and left alone while the version that held its key is still AWSCURRENT
// (its rotation never finished), when it is the functions' own token, or
// when its record is incomplete.
func (s *Service) retire(ctx context.Context, stage cleanup.Stage, dryRun bool, p *portalState, c *logicmonitor.Client, self cleanup.Self) ([]cleanup.Action, error) {
	recs, err := p.retirements().List(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []cleanup.Action
	for _, r := range recs {
		a := cleanup.Action{Portal: p.name, AdminID: r.AdminID, TokenID: r.TokenID, AccessID: r.AccessID,
			Detail: fmt.Sprintf("rotated out of %s (replaced by token %d)", r.Secret, r.ReplacedBy)}
		if !r.Complete() {
			a.Skipped, a.Detail = "incomplete rotated-out record", r.Record
			out = append(out, a)
			continue
		}
		due := r.DisableAt
		if stage == cleanup.StageDelete {
			due = r.DeleteAt
		}
		if now.Before(due) {
			continue
		}
		if r.TokenID == self.TokenID || r.AccessID != "" && r.AccessID == self.AccessID {
			a.Skipped = "the functions' own token"
			out = append(out, a)
			continue
		}
		st, err := secrets.Versions{API: s.api}.Describe(ctx, r.Secret)
		if err != nil {
			a.Error = err.Error()
			out = append(out, a)
			continue
		}
		// A deleted secret hands the old key to no one; a live one must
		// have moved AWSCURRENT off the old key's version.
		if st != nil && !st.Deleted && st.Has(r.FromVersion, secrets.StageCurrent) {
			a.Skipped = "its key's version is still AWSCURRENT: the rotation did not finish"
			out = append(out, a)
			continue
		}
		tok, err := c.Tokens.Get(ctx, r.AdminID, r.TokenID, r.Type) // "" (an older record): both types
		if logicmonitor.IsNotFound(err) {
			a.Skipped = cleanup.SkipGone
			if !dryRun && stage == cleanup.StageDelete {
				if err := p.retirements().Remove(ctx, r.Record); err != nil {
					a.Error = err.Error()
				}
			}
			out = append(out, a)
			continue
		}
		if err != nil {
			a.Error = classify(err, s.cfg.CredentialsSecret).Message
			out = append(out, a)
			continue
		}
		a.Type, a.Note, a.CreatedOn, a.LastUsedOn = tok.Type, tok.Note, tok.CreatedOn, tok.LastUsedOn
		if dryRun {
			out = append(out, a)
			continue
		}
		d := s.tokenDetail(ctx, p.name, *tok, events.ReasonRotation)
		switch {
		case stage == cleanup.StageDisable && tok.Status != logicmonitor.StatusEnabled:
			a.Skipped = "already disabled"
		case stage == cleanup.StageDisable:
			disabled := logicmonitor.StatusDisabled
			if _, err := c.Tokens.Update(ctx, r.AdminID, r.TokenID, logicmonitor.UpdateOptions{Status: &disabled}); err != nil {
				a.Error = classify(err, s.cfg.CredentialsSecret).Message
				break
			}
			a.Done = true
			d.Before, d.After = &events.State{Status: tok.Status, Note: tok.Note}, &events.State{Status: disabled, Note: tok.Note}
			s.emit(ctx, events.Event{DetailType: events.TokenUpdated, Detail: d})
		default:
			if err := c.Tokens.Delete(ctx, r.AdminID, r.TokenID); err != nil && !logicmonitor.IsNotFound(err) {
				a.Error = classify(err, s.cfg.CredentialsSecret).Message
				break
			}
			a.Done = true
			s.emit(ctx, events.Event{DetailType: events.TokenDeleted, Detail: d})
			if err := p.retirements().Remove(ctx, r.Record); err != nil {
				a.Error = "deleted; its rotated-out record was not: " + err.Error()
			}
		}
		out = append(out, a)
	}
	return out, nil
}
