package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

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

// cleanup runs the function's cleanup stage with its configured policy and
// the fields of spec ({"cleanup": spec}) over it; spec is nil for a
// scheduled-rule event.
func (s *Service) cleanup(ctx context.Context, fn string, spec json.RawMessage) (result, error) {
	stage, ok := cleanupStage(fn)
	if !ok {
		return result{}, invalid("%v; the %s function does not run it", errNoCleanup, fn)
	}
	policy, err := cleanup.PolicyFromEnv(stage, os.Getenv)
	if err != nil {
		return result{}, &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: " + err.Error()}
	}
	if policy, err = policy.Override(spec); err != nil {
		return result{}, invalid("%v", err)
	}
	var rep cleanup.Report
	before, _ := s.requests()
	err = s.withLM(ctx, func(c *logicmonitor.Client, creds secrets.Credentials) error {
		run := cleanup.Run{Stage: stage, Policy: policy, Self: creds.AccessID, Now: s.now()}
		var err error
		rep, err = run.Execute(ctx, &cleanupTarget{client: c, keys: s.keys})
		return err
	})
	if err != nil {
		return result{}, err
	}
	after, _ := s.requests()
	rep.LMRequests = after - before
	s.log.InfoContext(ctx, "cleanup report", "report", rep)
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

func (t *cleanupTarget) Act(ctx context.Context, stage cleanup.Stage, tok logicmonitor.Token) (string, error) {
	if stage == cleanup.StageDisable {
		disabled := logicmonitor.StatusDisabled
		note := tok.Note
		_, err := t.client.Tokens.Update(ctx, tok.AdminID, tok.ID, logicmonitor.UpdateOptions{Status: &disabled, Note: &note})
		return "", err
	}
	err := t.client.Tokens.Delete(ctx, tok.AdminID, tok.ID)
	if err != nil && !logicmonitor.IsNotFound(err) {
		return "", err
	}
	ref, serr := t.keys.ScheduleDeletion(ctx, tok.AdminID, tok.ID)
	if serr != nil {
		return "", fmt.Errorf("deleted from LogicMonitor, but its secret was not scheduled for deletion: %w", serr)
	}
	switch {
	case ref != nil:
		return "secret " + ref.Name + " scheduled for deletion", nil
	case err != nil:
		return "already gone from LogicMonitor; no stored secret", nil
	}
	return "no stored secret", nil
}
