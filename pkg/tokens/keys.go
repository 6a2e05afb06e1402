package tokens

import (
	"context"
	"fmt"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// keyDeletion is what deleting a token did to the secret that held its key.
type keyDeletion struct {
	ref *secrets.SecretRef // nil: no secret held the key
	// notes say what else happened, or what was left alone and why.
	notes []string
}

// deleteKey schedules the deletion of the secret that holds token tokenID's
// key, when lmtokens stored it (as the secret's value shows; a secret only
// tagged with the token is reported, not touched). A rotation of that
// secret under way is cancelled first and its new token deleted, so that no
// token is left whose key only a deleted secret holds. With recent (the
// token was made a moment ago) a secret not yet visible is looked for
// across Secrets Manager's read lag.
func (s *Service) deleteKey(ctx context.Context, p *portalState, adminID, tokenID int64, recent bool) (keyDeletion, error) {
	var out keyDeletion
	h, mismatches, err := p.keys.Find(ctx, adminID, tokenID, recent)
	if err != nil {
		return out, err
	}
	for _, m := range mismatches {
		out.notes = append(out.notes, m.String())
	}
	if h == nil {
		return out, nil
	}
	if !h.Scheduled {
		note, err := s.cancelPending(ctx, p, h.Name, h.Key.AdminID)
		if err != nil {
			return out, err
		}
		if note != "" {
			out.notes = append(out.notes, note)
		}
	}
	out.ref, err = p.keys.ScheduleDeletion(ctx, h)
	return out, err
}

// cancelPending ends a rotation of a key's secret that is under way (or
// awaits its retry): the token it made is deleted (its key is only in the
// pending version), then AWSPENDING is taken off, so none of the
// rotation's steps runs again, and its claim is deleted. It says what it
// did ("" for nothing).
func (s *Service) cancelPending(ctx context.Context, p *portalState, name string, adminID int64) (string, error) {
	vs := secrets.Versions{API: s.api}
	st, err := vs.Describe(ctx, name)
	if err != nil || st == nil {
		return "", err
	}
	version := st.Pending()
	if version == "" {
		return "", nil
	}
	key := rotationClaimKey(name, version)
	pending := tokenOfVersion{adminID: adminID}
	value, found, err := vs.Read(ctx, name, version, secrets.StagePending)
	if err != nil {
		return "", err
	}
	if k, perr := secrets.ParseStoredKey(value); found && perr == nil {
		pending = tokenOfVersion{adminID: k.AdminID, tokenID: k.TokenID}
	} else {
		// No value yet: createSecret may be making the token; its claim
		// names it once made.
		doc, err := p.claims.Doc(ctx, adminID, key)
		if err != nil {
			return "", err
		}
		if doc != nil {
			pending.tokenID = doc.TokenID
		}
	}
	if pending.tokenID != 0 {
		err := s.withLM(ctx, p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
			return c.DeleteToken(ctx, pending.adminID, pending.tokenID)
		})
		if err != nil && !logicmonitor.IsNotFound(err) {
			return "", fmt.Errorf("a rotation of %s is under way and its new token %d could not be deleted: %w", name, pending.tokenID, err)
		}
	}
	if err := vs.DropPending(ctx, name, version); err != nil {
		return "", err
	}
	if err := p.claims.Forget(ctx, adminID, key); err != nil {
		s.log.WarnContext(ctx, "could not delete the cancelled rotation's record", "secret", name, "error", err.Error())
	}
	if pending.tokenID == 0 {
		return fmt.Sprintf("a rotation of %s that had made no token yet was cancelled", name), nil
	}
	return fmt.Sprintf("a rotation of %s was under way: it was cancelled and its new token %d deleted", name, pending.tokenID), nil
}

// tokenOfVersion names the token a secret version holds.
type tokenOfVersion struct{ adminID, tokenID int64 }

// rotationClaimKey names a rotation's idempotency claim: one per secret
// and version, so retried and concurrent createSecret steps make one token.
func rotationClaimKey(secretName, version string) string {
	return "rotation:" + secretName + ":" + version
}
