package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// CreateOutput is the answer to a create: the token's metadata and where its
// key is kept. The key itself is never in it.
type CreateOutput struct {
	ID        int64  `json:"id"`
	AccessID  string `json:"accessId"`
	AdminID   int64  `json:"adminId"`
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Note      string `json:"note"`
	CreatedOn int64  `json:"createdOn"`
	AdminName string `json:"adminName,omitempty"`
	// CreatedBy is the caller who asked for it, as recorded on its secret.
	CreatedBy string            `json:"createdBy"`
	Secret    secrets.SecretRef `json:"secret"`
	// Rotation is the key's rotation schedule, when it has one.
	Rotation *RotationInfo `json:"rotation,omitempty"`
	// ExpiresAt is when the token's lifetime ends, when it has one.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// secondLook is how long after a timed-out create the portal is checked a
// second time for the token it may have made late.
const secondLook = time.Second

// reconcileSlack widens the window in which a lost create's token is looked
// for: LogicMonitor stamps createdOn in whole seconds on its own clock.
const reconcileSlack = 10 * time.Second

// create makes a token and stores its key, so that whatever fails nothing is
// left orphaned and, with an idempotency key, at most one token is ever made
// for the key:
//
//   - The credentials are read before the key is claimed: a failure there
//     asks nothing of LogicMonitor and leaves the key free.
//   - The claim is written before every step that changes LogicMonitor
//     (see secrets.Claims), so a retry always knows what may exist.
//   - A POST whose answer is lost is reconciled: the token it may have made
//     is found and deleted (its key is unrecoverable), and the answer says
//     nothing was kept. The POST itself is never retried.
func (s *Service) Create(ctx context.Context, in CreateInput) (CreateOutput, error) {
	disabled := in.Status == logicmonitor.StatusDisabled
	if in.RotationDays > 0 && disabled {
		return CreateOutput{}, Invalid("rotationDays: a disabled token does not rotate (its replacement would be enabled): create it enabled, or leave rotationDays out")
	}
	if in.RotationDays == 0 && !disabled {
		in.RotationDays = s.cfg.Rotation.DefaultDays
	}
	if in.RotationDays > 0 && s.cfg.Rotation.FunctionARN == "" {
		return CreateOutput{}, Invalid("rotationDays: rotation is not deployed here (no rotation function): nothing was created")
	}
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return CreateOutput{}, err
	}
	_, creds, err := s.lmClient(ctx, p)
	if err != nil {
		return CreateOutput{}, err
	}
	if in.life, err = lifetimeOf(in, s.capDays(creds.MaxLifetimeDays), s.now()); err != nil {
		return CreateOutput{}, err
	}
	if err := s.guardProtected(ctx, p, in.AdminID); err != nil {
		return CreateOutput{}, err
	}
	if in.IdempotencyKey == "" {
		return s.createToken(ctx, p, in, nil)
	}
	held, replay, err := p.claims.Acquire(ctx, in.AdminID, in.IdempotencyKey, fingerprint(in), owner(ctx), in.Note)
	switch {
	case errors.Is(err, secrets.ErrKeyReused):
		return CreateOutput{}, &Error{Kind: KindKeyReused, Message: "the idempotency key was already used for a different create request"}
	case errors.Is(err, secrets.ErrKeyRetired):
		return CreateOutput{}, &Error{Kind: KindGone, Message: "the token this idempotency key created has been deleted: use a new idempotency key to create another"}
	case errors.Is(err, secrets.ErrInProgress):
		return CreateOutput{}, &Error{Kind: KindInProgress, RetryAfter: 5 * time.Second, Message: fmt.Sprintf(
			"a create request with this idempotency key is in progress; retry later (one that stopped is taken over after %v)", secrets.StaleAfter)}
	case err != nil:
		return CreateOutput{}, &Error{Kind: KindUpstream, Message: err.Error() + ": nothing was created; retrying is safe"}
	case replay != nil:
		return s.replay(ctx, p, replay)
	}
	return s.createToken(ctx, p, in, held)
}

