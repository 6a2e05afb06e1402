package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// cleanupStage is the stage a function runs: toggle disables, delete deletes.
func cleanupStage(fn string) (cleanup.Stage, bool) {
	switch fn {
	case Toggle:
		return cleanup.StageDisable, true
	case Delete:
		return cleanup.StageDelete, true
	}
	return "", false
}

// cleanup runs the function's cleanup stage with its configured policy,
// narrowed by spec ({"cleanup": spec}; nil for a scheduled-rule event).
func (s *Service) cleanup(ctx context.Context, fn string, spec json.RawMessage) (result, error) {
	stage, ok := cleanupStage(fn)
	if !ok {
		return result{}, &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: CLEANUP_ENABLED is set on the " + fn + " function, but only toggle (disable stage) and delete (delete stage) run cleanups"}
	}
	policy, err := s.cfg.Cleanup.Policies[stage].Override(spec, s.cfg.Cleanup.AllowWidening)
	if err != nil {
		return result{}, invalid("%v", err)
	}
	var rep cleanup.Report
	var runErr error
	counter := s.counter()
	err = s.withLM(ctx, func(c *logicmonitor.Client, creds secrets.Credentials) error {
		run := cleanup.Run{Stage: stage, Policy: policy, Now: s.now(),
			Self: cleanup.Self{AccessID: creds.AccessID, AdminID: creds.AdminID, TokenID: creds.TokenID}}
		rep, runErr = run.Execute(ctx, &cleanupTarget{client: c, keys: s.keys})
		if logicmonitor.IsUnauthorized(runErr) {
			return runErr // the credentials may have rotated: withLM reads them again
		}
		return nil
	})
	if err != nil {
		return result{}, err
	}
	rep.LMRequests = counter()
	s.log.InfoContext(ctx, "cleanup report", "report", rep)
	switch {
	case errors.Is(runErr, cleanup.ErrSelfUnknown):
		return result{}, &Error{Type: TypeConfiguration, Status: 500, Message: "cleanup refused: " + runErr.Error()}
	case runErr != nil:
		// The run saw only part of the portal and acted on nothing.
		e := classify(runErr, s.cfg.CredentialsSecret)
		e.Message = "cleanup acted on nothing: " + e.Message
		return result{}, e
	}
	return result{http.StatusOK, rep}, nil
}

// cleanupTarget acts through the LogicMonitor client and the key store.
type cleanupTarget struct {
	client *logicmonitor.Client
	keys   *secrets.KeyStore
}

// List narrows the listing by status on the portal; cleanup re-checks every
// token itself.
func (t *cleanupTarget) List(ctx context.Context, stage cleanup.Stage) ([]logicmonitor.Token, error) {
	filter := "status:2"
	if stage == cleanup.StageDelete {
		filter = "status:1"
	}
	return t.client.Tokens.ListAll(ctx, logicmonitor.ListAllOptions{Filter: filter})
}

// Get re-reads a token, asking only for its own type: one request.
func (t *cleanupTarget) Get(ctx context.Context, tok logicmonitor.Token) (*logicmonitor.Token, error) {
	return t.client.Tokens.Get(ctx, tok.AdminID, tok.ID, tok.Type)
}

// Act disables with a PATCH of the status alone (a note written since the
// token was read stays), or deletes the token and schedules its secret's
// deletion.
func (t *cleanupTarget) Act(ctx context.Context, stage cleanup.Stage, tok logicmonitor.Token) (string, error) {
	if stage == cleanup.StageDisable {
		_, err := t.client.Tokens.SetStatus(ctx, tok.AdminID, tok.ID, logicmonitor.StatusDisabled)
		return "", err
	}
	gone := ""
	if err := t.client.Tokens.Delete(ctx, tok.AdminID, tok.ID); err != nil {
		if !logicmonitor.IsNotFound(err) {
			return "", err
		}
		gone = "already deleted (by another run?); "
	}
	ref, err := t.keys.ScheduleDeletion(ctx, tok.AdminID, tok.ID)
	if err != nil {
		return "", fmt.Errorf("deleted from LogicMonitor, but its secret was not scheduled for deletion: %w", err)
	}
	if ref == nil {
		return gone + "no stored secret", nil
	}
	return gone + "secret " + ref.Name + " scheduled for deletion", nil
}
