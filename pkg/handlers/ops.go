package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// result is a successful answer.
type result struct {
	status int
	body   any
}

// ListOutput is a page of tokens.
type ListOutput struct {
	Total int                  `json:"total"`
	Items []logicmonitor.Token `json:"items"`
}

func (s *Service) list(ctx context.Context, in ListInput) (result, error) {
	var out ListOutput
	err := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		l, err := c.Tokens.List(ctx, in.AdminID, logicmonitor.ListOptions{
			Type: in.Type, Permission: in.Permission, Fields: in.Fields, Filter: in.Filter, Size: in.Size, Offset: in.Offset,
		})
		if err != nil {
			return err
		}
		out = ListOutput{Total: l.Total, Items: l.Items}
		return nil
	})
	if out.Items == nil {
		out.Items = []logicmonitor.Token{}
	}
	return result{http.StatusOK, out}, err
}

// CreateOutput is the answer to a create: the token's metadata and where its
// key is kept. The key itself is never in it.
type CreateOutput struct {
	ID        int64             `json:"id"`
	AccessID  string            `json:"accessId"`
	AdminID   int64             `json:"adminId"`
	Type      string            `json:"type"`
	Status    int               `json:"status"`
	Note      string            `json:"note"`
	CreatedOn int64             `json:"createdOn"`
	Secret    secrets.SecretRef `json:"secret"`
}

// compensationTimeout bounds the clean-up after a failed store. The work of
// an invocation stops this long before Lambda's deadline (reserveForCleanUp)
// so that the clean-up, which ignores the work's own deadline, can finish.
const compensationTimeout = 4 * time.Second

func (s *Service) create(ctx context.Context, in CreateInput) (result, error) {
	if in.IdempotencyKey == "" {
		return s.createOnce(ctx, in, nil)
	}
	fp := fingerprint(in)
	replay, err := s.claims.Acquire(ctx, in.AdminID, in.IdempotencyKey, fp)
	switch {
	case err == secrets.ErrKeyReused:
		return result{}, &Error{Type: TypeConflict, Status: http.StatusUnprocessableEntity, Message: "the idempotency key was already used for a different create request"}
	case err == secrets.ErrInProgress:
		return result{}, &Error{Type: TypeConflict, Status: http.StatusConflict, Message: fmt.Sprintf("a create request with this idempotency key is still in progress (one that stopped before making anything is taken over after %v); retry later", secrets.StaleAfter), RetryAfter: 5 * time.Second}
	case err != nil:
		return result{}, err
	case replay != nil:
		return s.replay(ctx, replay)
	}

	// Record the answer before the key is stored: if that record fails,
	// the token can still be deleted again, and once it is made a retry
	// can replay the answer whatever happens next.
	recordCreated := func(out CreateOutput) error {
		body, _ := json.Marshal(out)
		return s.claims.Created(ctx, in.AdminID, in.IdempotencyKey, fp, out.Secret.Name, http.StatusCreated, body)
	}
	res, opErr := s.createOnce(ctx, in, recordCreated)
	// Record the outcome for retries, even if this invocation's deadline
	// has passed.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
	defer cancel()
	var recErr error
	switch e := classifyCreate(opErr, s.cfg.CredentialsSecret); {
	case opErr == nil:
		body, _ := json.Marshal(res.body)
		recErr = s.claims.Complete(rctx, in.AdminID, in.IdempotencyKey, fp, res.status, body)
	case e.changedNothing:
		// Nothing was made: a retry may run again.
		recErr = s.claims.Abandon(rctx, in.AdminID, in.IdempotencyKey, fp)
	default:
		// The outcome is final (or unknown): retries get the same answer.
		body, _ := json.Marshal(e.err.body())
		recErr = s.claims.Complete(rctx, in.AdminID, in.IdempotencyKey, fp, e.err.Status, body)
	}
	if recErr != nil {
		// A created claim still replays the answer; a pending one is
		// taken over after secrets.StaleAfter.
		s.log.WarnContext(ctx, "could not record the idempotency outcome", "error", recErr.Error())
	}
	return res, opErr
}