// resolvePrevious deals with what an earlier attempt of a claim may have
// left in LogicMonitor before this one creates anything.
func (s *Service) resolvePrevious(ctx context.Context, p *portalState, in CreateInput, held *secrets.Held) error {
	prev := held.Previous
	c, _, err := s.lmClient(ctx, p)
	if err != nil {
		s.releaseClaim(ctx, held)
		return err
	}
	r := s.reconcile(ctx, c, p, in, held, held.Since(), prev.TokenID)
	switch r.kind {
	case cleared:
		return nil
	case ambiguous:
		e := &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"an earlier attempt with this idempotency key may have made one of tokens %v of user %d (same note and type, made at that time), whose key was never stored; lmtokens cannot tell which, so it deleted none: check them and delete the one no one else made",
			r.candidates, in.AdminID)}
		s.finish(ctx, held, e)
		return e
	}
	cctx, cancel := Compensation(ctx)
	defer cancel()
	s.unresolved(cctx, held, held.Since(), r.tokenID)
	return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
		"an earlier attempt with this idempotency key may have left a token whose key was never stored, and checking it failed (%v): nothing new was made; %s to finish the check", r.err, in.retryAdvice())}
}

// createToken mints the token (see mint): its key stored in its own
// secret, the claim recording the answer every retry replays.
func (s *Service) createToken(ctx context.Context, p *portalState, in CreateInput, held *secrets.Held) (CreateOutput, error) {
	var out CreateOutput
	answer := func(tok *logicmonitor.CreatedToken) CreateOutput {
		return CreateOutput{
			ID: tok.ID, AccessID: tok.AccessID, AdminID: in.AdminID, AdminName: tok.AdminName, Type: tok.Type, Status: tok.Status,
			Note: tok.Note, CreatedOn: tok.CreatedOn, CreatedBy: logging.WhoFrom(ctx).Caller, Secret: secrets.SecretRef{Name: p.keys.Name(in.AdminID, tok.ID)},
			ExpiresAt: in.life.expiresAt,
		}
	}
	_, err := s.mint(ctx, minting{p: p, in: in, held: held, recordName: "the idempotency record",
		record: func(tok *logicmonitor.CreatedToken) (string, int, json.RawMessage) {
			// The answer as recorded: replays add the secret's ARN.
			o := answer(tok)
			recorded, _ := json.Marshal(o)
			return o.Secret.Name, recordCreated, recorded
		},
		keep: func(ctx context.Context, tok *logicmonitor.CreatedToken, creds secrets.Credentials) (minted, error) {
			out = answer(tok)
			claimName := ""
			if held != nil {
				claimName = held.Name()
			}
			ref, err := p.keys.Store(ctx, secrets.StoredKey{
				Company: creds.Company, AccessID: tok.AccessID, AccessKey: tok.AccessKey, AdminID: in.AdminID,
				TokenID: tok.ID, Type: tok.Type, Note: tok.Note, CreatedOn: tok.CreatedOn, CreatedBy: out.CreatedBy,
				ExpiresAt: in.life.expiresAt, LifetimeDays: in.life.days,
			}, tok.AdminName, claimName)
			if err != nil {
				return minted{}, err
			}
			out.Secret = ref
			if in.RotationDays > 0 {
				out.Rotation = s.scheduleRotation(ctx, ref, in.RotationDays)
			}
			d := s.tokenDetail(ctx, p.name, tok.Token, lifecycle.ReasonRequest)
			d.AdminID, d.Secret = in.AdminID, &lifecycle.Secret{Name: ref.Name, ARN: ref.ARN}
			s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenCreated, Detail: d})
			recorded, _ := json.Marshal(out)
			return minted{code: recordCreated, answer: recorded, secretName: ref.Name}, nil
		},
	})
	if err != nil {
		return CreateOutput{}, err
	}
	return out, nil
}

