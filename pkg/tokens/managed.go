package tokens

import (
	"context"

	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// A managed token is one a stack (or any caller holding its first id)
// stands for through its secret: a rotation moves the secret, under the
// same name, on to a new token, and the caller's id names the first.

// UpdateInput changes a managed token in place.
type UpdateInput struct {
	Portal  string
	AdminID int64
	// TokenID is the token the caller was first given.
	TokenID int64
	Status  int
	Note    string
	// RotationDays, when above 0, sets the key's rotation schedule.
	RotationDays int
}

// UpdateOutput is the managed token after an update.
type UpdateOutput struct {
	TokenID   int64
	AccessID  string
	AdminName string
	// Secret is the key's secret; its ARN is empty when the secret could
	// not be read.
	Secret secrets.SecretRef
}

// currentToken is the token a resource stands for now: the physical id
// names the token it was created with, and a rotation since may have moved
// its secret (same name) on to another token, which the secret's value
// names. It also returns the secret as it read it (nil when there is none).
// The value decides, never the secret's tags: a tag anyone can write must
// not point a stack's delete at a token the stack never made.
func (s *Service) currentToken(ctx context.Context, portal string, adminID, tokenID int64) (int64, *secrets.State, error) {
	p, err := s.lookupPortal(ctx, portal)
	if err != nil {
		return 0, nil, err
	}
	name := p.keys.Name(adminID, tokenID)
	st, err := secrets.Versions{API: s.api}.Describe(ctx, name)
	if err != nil || st == nil || st.Deleted {
		return tokenID, st, err
	}
	h, err := p.keys.Current(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	if h != nil && h.Key.AdminID == adminID {
		return h.Key.TokenID, st, nil
	}
	return tokenID, st, nil
}

// UpdateManaged sets the status and note of the token a managed token
// stands for now and, when asked, its key's rotation.
func (s *Service) UpdateManaged(ctx context.Context, in UpdateInput) (UpdateOutput, error) {
	tokenID, secret, err := s.currentToken(ctx, in.Portal, in.AdminID, in.TokenID)
	if err != nil {
		return UpdateOutput{}, err
	}
	status, note := in.Status, in.Note
	tok, err := s.Toggle(ctx, ToggleInput{Portal: in.Portal, AdminID: in.AdminID, TokenID: tokenID, Status: &status, Note: &note})
	if err != nil {
		return UpdateOutput{}, err
	}
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return UpdateOutput{}, err
	}
	out := UpdateOutput{TokenID: tokenID, AccessID: tok.AccessID, AdminName: tok.AdminName, Secret: secrets.SecretRef{Name: p.keys.Name(in.AdminID, in.TokenID)}}
	if secret != nil {
		out.Secret.ARN = secret.ARN
	}
	if in.RotationDays > 0 {
		if s.cfg.Rotation.FunctionARN == "" {
			return UpdateOutput{}, Invalid("RotationDays: rotation is not deployed here (no rotation function)")
		}
		if secret == nil || secret.Deleted {
			return UpdateOutput{}, Fail(KindUpstream, "RotationDays: the key's secret %s could not be read: the note and status were updated; retry the update", out.Secret.Name)
		}
		if info := s.scheduleRotation(ctx, out.Secret, in.RotationDays); !info.Enabled {
			return UpdateOutput{}, Fail(KindUpstream, "RotationDays: %s", info.Error)
		}
	}
	return out, nil
}

// DeleteManaged deletes the token a managed token stands for now and
// schedules its secret's deletion. One already gone is no error: after a
// rotation the first token retires on its rotated-out record's dates.
func (s *Service) DeleteManaged(ctx context.Context, in DeleteInput) error {
	current, _, err := s.currentToken(ctx, in.Portal, in.AdminID, in.TokenID)
	if err != nil {
		if Classify(err, s.cfg.CredentialsSecret).Kind != KindNotFound {
			return err
		}
		current = in.TokenID
	}
	in.TokenID = current
	if _, err := s.Delete(ctx, in); err != nil && Classify(err, s.cfg.CredentialsSecret).Kind != KindNotFound {
		return err
	}
	return nil
}