// replay repeats an earlier answer. A claim left in the created state (its
// final record failed) is completed from the key's secret.
func (s *Service) replay(ctx context.Context, r *secrets.Replay) (result, error) {
	if r.Status >= 400 {
		var body struct{ Type, Message string }
		_ = json.Unmarshal(r.Response, &body)
		return result{}, &Error{Type: body.Type, Status: r.Status, Message: body.Message}
	}
	if r.State == secrets.ClaimCreated {
		var out CreateOutput
		if err := json.Unmarshal(r.Response, &out); err != nil {
			return result{}, &Error{Type: TypeUpstream, Status: 502, Message: "the idempotency record is unreadable"}
		}
		ref, err := s.keys.Describe(ctx, r.SecretName)
		if err != nil {
			return result{}, err
		}
		if ref == nil || ref.WasScheduled {
			return result{}, &Error{Type: TypeUpstream, Status: http.StatusInternalServerError, Message: fmt.Sprintf(
				"the first request made token %d of user %d but did not finish storing its key: delete the token by hand and retry with a new idempotency key", out.ID, out.AdminID)}
		}
		out.Secret = secrets.SecretRef{Name: ref.Name, ARN: ref.ARN}
		return result{http.StatusCreated, out}, nil
	}
	return result{r.Status, r.Response}, nil
}

type createOutcome struct {
	err            *Error
	changedNothing bool
}

// classifyCreate says whether a failed create left LogicMonitor unchanged
// (bad input, throttling, rejected credentials, or a key that was stored
// nowhere and whose token was removed again).
func classifyCreate(err error, secret string) createOutcome {
	if err == nil {
		return createOutcome{}
	}
	e := classify(err, secret)
	switch {
	case e.Status < 500 && e.Status != 0:
		return createOutcome{e, true}
	case e.Type == TypeConfiguration:
		return createOutcome{e, true}
	case e.rolledBack:
		return createOutcome{e, true}
	}
	return createOutcome{e, false}
}

func fingerprint(in CreateInput) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%d\x00%s", in.AdminID, in.Type, in.Status, in.Note)))
	return hex.EncodeToString(h[:])
}

// createOnce makes the token, stores its key, and deletes the token again
// if the key cannot be stored: nothing is left orphaned. beforeStore, if
// set, runs once the token exists; its failure also undoes the token.
func (s *Service) createOnce(ctx context.Context, in CreateInput, beforeStore func(CreateOutput) error) (result, error) {
	var tok *logicmonitor.CreatedToken
	var creds secrets.Credentials
	var client *logicmonitor.Client
	err := s.withLM(ctx, func(c *logicmonitor.Client, cr secrets.Credentials) error {
		t, err := c.Tokens.Create(ctx, in.AdminID, logicmonitor.CreateOptions{Type: in.Type, Note: in.Note, Status: in.Status})
		tok, creds, client = t, cr, c
		return err
	})
	if err != nil {
		return result{}, err
	}
	if tok.AccessKey == "" {
		return result{}, s.rollback(ctx, client, tok, fmt.Errorf("LogicMonitor's create answer carried no key"))
	}
	out := CreateOutput{
		ID: tok.ID, AccessID: tok.AccessID, AdminID: in.AdminID, Type: tok.Type, Status: tok.Status,
		Note: tok.Note, CreatedOn: tok.CreatedOn, Secret: secrets.SecretRef{Name: s.keys.Name(in.AdminID, tok.ID)},
	}
	claim := ""
	if in.IdempotencyKey != "" {
		claim = s.claims.Name(in.AdminID, in.IdempotencyKey)
	}
	if beforeStore != nil {
		if err := beforeStore(out); err != nil {
			return result{}, s.rollback(ctx, client, tok, err)
		}
	}
	ref, err := s.keys.Store(ctx, secrets.StoredKey{
		Company: creds.Company, AccessID: tok.AccessID, AccessKey: tok.AccessKey, AdminID: in.AdminID,
		TokenID: tok.ID, Type: tok.Type, Note: tok.Note, CreatedOn: tok.CreatedOn,
	}, tok.AdminName, claim)
	if err != nil {
		return result{}, s.rollback(ctx, client, tok, err)
	}
	out.Secret = ref
	return result{http.StatusCreated, out}, nil
}