// lostCreate handles a POST that may have made a token whose answer, and so
// whose key, was lost.
func (s *Service) lostCreate(ctx context.Context, c logicmonitor.Portal, p *portalState, in CreateInput, held *secrets.Held, since time.Time, cause error) error {
	cctx, cancel := Compensation(ctx)
	defer cancel()
	msg := "LogicMonitor's answer to the create was lost (" + Classify(cause, s.cfg.CredentialsSecret).Message + ")"
	r := s.reconcile(cctx, c, p, in, held, since, 0)
	if r.kind == cleared && r.deleted == 0 && isTimeout(cause) {
		// A request given up on may still be at work in the portal: look
		// once more, a moment later, before saying it made nothing.
		select {
		case <-cctx.Done():
		case <-time.After(secondLook):
			r = s.reconcile(cctx, c, p, in, held, since, 0)
		}
	}
	switch r.kind {
	case cleared:
		s.releaseClaim(cctx, held)
		if r.deleted != 0 {
			msg += fmt.Sprintf("; the token it made (%d) was found and deleted, since its key cannot be recovered: nothing was kept; retrying is safe", r.deleted)
		} else {
			msg += "; it made no token: nothing was kept; retrying is safe"
		}
		return &Error{Kind: KindUpstream, Message: msg}
	case ambiguous:
		e := &Error{Kind: KindUpstream, Message: msg + fmt.Sprintf(
			"; it may have made one of tokens %v of user %d (same note and type, made at that time), whose key is lost; lmtokens cannot tell which, so it deleted none: check them and delete the one no one else made",
			r.candidates, in.AdminID)}
		s.finish(cctx, held, e)
		return e
	}
	s.log.ErrorContext(ctx, "a lost create could not be reconciled", "adminId", in.AdminID, "since", since.Unix(), "error", r.err.Error())
	if held != nil {
		s.unresolved(cctx, held, since, r.tokenID)
		msg += fmt.Sprintf("; checking whether it made a token failed (%v): %s, which finishes that check (deleting such a token) before it creates", r.err, in.retryAdvice())
	} else {
		msg += fmt.Sprintf("; checking whether it made a token failed (%v): look for a token of user %d with this note made at %s and delete it, since its key is lost",
			r.err, in.AdminID, since.UTC().Format(time.RFC3339))
	}
	return &Error{Kind: KindUpstream, Message: msg}
}

type reconcileKind int

const (
	cleared   reconcileKind = iota // nothing is left: none was made, or it was deleted
	ambiguous                      // several tokens could be the one
	failed                         // the check itself failed
)

type reconciliation struct {
	kind       reconcileKind
	deleted    int64   // the token deleted, if any
	tokenID    int64   // the token known to be left, when failed (findLost: the lone candidate)
	candidates []int64 // when ambiguous
	err        error
}

// reconcile finds and deletes the token an attempt may have made: tokenID
// when it is known, else the user's token of the same type and note made
// since since that nothing else speaks for. A token is spoken for when a
// secret's value holds its key (or a secret's tags claim it), a pending
// version of a rotation holds it, or another request's claim names it.
// Several candidates cannot be told apart, nor can one while another
// request with the same note may be making its token this moment: then
// none is deleted.
//
// Deleting takes positive proof that nothing holds the token's key, and
// Secrets Manager's reads lag its writes: a lone candidate is looked at
// again once readConsistency has passed since the first look, so that
// whatever was written before it is seen. Only a candidate that is still
// the lone one is deleted.
func (s *Service) reconcile(ctx context.Context, c logicmonitor.Portal, p *portalState, in CreateInput, held *secrets.Held, since time.Time, tokenID int64) reconciliation {
	if tokenID == 0 {
		started := time.Now()
		r := s.findLost(ctx, c, p, in, held, since)
		if r.kind != cleared || r.tokenID == 0 {
			return r
		}
		select {
		case <-ctx.Done():
			return reconciliation{kind: failed, tokenID: r.tokenID, err: fmt.Errorf("no time left to confirm that nothing holds token %d's key: %w", r.tokenID, ctx.Err())}
		case <-time.After(time.Until(started.Add(readConsistency))):
		}
		again := s.findLost(ctx, c, p, in, held, since)
		if again.kind != cleared || again.tokenID != r.tokenID {
			return again // something spoke for it after all, or more appeared
		}
		tokenID = r.tokenID
	}
	if err := c.DeleteToken(ctx, in.AdminID, tokenID); err != nil {
		if logicmonitor.IsNotFound(err) {
			return reconciliation{kind: cleared}
		}
		return reconciliation{kind: failed, tokenID: tokenID, err: err}
	}
	s.log.WarnContext(ctx, "deleted a token whose key was lost", "adminId", in.AdminID, "tokenId", tokenID)
	return reconciliation{kind: cleared, deleted: tokenID}
}

// readConsistency is how long after a write Secrets Manager's reads are
// taken to show it: a "nothing holds this key" that decides a deletion is
// looked at again after it.
const readConsistency = 2 * time.Second

