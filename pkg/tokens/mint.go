package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// The mint protocol makes a token and keeps its key so that, whatever
// fails, nothing is left orphaned and, under a claim, at most one token is
// made per claim. Create (and so the CloudFormation provider) and
// rotation's createSecret both run it; they differ only in how the new
// key is kept and what the claim records:
//
//	claim (the caller's) → settle what an earlier attempt of the claim may
//	have left → POST → an answer lost: reconcile (find the token it may
//	have made, delete it) → record the token in the claim → keep the key
//	(a failure: roll the token back) → record the outcome.
//
// The POST itself is never retried.

// minting is one run of the mint protocol.
type minting struct {
	p    *portalState
	in   CreateInput
	held *secrets.Held // the request's claim (nil: none asked for)
	// record says what the claim records once the token exists, before
	// its key is kept: the secret that will hold it, and the answer a
	// retry replays.
	record func(tok *logicmonitor.CreatedToken) (secretName string, code int, answer json.RawMessage)
	// recordName names the claim in errors.
	recordName string
	// keep stores the new key and returns the outcome the claim records
	// last; an error rolls the token back.
	keep func(ctx context.Context, tok *logicmonitor.CreatedToken, creds secrets.Credentials) (minted, error)
}

// minted is the outcome of a run the claim records as final.
type minted struct {
	code       int
	answer     json.RawMessage
	secretName string
}

// mint runs the protocol and returns the token it made, its key kept.
func (s *Service) mint(ctx context.Context, m minting) (*logicmonitor.CreatedToken, error) {
	p, in, held := m.p, m.in, m.held
	if held != nil && held.Previous != nil {
		if err := s.resolvePrevious(ctx, p, in, held); err != nil {
			return nil, err
		}
	}
	since := s.now()
	var tok *logicmonitor.CreatedToken
	var creds secrets.Credentials
	var client logicmonitor.Portal
	err := s.withLM(ctx, p, func(c logicmonitor.Portal, cr secrets.Credentials) error {
		t, err := c.CreateToken(ctx, in.AdminID, logicmonitor.CreateOptions{Type: in.Type, Note: in.Note, Status: in.Status})
		tok, creds, client = t, cr, c
		return err
	})
	if err != nil {
		if client == nil || !logicmonitor.IsIndeterminate(err) {
			// Refused, or never sent: nothing was made.
			s.releaseClaim(ctx, held)
			return nil, err
		}
		return nil, s.lostCreate(ctx, client, p, in, held, since, err)
	}
	if tok.AccessKey == "" {
		return nil, s.rollback(ctx, client, in, tok, held, errors.New("LogicMonitor's create answer carried no key"))
	}
	if held != nil {
		name, code, answer := m.record(tok)
		if err := held.RecordCreated(ctx, tok.ID, name, code, answer); err != nil {
			return nil, s.rollback(ctx, client, in, tok, held, fmt.Errorf("%s could not be updated: %w", m.recordName, err))
		}
	}
	done, err := m.keep(ctx, tok, creds)
	if err != nil {
		return nil, s.rollback(ctx, client, in, tok, held, err)
	}
	if held != nil {
		cctx, cancel := Compensation(ctx)
		defer cancel()
		if err := held.RecordDone(cctx, done.code, done.answer, done.secretName); err != nil {
			// The key is kept, so a retry finds the claim created with
			// the key in place and answers from it all the same.
			s.log.WarnContext(ctx, "could not record the outcome", "claim", held.Name(), "error", err.Error())
		}
	}
	return tok, nil
}