// rollback deletes a token whose key could not be kept.
func (s *Service) rollback(ctx context.Context, c *logicmonitor.Client, tok *logicmonitor.CreatedToken, cause error) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensationTimeout)
	defer cancel()
	if err := c.Tokens.Delete(dctx, tok.AdminID, tok.ID); err != nil && !logicmonitor.IsNotFound(err) {
		s.log.ErrorContext(ctx, "orphaned token: its key was not stored and it could not be deleted",
			"adminId", tok.AdminID, "tokenId", tok.ID, "accessId", tok.AccessID, "storeError", cause.Error(), "deleteError", err.Error())
		return &Error{Type: TypeUpstream, Status: http.StatusInternalServerError, Message: fmt.Sprintf(
			"the key could not be stored (%v) and token %d of user %d could not be deleted again (%v): delete it by hand",
			cause, tok.ID, tok.AdminID, err)}
	}
	return &Error{Type: TypeUpstream, Status: http.StatusBadGateway, rolledBack: true, Message: fmt.Sprintf(
		"the key was not kept: %v; the new token %d was deleted from LogicMonitor again", cause, tok.ID)}
}

func (s *Service) toggle(ctx context.Context, in ToggleInput) (result, error) {
	var tok *logicmonitor.Token
	err := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		t, err := c.Tokens.Update(ctx, in.AdminID, in.TokenID, logicmonitor.UpdateOptions{Status: in.Status, Note: in.Note})
		tok = t
		return err
	})
	if err != nil {
		return result{}, err
	}
	return result{http.StatusOK, tok}, nil
}

// DeleteOutput is the answer to a delete.
type DeleteOutput struct {
	AdminID int64 `json:"adminId"`
	TokenID int64 `json:"tokenId"`
	Deleted bool  `json:"deleted"`
	// AlreadyGone says LogicMonitor had no such token, but a stored secret
	// was still there and is now scheduled for deletion.
	AlreadyGone bool               `json:"alreadyGone,omitempty"`
	Secret      *secrets.SecretRef `json:"secret"`
}

// remove deletes the token, then schedules its secret's deletion. A token
// LogicMonitor no longer has still gets its secret cleaned up, so retrying a
// delete that failed halfway finishes it.
func (s *Service) remove(ctx context.Context, in DeleteInput) (result, error) {
	lmErr := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		return c.Tokens.Delete(ctx, in.AdminID, in.TokenID)
	})
	if lmErr != nil && !logicmonitor.IsNotFound(lmErr) {
		return result{}, lmErr
	}
	ref, err := s.keys.ScheduleDeletion(ctx, in.AdminID, in.TokenID)
	if err != nil {
		if lmErr == nil {
			return result{}, &Error{Type: TypeUpstream, Status: http.StatusBadGateway, Message: fmt.Sprintf(
				"token %d was deleted from LogicMonitor, but its secret could not be scheduled for deletion (%v): retry the delete to finish", in.TokenID, err)}
		}
		return result{}, err
	}
	if lmErr != nil {
		if ref == nil || ref.WasScheduled {
			return result{}, lmErr // nothing was left to do: unknown token
		}
		return result{http.StatusOK, DeleteOutput{AdminID: in.AdminID, TokenID: in.TokenID, Deleted: true, AlreadyGone: true, Secret: ref}}, nil
	}
	return result{http.StatusOK, DeleteOutput{AdminID: in.AdminID, TokenID: in.TokenID, Deleted: true, Secret: ref}}, nil
}