// findLost looks once for the token a lost create may have made: cleared
// with tokenID 0 when there is none, cleared with tokenID set when exactly
// one candidate nothing speaks for is left (to be confirmed), ambiguous, or
// failed.
func (s *Service) findLost(ctx context.Context, c logicmonitor.Portal, p *portalState, in CreateInput, held *secrets.Held, since time.Time) reconciliation {
	typ := in.Type
	if typ == "" {
		typ = logicmonitor.TypeLMv1
	}
	from := since.Add(-reconcileSlack).Unix()
	toks, err := c.AllTokens(ctx, logicmonitor.ListAllOptions{AdminID: in.AdminID, Types: []string{typ}, Filter: fmt.Sprintf("createdOn>:%d", from)})
	if err != nil {
		return reconciliation{kind: failed, err: err}
	}
	var candidates []int64
	for _, t := range toks {
		if t.Note != in.Note || t.Type != typ || t.CreatedOn < from {
			continue
		}
		h, mismatches, err := p.keys.Lookup(ctx, in.AdminID, t.ID)
		if err != nil {
			return reconciliation{kind: failed, err: err}
		}
		if h == nil && len(mismatches) == 0 {
			candidates = append(candidates, t.ID)
		}
	}
	if len(candidates) > 0 {
		spoken, busy, err := s.spokenFor(ctx, p, in, held)
		if err != nil {
			return reconciliation{kind: failed, err: err}
		}
		candidates = slices.DeleteFunc(candidates, func(id int64) bool { return spoken[id] })
		if busy && len(candidates) > 0 {
			slices.Sort(candidates)
			return reconciliation{kind: ambiguous, candidates: candidates}
		}
	}
	switch len(candidates) {
	case 0:
		return reconciliation{kind: cleared}
	case 1:
		return reconciliation{kind: cleared, tokenID: candidates[0]}
	}
	slices.Sort(candidates)
	return reconciliation{kind: ambiguous, candidates: candidates}
}

// spokenFor returns the user's tokens that something other than this
// request holds or is making: the pending versions of rotations (of its
// key secrets and of the portal's credentials) and the tokens other
// requests' claims name. busy says another request with the same note may
// be making a token right now (its claim is posting).
func (s *Service) spokenFor(ctx context.Context, p *portalState, in CreateInput, held *secrets.Held) (map[int64]bool, bool, error) {
	spoken := map[int64]bool{}
	pending, err := p.keys.PendingTokens(ctx, in.AdminID)
	if err != nil {
		return nil, false, err
	}
	for id := range pending {
		spoken[id] = true
	}
	if id, err := s.pendingCredentials(ctx, p, in.AdminID); err != nil {
		return nil, false, err
	} else if id != 0 {
		spoken[id] = true
	}
	own := ""
	if held != nil {
		own = held.Name()
	}
	others, err := p.claims.Others(ctx, in.AdminID, own)
	if err != nil {
		return nil, false, err
	}
	busy := false
	now := s.now()
	for _, doc := range others {
		if doc.TokenID != 0 {
			spoken[doc.TokenID] = true
		}
		if doc.State == secrets.ClaimPosting && doc.Note == in.Note && !doc.Stale(now) {
			busy = true
		}
	}
	return spoken, busy, nil
}

// pendingCredentials returns the token a rotation of the portal's
// credentials secret is making for user adminID (0 for none).
func (s *Service) pendingCredentials(ctx context.Context, p *portalState, adminID int64) (int64, error) {
	vs := secrets.Versions{API: s.api}
	st, err := vs.Describe(ctx, p.credentialsSecret)
	if err != nil || st == nil {
		return 0, err
	}
	v := st.Pending()
	if v == "" {
		return 0, nil
	}
	value, found, err := vs.Read(ctx, p.credentialsSecret, v, secrets.StagePending)
	if err != nil || !found {
		return 0, err
	}
	c, err := secrets.ParseCredentials(value)
	if err != nil || c.AdminID != adminID {
		return 0, nil
	}
	return c.TokenID, nil
}

// rollback deletes a token whose key could not be kept.
func (s *Service) rollback(ctx context.Context, c logicmonitor.Portal, in CreateInput, tok *logicmonitor.CreatedToken, held *secrets.Held, cause error) error {
	cctx, cancel := Compensation(ctx)
	defer cancel()
	err := c.DeleteToken(cctx, tok.AdminID, tok.ID)
	if err == nil || logicmonitor.IsNotFound(err) {
		s.releaseClaim(cctx, held)
		return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"the key was not kept: %v; the new token %d was deleted from LogicMonitor again: nothing was kept; retrying is safe", cause, tok.ID)}
	}
	s.log.ErrorContext(ctx, "orphaned token: its key was not stored and it could not be deleted",
		"adminId", tok.AdminID, "tokenId", tok.ID, "accessId", tok.AccessID, "storeError", cause.Error(), "deleteError", err.Error())
	advice := "delete it by hand (its key is lost)"
	if held != nil {
		s.unresolved(cctx, held, time.Time{}, tok.ID)
		advice = in.retryAdvice() + ", which deletes it before creating another, or delete it by hand (its key is lost)"
	}
	return &Error{Kind: KindUpstream, Message: fmt.Sprintf(
		"the key could not be stored (%v) and token %d of user %d could not be deleted again (%v): %s", cause, tok.ID, tok.AdminID, err, advice)}
}

