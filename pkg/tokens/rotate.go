package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Rotation steps Secrets Manager invokes the rotation function with.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// RotationStep is one step of a rotation, as Secrets Manager names it:
// the secret, the new version's id, the step, and the RotationToken that
// PutSecretValue passes back (sensitive: never logged).
type RotationStep struct {
	SecretID           string
	ClientRequestToken string
	Step               string
	RotationToken      string
}

// rotTarget is a secret being rotated: a stored key or a credentials
// secret, and the portal it belongs to.
type rotTarget struct {
	credentials bool
	p           *portalState
	state       *secrets.State
	id          string // the SecretId Secrets Manager named
	// adminID is a key secret's user, from its name.
	adminID int64
	// rotationToken is the step's RotationToken, which Secrets Manager
	// checks on PutSecretValue when the function acts through an assumed
	// role.
	rotationToken string
}

func (t *rotTarget) what() string {
	if t.credentials {
		return "credentials secret " + t.state.Name
	}
	return "key secret " + t.state.Name
}

// rotationTarget tells what the secret is. Anything that is neither a key
// lmtokens stored nor a credentials secret it uses is refused.
func (s *Service) rotationTarget(ctx context.Context, id string) (*rotTarget, error) {
	st, err := secrets.Versions{API: s.api}.Describe(ctx, id)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, &Error{Kind: KindNotFound, Message: "secret " + id + " does not exist"}
	}
	t := &rotTarget{state: st, id: id}
	switch {
	case s.isDefaultCredentials(st.Name, st.ARN):
		t.credentials, t.p = true, s.defaultPortal
	case strings.HasPrefix(st.Name, s.cfg.PortalsPrefix):
		p, err := s.lookupPortal(ctx, strings.TrimPrefix(st.Name, s.cfg.PortalsPrefix))
		if err != nil {
			return nil, err
		}
		t.credentials, t.p = true, p
	case strings.HasPrefix(st.Name, s.cfg.SecretPrefix):
		parts := strings.Split(strings.TrimPrefix(st.Name, s.cfg.SecretPrefix), "/")
		name := ""
		if len(parts) == 3 {
			name, parts = parts[0], parts[1:]
		}
		admin, aErr := ParseID(parts[0])
		if len(parts) == 2 {
			if _, tErr := ParseID(parts[1]); aErr == nil && tErr == nil {
				p, err := s.lookupPortal(ctx, name)
				if err != nil {
					return nil, err
				}
				t.p, t.adminID = p, admin
				return t, nil
			}
		}
		fallthrough
	default:
		return nil, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
			"secret %s is neither a key lmtokens stored (%s<adminId>/<tokenId>) nor its credentials secret: lmtokens does not rotate it", st.Name, s.cfg.SecretPrefix)}
	}
	if st.Deleted {
		return nil, &Error{Kind: KindNotFound, Message: "the credentials secret " + st.Name + " is scheduled for deletion"}
	}
	return t, nil
}

// isDefaultCredentials reports whether a secret (by name and ARN) is
// LM_CREDENTIALS_SECRET, which may be given as a name, a complete ARN or a
// partial ARN (without the random suffix).
func (s *Service) isDefaultCredentials(name, arn string) bool {
	cfg := s.cfg.CredentialsSecret
	return name == cfg || arn != "" && (arn == cfg || strings.HasPrefix(cfg, "arn:") && strings.HasPrefix(arn, cfg+"-"))
}

