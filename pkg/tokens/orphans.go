package tokens

import (
	"context"
	"fmt"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// sweepOrphans is the delete stage's look at the portal's key secrets: a
// secret whose token LogicMonitor no longer has (deleted in the portal's UI,
// or by anything but lmtokens) would otherwise keep a dead key forever. The
// token is looked for in the run's complete listing, and a secret whose
// token it does not show is confirmed by its value (which token it holds)
// and by a fresh read of that token. The first run that finds it missing
// marks the secret; once the grace (CLEANUP_ORPHAN_GRACE) has passed since,
// a run schedules its deletion, and its claim's, with the recovery window.
// A token found again loses its mark. A dry run only reports.
func (s *Service) sweepOrphans(ctx context.Context, p *portalState, c logicmonitor.Portal, keySecrets func() ([]secrets.KeySecret, error), listed []logicmonitor.Token, dryRun bool, budget *cleanup.Budget) ([]cleanup.Orphan, error) {
	secs, err := keySecrets()
	if err != nil {
		return nil, err
	}
	present := make(map[int64]bool, len(listed))
	for _, t := range listed {
		present[t.ID] = true
	}
	now := s.now().UTC()
	grace := s.cfg.Cleanup.OrphanGrace
	var out []cleanup.Orphan
	for _, sec := range secs {
		if present[sec.TokenID] {
			s.unmark(ctx, p, sec.Name, sec.MissingSince, dryRun)
			continue
		}
		// The index says its token is gone: the value says which token.
		h, err := p.keys.Current(ctx, sec.Name)
		if err != nil {
			out = append(out, cleanup.Orphan{Secret: sec.Name, AdminID: sec.AdminID, TokenID: sec.TokenID, Error: "reading it: " + Classify(err, s.cfg.CredentialsSecret).Message})
			continue
		}
		if h == nil {
			continue // holds no lmtokens key: not lmtokens' to judge
		}
		o := cleanup.Orphan{Secret: sec.Name, AdminID: h.Key.AdminID, TokenID: h.Key.TokenID, MissingSince: sec.MissingSince}
		if present[h.Key.TokenID] {
			s.unmark(ctx, p, sec.Name, sec.MissingSince, dryRun)
			continue
		}
		_, err = c.GetToken(ctx, h.Key.AdminID, h.Key.TokenID, h.Key.Type)
		switch {
		case err == nil:
			s.unmark(ctx, p, sec.Name, sec.MissingSince, dryRun)
			continue
		case !logicmonitor.IsNotFound(err):
			o.Error = "re-reading its token: " + Classify(err, s.cfg.CredentialsSecret).Message
			out = append(out, o)
			continue
		}
		if o.MissingSince.IsZero() {
			o.MissingSince = now
			o.Detail = fmt.Sprintf("token %d of user %d is gone from LogicMonitor: first found now; the secret is scheduled for deletion once %v have passed", o.TokenID, o.AdminID, grace)
			if !dryRun {
				if err := p.keys.MarkMissing(ctx, sec.Name, now); err != nil {
					o.Error = "marking it: " + err.Error()
				}
			}
			out = append(out, o)
			continue
		}
		if now.Before(o.MissingSince.Add(grace)) {
			o.Detail = fmt.Sprintf("token %d of user %d is gone from LogicMonitor since %s at the latest: scheduled for deletion after %s", o.TokenID, o.AdminID,
				o.MissingSince.Format(time.RFC3339), o.MissingSince.Add(grace).Format(time.RFC3339))
			out = append(out, o)
			continue
		}
		if budget.Take(1) == 0 {
			o.Detail = "its grace has passed, but the run's cap was reached: the next run schedules its deletion"
			out = append(out, o)
			continue
		}
		if dryRun {
			o.Detail = "its grace has passed: a run that is not dry schedules its deletion"
			out = append(out, o)
			continue
		}
		if note, err := s.cancelPending(ctx, p, h.Name, h.Key.AdminID); err != nil {
			o.Error = "cancelling its rotation: " + Classify(err, s.cfg.CredentialsSecret).Message
		} else if ref, err := p.keys.ScheduleDeletion(ctx, h); err != nil {
			o.Error = "scheduling its deletion: " + err.Error()
		} else if ref != nil {
			o.Scheduled = true
			o.Detail = "scheduled for deletion"
			if ref.DeletionDate != nil {
				o.Detail += " on " + ref.DeletionDate.UTC().Format(time.RFC3339)
			}
			if note != "" {
				o.Detail += "; " + note
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// unmark takes the missing mark off a secret whose token was found.
func (s *Service) unmark(ctx context.Context, p *portalState, name string, since time.Time, dryRun bool) {
	if since.IsZero() || dryRun {
		return
	}
	if err := p.keys.ClearMissing(ctx, name); err != nil {
		s.log.WarnContext(ctx, "could not take the missing mark off a key's secret", "secret", name, "error", err.Error())
	}
}
