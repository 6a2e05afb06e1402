package tokens

import (
	"context"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// MaxLifetimeDays is the longest lifetime any token may be given.
var MaxLifetimeDays = settings.MaxLifetimeDays.Max

// lifetime is what a new token is given: when it expires and the lifetime
// in days a rotation gives its successor afresh.
type lifetime struct {
	expiresAt *time.Time
	days      int
}

// capDays is a portal's cap on new tokens' lifetimes: the shorter of the
// deployment's and the portal's own (0: none).
func (s *Service) capDays(portalCap int) int {
	c := s.cfg.MaxLifetimeDays
	if portalCap > 0 && (c == 0 || portalCap < c) {
		c = portalCap
	}
	return c
}

// lifetimeOf decides a new token's lifetime from what the request asked
// and the cap: a longer request is refused naming the cap; a request that
// asks none under a cap gets the cap.
func lifetimeOf(in CreateInput, capDays int, now time.Time) (lifetime, error) {
	day := 24 * time.Hour
	var l lifetime
	switch {
	case in.ExpiresAt != nil:
		left := in.ExpiresAt.Sub(now)
		if left <= 0 {
			return l, Invalid("expiresAt %s is not in the future: nothing was created", in.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if left > time.Duration(MaxLifetimeDays)*day {
			return l, Invalid("expiresAt %s is more than %d days away: nothing was created", in.ExpiresAt.UTC().Format(time.RFC3339), MaxLifetimeDays)
		}
		if capDays > 0 && left > time.Duration(capDays)*day {
			return l, Invalid("expiresAt %s is past this portal's maximum lifetime of %d days (maxLifetimeDays): nothing was created", in.ExpiresAt.UTC().Format(time.RFC3339), capDays)
		}
		at := in.ExpiresAt.UTC().Truncate(time.Second)
		l = lifetime{expiresAt: &at, days: int((left + day - 1) / day)}
	case in.ExpiresInDays > 0:
		if capDays > 0 && in.ExpiresInDays > capDays {
			return l, Invalid("expiresInDays %d is over this portal's maximum lifetime of %d days (maxLifetimeDays): nothing was created", in.ExpiresInDays, capDays)
		}
		l.days = in.ExpiresInDays
	case capDays > 0:
		l.days = capDays
	default:
		return l, nil
	}
	if l.expiresAt == nil {
		// Whole seconds, as the warnings' marks keep times.
		at := now.Add(time.Duration(l.days) * day).UTC().Truncate(time.Second)
		l.expiresAt = &at
	}
	return l, nil
}

// freshLifetime is the lifetime a rotation gives a key's new token: the
// one it was given, under today's cap.
func freshLifetime(days, capDays int, now time.Time) lifetime {
	if capDays > 0 && (days == 0 || days > capDays) {
		days = capDays
	}
	if days == 0 {
		return lifetime{}
	}
	at := now.Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
	return lifetime{expiresAt: &at, days: days}
}

// expiries reads the expiries of the portal's keys that a stage may act on
// by horizon (the delete stage a week after the expiry): the tags index
// them, the values decide which token expires when. A secret whose value
// names no expiry, or another token, is not one.
func (s *Service) expiries(ctx context.Context, p *portalState, keySecrets func() ([]secrets.KeySecret, error), stage cleanup.Stage, horizon time.Time) (map[int64]time.Time, error) {
	if stage == cleanup.StageDelete {
		horizon = horizon.Add(-cleanup.ExpiredDeleteAfter)
	}
	secs, err := keySecrets()
	if err != nil {
		return nil, err
	}
	out := map[int64]time.Time{}
	for _, sec := range secs {
		if sec.ExpiresAt.IsZero() || sec.ExpiresAt.After(horizon) {
			continue
		}
		h, err := p.keys.Current(ctx, sec.Name)
		if err != nil {
			return nil, err
		}
		if h == nil || h.Key.ExpiresAt == nil || h.Key.AdminID != sec.AdminID || h.Key.ExpiresAt.After(horizon) {
			continue
		}
		out[h.Key.TokenID] = h.Key.ExpiresAt.UTC().Truncate(time.Second) // as the marks keep it
	}
	return out, nil
}

// expiry reads one token's expiry from the secret whose value holds its key
// (found false: no secret holds it, or it has no lifetime).
func (s *Service) expiry(ctx context.Context, p *portalState, adminID, tokenID int64) (time.Time, bool, error) {
	h, _, err := p.keys.Lookup(ctx, adminID, tokenID)
	if err != nil || h == nil || h.Key.ExpiresAt == nil {
		return time.Time{}, false, err
	}
	return h.Key.ExpiresAt.UTC().Truncate(time.Second), true, nil
}