// RotationStep runs one step of a rotation of a stored key or of a
// credentials secret and says what it did. As AWS's templates do, every
// step first checks the version: a version already AWSCURRENT needs
// nothing, one that is not AWSPENDING must not be touched.
func (s *Service) RotationStep(ctx context.Context, in RotationStep) (string, error) {
	t, err := s.rotationTarget(ctx, in.SecretID)
	if err != nil {
		return "", err
	}
	st, v := t.state, in.ClientRequestToken
	t.rotationToken = in.RotationToken
	if st.Deleted {
		return "", s.abandonDeleted(ctx, t, v)
	}
	if !st.RotationEnabled {
		return "", &Error{Kind: KindInvalid, Message: "rotation is not enabled on " + t.what()}
	}
	if _, ok := st.Stages[v]; !ok {
		return "", &Error{Kind: KindInvalid, Message: fmt.Sprintf(
			"version %s of %s has no staging label: it was never made, or its rotation was abandoned", v, t.what())}
	}
	if st.Has(v, secrets.StageCurrent) {
		if in.Step == StepFinish {
			// A finish that failed after moving AWSCURRENT may not have
			// retagged the secret or removed the rotation's claim.
			return "already current", s.finishedAlready(ctx, t, v)
		}
		return "already current", nil
	}
	if !st.Has(v, secrets.StagePending) {
		return "", &Error{Kind: KindInvalid, Message: fmt.Sprintf("version %s of %s is not AWSPENDING: its rotation was abandoned", v, t.what())}
	}
	switch in.Step {
	case StepCreate:
		return s.rotateCreate(ctx, t, v)
	case StepSet:
		// LogicMonitor has nothing to set: the token exists from
		// createSecret on, and works at once.
		return "nothing to set", nil
	case StepTest:
		return s.rotateTest(ctx, t, v)
	case StepFinish:
		return s.rotateFinish(ctx, t, v)
	}
	return "", Invalid("unknown rotation step %q (want createSecret, setSecret, testSecret or finishSecret)", in.Step)
}

// rotated describes the key a secret version holds.
type rotated struct {
	adminID, tokenID int64
	accessID, key    string
	typ, note        string
	company, baseURL string
	stored           *secrets.StoredKey // for a key secret
	creds            *secrets.Credentials
	raw              string // the value as stored
}

// readVersion parses a version's value (by id, or AWSCURRENT when version
// is ""), which must be complete.
func (s *Service) readVersion(ctx context.Context, t *rotTarget, version string) (*rotated, bool, error) {
	stage := ""
	if version == "" {
		stage = secrets.StageCurrent
	}
	value, found, err := secrets.Versions{API: s.api}.Read(ctx, t.id, version, stage)
	if err != nil || !found {
		return nil, found, err
	}
	if !t.credentials {
		k, err := secrets.ParseStoredKey(value)
		if err != nil {
			return nil, true, &Error{Kind: KindConfiguration, Message: fmt.Sprintf("%s: %v", t.what(), err)}
		}
		return &rotated{adminID: k.AdminID, tokenID: k.TokenID, accessID: k.AccessID, key: k.AccessKey, typ: k.Type, note: k.Note, company: k.Company, stored: &k, raw: value}, true, nil
	}
	c, err := secrets.ParseCredentials(value)
	if err != nil {
		return nil, true, &Error{Kind: KindConfiguration, Message: fmt.Sprintf("%s is malformed: %v", t.what(), err)}
	}
	r := &rotated{adminID: c.AdminID, tokenID: c.TokenID, accessID: c.AccessID, company: c.Company, baseURL: c.BaseURL, creds: &c, typ: logicmonitor.TypeLMv1, raw: value}
	if c.AccessID == "" {
		r.typ = logicmonitor.TypeBearer
	}
	return r, true, nil
}

// ownToken finds the token a credentials secret holds. LMv1 credentials
// are found by their access id, and the ids the secret names (if any) must
// be that token's; bearer credentials carry no access id, so the secret
// must name their token, which must exist as a bearer token of that user.
// A secret that names another token than the one it holds would rotate, and
// later retire, someone else's token: it is a Configuration error.
func (s *Service) ownToken(ctx context.Context, c logicmonitor.Portal, secretName string, r *rotated) error {
	tok, err := verifyOwnToken(ctx, c, secretName, r.accessID, r.adminID, r.tokenID)
	if err != nil {
		return err
	}
	r.adminID, r.tokenID = tok.AdminID, tok.ID
	return nil
}