// releaseClaim frees a claim whose request made nothing. If that fails, the claim
// is taken over once stale, after a check that finds nothing.
func (s *Service) releaseClaim(ctx context.Context, held *secrets.Held) {
	if held == nil {
		return
	}
	cctx, cancel := Compensation(ctx)
	defer cancel()
	if err := held.Release(cctx); err != nil {
		s.log.WarnContext(ctx, "could not free the idempotency key", "claim", held.Name(), "error", err.Error())
	}
}

// unresolved records that a token may be left for the next attempt to check.
func (s *Service) unresolved(ctx context.Context, held *secrets.Held, since time.Time, tokenID int64) {
	if since.IsZero() {
		since = held.Since()
	}
	if err := held.RecordUnresolved(ctx, since, tokenID); err != nil {
		s.log.WarnContext(ctx, "could not record what the next attempt must check", "claim", held.Name(), "error", err.Error())
	}
}

// The claim record's status codes. The record keeps the HTTP statuses its
// format was first written with, so that records of earlier releases
// replay the same: 201 for a token a create made, 200 for one a rotation
// made, 502 for a final failure.
const (
	recordCreated = 201
	recordMade    = 200
	recordFailed  = 502
)

// recordedError is a final failure as the claim record keeps it.
type recordedError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// finish records a final error answer that every retry replays.
func (s *Service) finish(ctx context.Context, held *secrets.Held, e *Error) {
	if held == nil {
		return
	}
	body, _ := json.Marshal(recordedError{Type: string(e.Kind), Message: e.Message})
	if err := held.RecordDone(ctx, recordFailed, body, ""); err != nil {
		s.log.WarnContext(ctx, "could not record the idempotency outcome", "claim", held.Name(), "error", err.Error())
	}
}

// replay repeats an earlier answer. A success is replayed only while the
// key's secret is there: once the token was deleted the key is retired.
func (s *Service) replay(ctx context.Context, p *portalState, r *secrets.Replay) (CreateOutput, error) {
	if r.Status >= 400 {
		// Only upstream failures are ever recorded as final (a lost
		// create whose token cannot be told apart).
		var body recordedError
		_ = json.Unmarshal(r.Response, &body)
		return CreateOutput{}, &Error{Kind: KindUpstream, Message: body.Message}
	}
	var out CreateOutput
	if err := json.Unmarshal(r.Response, &out); err != nil {
		return CreateOutput{}, &Error{Kind: KindUpstream, Message: "the idempotency record is unreadable"}
	}
	ref, err := p.keys.DescribeEventually(ctx, r.SecretName)
	if err != nil {
		return CreateOutput{}, err
	}
	if ref == nil || ref.WasScheduled {
		return CreateOutput{}, &Error{Kind: KindGone, Message: fmt.Sprintf(
			"the token this idempotency key created (%d) has been deleted: use a new idempotency key to create another", out.ID)}
	}
	out.Secret = secrets.SecretRef{Name: ref.Name, ARN: ref.ARN}
	return out, nil
}

func fingerprint(in CreateInput) string {
	text := fmt.Sprintf("%d\x00%s\x00%d\x00%s", in.AdminID, in.Type, in.Status, in.Note)
	if in.RotationDays > 0 {
		text += fmt.Sprintf("\x00rotation:%d", in.RotationDays)
	}
	if in.ExpiresInDays > 0 {
		text += fmt.Sprintf("\x00expiresInDays:%d", in.ExpiresInDays)
	}
	if in.ExpiresAt != nil {
		text += "\x00expiresAt:" + in.ExpiresAt.UTC().Format(time.RFC3339)
	}
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// owner names this invocation in the claims it writes.
func owner(ctx context.Context) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	if rid := logging.RequestID(ctx); rid != "" {
		id = rid + "/" + id
	}
	return id
}
