package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

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

// cleanup runs the function's cleanup stage over every portal at once (the
// default one and each registered one), with the configured policy
// narrowed by spec ({"cleanup": spec}; nil for a scheduled-rule event) and
// by each portal's own overrides. One portal failing is reported and does
// not stop the others.
func (s *Service) cleanup(ctx context.Context, fn string, spec json.RawMessage) (result, error) {
	stage, ok := cleanupStage(fn)
	if !ok {
		return result{}, &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: CLEANUP_ENABLED is set on the " + fn + " function, but only toggle (disable stage) and delete (delete stage) run cleanups"}
	}
	policy, err := s.cfg.Cleanup.Policies[stage].Override(spec, s.cfg.Cleanup.AllowWidening)
	if err != nil {
		return result{}, invalid("%v", err)
	}
	counter := s.counter()
	names, _, err := s.portalNames(ctx, true)
	if err != nil {
		return result{}, fmt.Errorf("cleanup acted on nothing: the registered portals could not be listed: %w", err)
	}
	portals := append([]string{""}, names...)
	reports := make([]cleanup.Report, len(portals))
	errs := make([]error, len(portals))
	var wg sync.WaitGroup
	for i, name := range portals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = s.cleanupPortal(ctx, stage, policy, name)
		}()
	}
	wg.Wait()

	rep, err := reports[0], errs[0]
	if len(portals) > 1 {
		rep, err = cleanup.Combine(portals, reports, errs)
	}
	rep.LMRequests = counter()
	s.log.InfoContext(ctx, "cleanup report", "report", rep)
	s.emit(ctx, s.cleanupEvents(ctx, portals, rep)...)
	switch {
	case errors.Is(err, cleanup.ErrSelfUnknown):
		return result{}, &Error{Type: TypeConfiguration, Status: 500, Message: "cleanup refused: " + err.Error()}
	case err != nil:
		// The run saw only part of what it had to and acted on nothing.
		e := classify(err, s.cfg.CredentialsSecret)
		e.Message = "cleanup acted on nothing: " + e.Message
		return result{}, e
	}
	return result{http.StatusOK, rep}, nil
}

// cleanupPortal runs one portal's part of a cleanup, paced by that portal's
// own rate limits.
func (s *Service) cleanupPortal(ctx context.Context, stage cleanup.Stage, policy cleanup.Policy, name string) (cleanup.Report, error) {
	rep := cleanup.Report{Stage: stage, DryRun: policy.DryRun, Policy: policy, Portal: name, Outcome: "failed"}
	p, err := s.portal(ctx, name)
	if err != nil {
		rep.Errors = []string{err.Error()}
		return rep, err
	}
	var runErr error
	err = s.withLM(ctx, p, func(c *logicmonitor.Client, creds secrets.Credentials) error {
		pol, err := policy.Override(creds.Cleanup, false) // a portal's own overrides only narrow
		if err != nil {
			return &Error{Type: TypeConfiguration, Status: 500, Message: fmt.Sprintf("configuration: the cleanup overrides of portal %q: %v", name, err)}
		}
		self := cleanup.Self{AccessID: creds.AccessID, AdminID: creds.AdminID, TokenID: creds.TokenID}
		run := cleanup.Run{Stage: stage, Policy: pol, Now: s.now(), Interval: s.cfg.Cleanup.Interval, Self: self}
		rep, runErr = run.Execute(ctx, &cleanupTarget{client: c, keys: p.keys})
		rep.Portal = name
		if runErr == nil {
			// Tokens rotated out retire on their records' dates, whatever
			// the policy's age rules say.
			retired, err := s.retire(ctx, stage, pol.DryRun, p, c, self)
			rep.Retired = retired
			if err != nil {
				rep.Errors = append(rep.Errors, "rotated-out tokens: "+classify(err, s.cfg.CredentialsSecret).Message)
			}
		}
		if logicmonitor.IsUnauthorized(runErr) {
			return runErr // the credentials may have rotated: withLM reads them again
		}
		return nil
	})
	if err != nil {
		rep.Outcome, rep.Errors = "failed", append(rep.Errors, classify(err, s.cfg.CredentialsSecret).Message)
		return rep, err
	}
	return rep, runErr
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
func (t *cleanupTarget) Act(ctx context.Context, stage cleanup.Stage, tok logicmonitor.Token) (cleanup.Acted, error) {
	if stage == cleanup.StageDisable {
		disabled := logicmonitor.StatusDisabled
		_, err := t.client.Tokens.Update(ctx, tok.AdminID, tok.ID, logicmonitor.UpdateOptions{Status: &disabled})
		return cleanup.Acted{}, err
	}
	gone := ""
	if err := t.client.Tokens.Delete(ctx, tok.AdminID, tok.ID); err != nil {
		if !logicmonitor.IsNotFound(err) {
			return cleanup.Acted{}, err
		}
		gone = "already deleted (by another run?); "
	}
	ref, err := t.keys.ScheduleDeletion(ctx, tok.AdminID, tok.ID)
	if err != nil {
		return cleanup.Acted{}, fmt.Errorf("deleted from LogicMonitor, but its secret was not scheduled for deletion: %w", err)
	}
	if ref == nil {
		return cleanup.Acted{Detail: gone + "no stored secret"}, nil
	}
	return cleanup.Acted{Detail: gone + "secret " + ref.Name + " scheduled for deletion", Secret: ref.Name}, nil
}