// verifyOwnToken finds the token credentials hold (see ownToken): by access
// id for LMv1 credentials (checking the ids the secret names, when it names
// any), by the named ids for bearer ones.
func verifyOwnToken(ctx context.Context, c logicmonitor.Portal, secretName, accessID string, adminID, tokenID int64) (*logicmonitor.Token, error) {
	if accessID == "" {
		if adminID == 0 || tokenID == 0 {
			return nil, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
				`bearer credentials name no access id: add "adminId" and "tokenId" to the credentials secret %s so its own token is known`, secretName)}
		}
		tok, err := c.GetToken(ctx, adminID, tokenID, logicmonitor.TypeBearer)
		if logicmonitor.IsNotFound(err) {
			return nil, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
				`the credentials secret %s names "adminId" %d and "tokenId" %d, but user %d has no bearer token %d: correct the ids to name the token whose bearer string the secret holds`, secretName, adminID, tokenID, adminID, tokenID)}
		}
		return tok, err
	}
	toks, err := c.AllTokens(ctx, logicmonitor.ListAllOptions{Types: []string{logicmonitor.TypeLMv1}, Filter: fmt.Sprintf("accessId:%q", accessID)})
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if t.AccessID != accessID || t.ID == 0 || t.AdminID == 0 {
			continue
		}
		switch {
		case adminID != 0 && adminID != t.AdminID:
			return nil, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
				`the credentials secret %s names "adminId" %d, but its access id belongs to token %d of user %d: correct "adminId" (or remove it with "tokenId")`, secretName, adminID, t.ID, t.AdminID)}
		case tokenID != 0 && tokenID != t.ID:
			return nil, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
				`the credentials secret %s names "tokenId" %d, but its access id belongs to token %d of user %d: correct "tokenId" (or remove it with "adminId")`, secretName, tokenID, t.ID, t.AdminID)}
		}
		return &t, nil
	}
	return nil, &Error{Kind: KindConfiguration, Message: "the token of the access id in the credentials secret " + secretName + " was not found in LogicMonitor"}
}

// replaceable re-reads the token a rotation replaces: it must still exist
// and be enabled (a disabled token's replacement would be enabled, undoing
// whoever disabled it). Its note and type, as LogicMonitor has them now,
// are the new token's.
func (s *Service) replaceable(ctx context.Context, p *portalState, cur *rotated) error {
	var tok *logicmonitor.Token
	err := s.withLM(ctx, p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
		var err error
		// The type, when known, saves asking for both.
		tok, err = c.GetToken(ctx, cur.adminID, cur.tokenID, cur.typ)
		return err
	})
	switch {
	case logicmonitor.IsNotFound(err):
		return &Error{Kind: KindNotFound, Message: fmt.Sprintf(
			"token %d of user %d no longer exists in LogicMonitor: there is nothing to rotate (delete it through lmtokens to schedule its secret's deletion)", cur.tokenID, cur.adminID)}
	case err != nil:
		return err
	case tok.Status != logicmonitor.StatusEnabled:
		return &Error{Kind: KindConflict, Message: fmt.Sprintf(
			"token %d of user %d is disabled: lmtokens does not rotate a disabled key (its replacement would be enabled); enable or delete it", cur.tokenID, cur.adminID)}
	}
	cur.note, cur.typ = tok.Note, tok.Type
	return nil
}

// rotationKey names a rotation's idempotency claim (see rotationClaimKey).
func rotationKey(t *rotTarget, version string) string {
	return rotationClaimKey(t.state.Name, version)
}

// rotateCreate makes the new token and stores it as the AWSPENDING
// version. It is create's protocol with the pending version as the store:
// a claim written before the POST, a lost answer reconciled (the token it
// made is found and deleted), the value stored under the version's id so a
// repeat is a no-op.
func (s *Service) rotateCreate(ctx context.Context, t *rotTarget, version string) (string, error) {
	vs := secrets.Versions{API: s.api}
	if _, found, err := vs.Read(ctx, t.id, version, secrets.StagePending); err != nil || found {
		return "already created", err
	}
	cur, _, err := s.readVersion(ctx, t, "")
	if err != nil {
		return "", err
	}
	if cur == nil {
		return "", &Error{Kind: KindConfiguration, Message: t.what() + " has no AWSCURRENT value to rotate"}
	}
	p := t.p
	c, _, err := s.lmClient(ctx, p)
	if err != nil {
		return "", err
	}
	if t.credentials {
		if err := s.ownToken(ctx, c, t.state.Name, cur); err != nil {
			return "", err
		}
	} else if err := s.guardProtected(ctx, p, cur.adminID); err != nil {
		return "", err
	}
	if err := s.replaceable(ctx, p, cur); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindNotFound && !t.credentials {
			return "", s.rotationOff(ctx, t, version, e)
		}
		return "", err
	}
	in := CreateInput{Portal: p.name, AdminID: cur.adminID, Type: cur.typ, Note: cur.note, Status: logicmonitor.StatusEnabled, IdempotencyKey: rotationKey(t, version),
		retry: "let Secrets Manager retry createSecret (or retry the rotation with its version id)"}
	// The claim is the version's, whatever the note: a note changed between
	// two attempts must not make the retry a different request. The first
	// attempt's note stands (held.Note), so a lost token is found by it.
	held, replay, err := p.claims.Acquire(ctx, in.AdminID, in.IdempotencyKey, fingerprint(CreateInput{AdminID: in.AdminID, Type: in.Type, Status: in.Status}), owner(ctx), in.Note)
	switch {
	case errors.Is(err, secrets.ErrInProgress):
		return "", &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"another attempt of createSecret for version %s is under way (one that stopped is taken over after %v): nothing was made by this one", version, secrets.StaleAfter)}
	case errors.Is(err, secrets.ErrKeyRetired) || errors.Is(err, secrets.ErrKeyReused):
		return "", &Error{Kind: KindConflict, Message: fmt.Sprintf("the rotation to version %s of %s has ended: start another", version, t.what())}
	case err != nil:
		return "", err
	case replay != nil:
		return "", &Error{Kind: KindUnavailable, Message: fmt.Sprintf(
			"the new key of version %s was stored, but Secrets Manager does not show it yet: retry", version)}
	}
	in.Note = held.Note()
	tok, err := s.mint(ctx, minting{p: p, in: in, held: held, recordName: "the rotation's record",
		record: func(tok *logicmonitor.CreatedToken) (string, int, json.RawMessage) { return "", recordMade, nil },
		keep: func(ctx context.Context, tok *logicmonitor.CreatedToken, creds secrets.Credentials) (minted, error) {
			var value string
			var err error
			if t.credentials {
				value, err = secrets.RotatedCredentials(cur.raw, in.AdminID, tok.ID, tok.AccessID, tok.AccessKey)
			} else {
				k := *cur.stored
				k.AccessID, k.AccessKey, k.TokenID, k.CreatedOn, k.CreatedBy = tok.AccessID, tok.AccessKey, tok.ID, tok.CreatedOn, "lmtokens rotation"
				// The new token's lifetime starts afresh, under today's cap.
				life := freshLifetime(k.LifetimeDays, s.capDays(creds.MaxLifetimeDays), s.now())
				k.ExpiresAt, k.LifetimeDays = life.expiresAt, life.days
				var b []byte
				b, err = json.Marshal(k)
				value = string(b)
			}
			if err == nil {
				if err = vs.PutPending(ctx, t.id, version, value, t.rotationToken); err != nil {
					// The write may have happened with its answer lost:
					// believe only what is there.
					if _, found, rerr := vs.Read(ctx, t.id, version, secrets.StagePending); rerr == nil && found {
						err = nil
					}
				}
			}
			return minted{code: recordMade, answer: json.RawMessage(fmt.Sprintf(`{"tokenId":%d}`, tok.ID))}, err
		},
	})
	if err != nil {
		return "", err
	}
	s.log.InfoContext(ctx, "rotation made a new token", "secret", t.state.Name, "adminId", in.AdminID, "tokenId", tok.ID, "replaces", cur.tokenID)
	return fmt.Sprintf("token %d made", tok.ID), nil
}

// rotationOff ends the rotations of a key whose token LogicMonitor no
// longer has: there is nothing to rotate, now or later. The schedule is
// turned off and the pending version dropped, so the rotation fails once.
func (s *Service) rotationOff(ctx context.Context, t *rotTarget, version string, cause *Error) error {
	vs := secrets.Versions{API: s.api}
	if err := vs.CancelRotation(ctx, t.id); err != nil {
		return errors.Join(cause, err)
	}
	if err := vs.DropPending(ctx, t.id, version); err != nil {
		return errors.Join(cause, err)
	}
	s.forgetRotation(ctx, t, version, t.adminID)
	return &Error{Kind: KindNotFound, Message: cause.Message + "; the rotation of " + t.state.Name + " was turned off"}
}

// abandonDeleted ends a step of a rotation whose key secret was scheduled
// for deletion meanwhile (its token was deleted through lmtokens): the
// token the rotation made, which its claim names, is deleted too, since its
// key is only in a secret being deleted.
func (s *Service) abandonDeleted(ctx context.Context, t *rotTarget, version string) error {
	key := rotationKey(t, version)
	doc, err := t.p.claims.Doc(ctx, t.adminID, key)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%s is scheduled for deletion: the rotation to version %s was abandoned", t.what(), version)
	if doc != nil && doc.TokenID != 0 {
		err := s.withLM(ctx, t.p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
			return c.DeleteToken(ctx, t.adminID, doc.TokenID)
		})
		if err != nil && !logicmonitor.IsNotFound(err) {
			return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
				"%s, but its new token %d could not be deleted (%v): the step is retried and deletes it", msg, doc.TokenID, Classify(err, s.cfg.CredentialsSecret).Message)}
		}
		msg += fmt.Sprintf(" and its new token %d deleted", doc.TokenID)
	}
	s.forgetRotation(ctx, t, version, t.adminID)
	return &Error{Kind: KindNotFound, Message: msg}
}

// testAttempts is how often a refused new key is tried before the rotation
// gives it up: a portal may take a moment to accept a token it just made.
const testAttempts = 3

// rotateTest signs a request as the new key. Any authenticated answer (a
// 403 for a user without the right to list tokens too) proves it works; a
// 401 repeated testAttempts times abandons the rotation: the new token is
// deleted, AWSPENDING taken off, AWSCURRENT left as it is.
func (s *Service) rotateTest(ctx context.Context, t *rotTarget, version string) (string, error) {
	next, found, err := s.readVersion(ctx, t, version)
	if err != nil {
		return "", err
	}
	if !found {
		// RotateSecret without an immediate rotation tests the
		// configuration with a valueless AWSPENDING version: the key in use
		// must work.
		cur, _, err := s.readVersion(ctx, t, "")
		if err != nil || cur == nil {
			return "", errors.Join(err, errors.New(t.what()+" has no AWSCURRENT value"))
		}
		chk, err := s.checkKey(ctx, t, cur)
		if err != nil {
			return "", err
		}
		if chk.refused != nil {
			return "", &Error{Kind: KindUpstream, Message: fmt.Sprintf(
				"configuration test: LogicMonitor refused the current key of %s (token %d, HTTP 401: %s): a disabled or deleted token cannot rotate", t.what(), cur.tokenID, chk.refused.Message)}
		}
		return "configuration tested: the current key works", nil
	}
	var refused *logicmonitor.Error
	for attempt := 0; attempt < testAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		chk, err := s.checkKey(ctx, t, next)
		if err != nil {
			return "", err // not an answer about the key: retry the step
		}
		if chk.refused == nil {
			return fmt.Sprintf("token %d authenticates", next.tokenID), nil
		}
		refused = chk.refused
	}
	return "", s.abandon(ctx, t, version, next, fmt.Sprintf("the new key (token %d) was refused by LogicMonitor (HTTP 401: %s)", next.tokenID, refused.Message))
}

// keyCheck is what one request signed with a key showed.
type keyCheck struct {
	// refused is LogicMonitor's 401: the key does not authenticate.
	refused *logicmonitor.Error
	// forbidden: authenticated, but its user may not list tokens (403).
	forbidden bool
	// token is the key's own token as its user's listing shows it (nil:
	// the listing does not show it).
	token *logicmonitor.Token
}

// checkKey makes one request signed with a key: it reads the key's own
// token (by its id, through its user's listing), which proves the key
// authenticates and shows the token as LogicMonitor has it. An error says
// nothing about the key (LogicMonitor unreachable, say).
func (s *Service) checkKey(ctx context.Context, t *rotTarget, r *rotated) (keyCheck, error) {
	var auth lmauth.Authenticator
	var err error
	switch {
	case r.creds != nil:
		auth = r.creds.Auth
	case r.typ == logicmonitor.TypeBearer:
		auth, err = lmauth.NewBearer(r.key)
	default:
		auth, err = lmauth.NewLMv1(r.accessID, r.key)
	}
	if err != nil {
		return keyCheck{}, &Error{Kind: KindConfiguration, Message: t.what() + ": the key is unusable: " + err.Error()}
	}
	_, creds, err := s.lmClient(ctx, t.p)
	if err != nil {
		return keyCheck{}, err
	}
	base := s.baseURL(t.p, creds)
	if r.creds != nil && r.creds.BaseURL != "" {
		base = r.creds.BaseURL
	}
	c, err := s.connect(logicmonitor.Connection{Company: r.company, BaseURL: base, Auth: auth, Requests: &s.lmRequests})
	if err != nil {
		return keyCheck{}, &Error{Kind: KindConfiguration, Message: "configuration: " + err.Error()}
	}
	var chk keyCheck
	if r.tokenID == 0 {
		// Credentials that name no token: any authenticated answer.
		_, err = c.ListTokens(ctx, r.adminID, logicmonitor.ListOptions{Size: 1, Fields: "id"})
	} else {
		chk.token, err = c.GetToken(ctx, r.adminID, r.tokenID, r.typ)
	}
	var lm *logicmonitor.Error
	switch {
	case err == nil:
		return chk, nil
	case errors.As(err, &lm) && lm.Forbidden():
		return keyCheck{forbidden: true}, nil // authenticated, not authorised: the key works
	case errors.As(err, &lm) && lm.Unauthenticated():
		return keyCheck{refused: lm}, nil
	case logicmonitor.IsNotFound(err):
		return keyCheck{}, nil // authenticated: the listing does not show the token
	}
	return keyCheck{}, &Error{Kind: KindUpstream, Message: "testing the key: " + Classify(err, s.cfg.CredentialsSecret).Message}
}

// stillValid re-checks the new token right before finishSecret makes its
// key the one consumers read: it must exist, be enabled, have the pending
// version's access id, and its key must authenticate. When it no longer
// does (deleted or disabled since testSecret, or taken by someone else), the
// rotation is abandoned and AWSCURRENT stays on the working key. An error
// that says nothing about the token fails the step for a retry.
func (s *Service) stillValid(ctx context.Context, t *rotTarget, version string, next *rotated) error {
	chk, err := s.checkKey(ctx, t, next)
	if err != nil {
		return err
	}
	tok := chk.token
	if chk.forbidden {
		// Its user may not list tokens: read it with the service's own.
		err := s.withLM(ctx, t.p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
			var err error
			tok, err = c.GetToken(ctx, next.adminID, next.tokenID, next.typ)
			return err
		})
		if err != nil && !logicmonitor.IsNotFound(err) {
			return err
		}
	}
	reason := ""
	switch {
	case chk.refused != nil:
		reason = fmt.Sprintf("LogicMonitor refuses the new key (token %d, HTTP 401: %s)", next.tokenID, chk.refused.Message)
	case tok == nil:
		reason = fmt.Sprintf("the new token %d of user %d no longer exists", next.tokenID, next.adminID)
	case tok.Status != logicmonitor.StatusEnabled:
		reason = fmt.Sprintf("the new token %d was disabled", next.tokenID)
	case next.accessID != "" && tok.AccessID != next.accessID:
		reason = fmt.Sprintf("token %d no longer has the pending key's access id", next.tokenID)
	default:
		return nil
	}
	return s.abandon(ctx, t, version, next, "finishSecret: "+reason)
}

// abandon ends a rotation whose new key cannot become current: the new
// token is deleted if it still exists (its key must not outlive the
// rotation), AWSPENDING is taken off so no retry resumes it, and the
// failure is announced. AWSCURRENT is never touched.
func (s *Service) abandon(ctx context.Context, t *rotTarget, version string, next *rotated, reason string) error {
	cctx, cancel := Compensation(ctx)
	defer cancel()
	err := s.withLM(cctx, t.p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
		return c.DeleteToken(cctx, next.adminID, next.tokenID)
	})
	if err != nil && !logicmonitor.IsNotFound(err) {
		return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"%s, and deleting the new token %d failed (%v): AWSCURRENT is untouched; the step is retried and deletes it",
			reason, next.tokenID, Classify(err, s.cfg.CredentialsSecret).Message)}
	}
	if err := (secrets.Versions{API: s.api}).DropPending(cctx, t.id, version); err != nil {
		return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"%s; the new token %d was deleted, but AWSPENDING could not be taken off version %s (%v): AWSCURRENT is untouched; retrying finishes", reason, next.tokenID, version, err)}
	}
	s.forgetRotation(cctx, t, version, next.adminID)
	msg := fmt.Sprintf("%s: the new token %d was deleted and version %s abandoned; AWSCURRENT is untouched and still holds the working key; the next rotation makes a new token",
		reason, next.tokenID, version)
	d := s.rotationDetail(ctx, t, next)
	d.Error, d.VersionID = msg, version
	s.emit(ctx, lifecycle.Event{DetailType: lifecycle.RotationFailed, Detail: d})
	return &Error{Kind: KindUpstream, Message: msg}
}

// forgetRotation deletes a finished rotation's claim.
func (s *Service) forgetRotation(ctx context.Context, t *rotTarget, version string, adminID int64) {
	if err := t.p.claims.Forget(ctx, adminID, rotationKey(t, version)); err != nil {
		s.log.WarnContext(ctx, "could not delete the rotation's record", "secret", t.state.Name, "error", err.Error())
	}
}

// rotateFinish re-checks the new token, records the old token's
// retirement, moves AWSCURRENT to the new version, points the secret's tags
// at the new token and announces the rotation. The record comes before the
// move: whatever is lost after it, the old token is retired only once its
// version is no longer AWSCURRENT, and only when its record can be proven
// against the secret's versions.
func (s *Service) rotateFinish(ctx context.Context, t *rotTarget, version string) (string, error) {
	next, found, err := s.readVersion(ctx, t, version)
	if err != nil {
		return "", err
	}
	if !found {
		return "", &Error{Kind: KindInvalid, Message: fmt.Sprintf("version %s of %s has no value: createSecret has not run", version, t.what())}
	}
	from := t.state.Holder(secrets.StageCurrent)
	old, _, err := s.readVersion(ctx, t, "")
	if err != nil {
		return "", err
	}
	if old != nil && t.credentials && (old.tokenID == 0 || old.adminID == 0) {
		c, _, err := s.lmClient(ctx, t.p)
		if err == nil {
			err = s.ownToken(ctx, c, t.state.Name, old)
		}
		if err != nil {
			return "", err
		}
	}
	if err := s.stillValid(ctx, t, version, next); err != nil {
		return "", err
	}
	now := s.now().UTC()
	var rec *secrets.Retirement
	if old != nil && old.tokenID != next.tokenID {
		r := secrets.Retirement{AdminID: old.adminID, TokenID: old.tokenID, AccessID: old.accessID, Type: old.typ, Secret: t.state.Name, FromVersion: from,
			ReplacedBy: next.tokenID, RotatedAt: now, DisableAt: now.Add(s.cfg.Rotation.Grace), DeleteAt: now.Add(s.cfg.Rotation.Grace + s.cfg.Rotation.DeleteAfter)}
		if err := t.p.retirements().Put(ctx, r); err != nil {
			return "", err
		}
		rec = &r
	}
	if err := (secrets.Versions{API: s.api}).Promote(ctx, t.id, version, from); err != nil {
		return "", err
	}
	if err := s.announce(ctx, t, version, next, rec); err != nil {
		return "", err
	}
	return fmt.Sprintf("token %d is AWSCURRENT", next.tokenID), nil
}

// finishedAlready completes a finish whose version is AWSCURRENT already
// (an earlier attempt moved it and then failed): the tags, the
// announcement and the claim.
func (s *Service) finishedAlready(ctx context.Context, t *rotTarget, version string) error {
	cur, _, err := s.readVersion(ctx, t, "")
	if err != nil || cur == nil {
		return err
	}
	// The token it replaced is in the version that became AWSPREVIOUS.
	var rec *secrets.Retirement
	if prev := t.state.Holder(secrets.StagePrevious); prev != "" {
		if old, found, err := s.readVersion(ctx, t, prev); err == nil && found && old.tokenID != 0 {
			rec, _ = t.p.retirements().Get(ctx, old.adminID, old.tokenID)
		}
	}
	return s.announce(ctx, t, version, cur, rec)
}

// announce ends a promotion: the key secret's tags (the index) name the
// new token, API Token Rotated is emitted once per version (the rotation's
// claim is marked announced by a compare-and-set, so of finishes that run
// at once or are retried exactly one emits; a claim gone already means it
// was announced), and the claim is deleted.
func (s *Service) announce(ctx context.Context, t *rotTarget, version string, next *rotated, replaced *secrets.Retirement) error {
	if !t.credentials && t.state.Tags[secrets.TagTokenID] != fmt.Sprint(next.tokenID) {
		if err := t.p.keys.Retag(ctx, t.state.Name, *next.stored); err != nil {
			return err
		}
	}
	won, err := t.p.claims.Announce(ctx, next.adminID, rotationKey(t, version), owner(ctx))
	if err != nil {
		return err
	}
	if won {
		d := s.rotationDetail(ctx, t, next)
		d.VersionID = version
		if replaced != nil {
			d.Replaced = &lifecycle.Replaced{TokenID: replaced.TokenID, AccessID: replaced.AccessID, DisableAt: replaced.DisableAt, DeleteAt: replaced.DeleteAt}
		}
		s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenRotated, Detail: d})
	}
	s.forgetRotation(ctx, t, version, next.adminID)
	return nil
}

// rotationDetail is a rotation event's detail: the new token and where its
// key is. Never the key.
func (s *Service) rotationDetail(ctx context.Context, t *rotTarget, next *rotated) lifecycle.Token {
	d := s.tokenDetail(ctx, t.p.name, logicmonitor.Token{ID: next.tokenID, AdminID: next.adminID, AccessID: next.accessID, Type: next.typ, Note: next.note}, lifecycle.ReasonRotation)
	d.Secret = &lifecycle.Secret{Name: t.state.Name, ARN: t.state.ARN}
	return d
}

// RotateOutput answers a rotation started on request.
type RotateOutput struct {
	AdminID int64             `json:"adminId"`
	TokenID int64             `json:"tokenId"`
	Secret  secrets.SecretRef `json:"secret"`
	// VersionID is the version the new key will be stored as (AWSPENDING,
	// then AWSCURRENT once tested).
	VersionID string `json:"versionId"`
	Message   string `json:"message"`
}

// rotateNow starts a rotation of a stored key through Secrets Manager.
func (s *Service) Rotate(ctx context.Context, in RotateInput) (RotateOutput, error) {
	if s.cfg.Rotation.FunctionARN == "" {
		// As for rotationDays: the caller asked for what this deployment
		// does not offer.
		return RotateOutput{}, Invalid("rotation is not deployed here (no rotation function, ROTATION_FUNCTION_ARN): nothing was started")
	}
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return RotateOutput{}, err
	}
	h, mismatches, err := p.keys.Lookup(ctx, in.AdminID, in.TokenID)
	if err != nil {
		return RotateOutput{}, err
	}
	if h == nil || h.Scheduled {
		msg := fmt.Sprintf("token %d of user %d has no stored key: only keys lmtokens created (and did not delete or rotate out) can rotate", in.TokenID, in.AdminID)
		for _, m := range mismatches {
			msg += "; " + m.String()
		}
		return RotateOutput{}, &Error{Kind: KindNotFound, Message: msg}
	}
	ref := h.Ref()
	if err := s.guardProtected(ctx, p, in.AdminID); err != nil {
		return RotateOutput{}, err
	}
	if err := s.replaceable(ctx, p, &rotated{adminID: in.AdminID, tokenID: in.TokenID, typ: ref.Type}); err != nil {
		return RotateOutput{}, err
	}
	version, err := secrets.Versions{API: s.api}.Rotate(ctx, ref.ARN, secrets.Rotation{LambdaARN: s.cfg.Rotation.FunctionARN, Now: true})
	switch {
	case errors.Is(err, secrets.ErrRotationInProgress):
		return RotateOutput{}, &Error{Kind: KindConflict, Message: fmt.Sprintf(
			"a rotation of %s is already under way (or failed and awaits Secrets Manager's retry): nothing was started", ref.Name)}
	case secrets.IsNotFound(err):
		return RotateOutput{}, &Error{Kind: KindNotFound, Message: "the key's secret " + ref.Name + " no longer exists"}
	case err != nil:
		return RotateOutput{}, err
	}
	s.log.InfoContext(ctx, "rotation started", "secret", ref.Name, "version", version, "adminId", in.AdminID, "tokenId", in.TokenID)
	return RotateOutput{AdminID: in.AdminID, TokenID: in.TokenID, Secret: *ref, VersionID: version,
		Message: "Secrets Manager is rotating the key: the new token's key will be the secret's AWSCURRENT version " + version + " once tested; the old token stays enabled for the grace period"}, nil
}

// scheduleRotation gives a newly stored key its rotation schedule.
func (s *Service) scheduleRotation(ctx context.Context, ref secrets.SecretRef, days int) *RotationInfo {
	info := &RotationInfo{Days: days, Enabled: true}
	_, err := secrets.Versions{API: s.api}.Rotate(ctx, ref.ARN, secrets.Rotation{LambdaARN: s.cfg.Rotation.FunctionARN, Days: days})
	if err != nil {
		info.Enabled = false
		info.Error = Classify(err, s.cfg.CredentialsSecret).Message + ": the key is stored and works; set its rotation with RotateSecret or POST .../rotate"
		s.log.WarnContext(ctx, "could not schedule the key's rotation", slog.String("secret", ref.Name), slog.String("error", info.Error))
	}
	return info
}

// RotationInfo is a created key's rotation schedule.
type RotationInfo struct {
	Days    int    `json:"days"`
	Enabled bool   `json:"enabled"`
	Error   string `json:"error,omitempty"`
}
