package tokens

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
)

// A run fanned out over portals (the stack's cleanupEngine stepfunctions:
// a Step Functions Map) is three steps: CleanupPortals names the portals,
// CleanupPortal runs each one as an item, SummarizeCleanup reports the run.
// Each step takes the run's spec and applies the same narrowing-only
// policy; each portal's run has the policy's cap to itself.

// DefaultPortal names the default portal in a fanned-out run ("default"
// never names a registered portal).
const DefaultPortal = "default"

// PortalsOfRun are the portals a fanned-out run covers: names only, never
// token data, so hundreds fit in one state's input.
type PortalsOfRun struct {
	Portals []string `json:"portals"`
}

// CleanupPortals is a fanned-out run's first step: the default portal and
// every registered one, listed afresh. The policy is checked first, so a
// spec the deployment refuses fails the run before any item.
func (s *Service) CleanupPortals(ctx context.Context, stage cleanup.Stage, spec json.RawMessage) (PortalsOfRun, error) {
	if _, err := s.cleanupPolicy(stage, spec); err != nil {
		return PortalsOfRun{}, err
	}
	names, _, err := s.portalNames(ctx, true)
	if err != nil {
		return PortalsOfRun{}, Classify(err, s.cfg.CredentialsSecret)
	}
	return PortalsOfRun{Portals: append([]string{DefaultPortal}, names...)}, nil
}

// CleanupPortal is one item of a fanned-out run: the stage over one portal
// (DefaultPortal, or a registered one), with the policy's cap its own. Its
// changes and warnings are delivered as a whole run's are; the run's
// summary is SummarizeCleanup's. It answers the portal's outcome, bounded.
func (s *Service) CleanupPortal(ctx context.Context, stage cleanup.Stage, spec json.RawMessage, name string) (cleanup.Outcome, error) {
	policy, err := s.cleanupPolicy(stage, spec)
	if err != nil {
		return cleanup.Outcome{}, err
	}
	portal := name
	switch {
	case name == DefaultPortal:
		portal = ""
	case name == "":
		return cleanup.Outcome{}, Invalid(`portal is "default" or a registered portal's name, not empty`)
	default:
		if _, err := s.lookupPortal(ctx, name); err != nil {
			return cleanup.Outcome{}, err
		}
	}
	counter := s.Counter()
	rep, runErr := s.cleanupPortal(ctx, stage, policy, portal, cleanup.NewBudget(policy.MaxActions), nil)
	rep.LMRequests = counter()
	s.deliverChanges(ctx, &rep)
	s.logReport(ctx, rep)
	if _, err := s.cleanupAnswer(rep, runErr); err != nil {
		return cleanup.Outcome{}, err
	}
	return cleanup.OutcomeOf(name, rep), nil
}

// SummarizeCleanup is a fanned-out run's last step: the items' outcomes
// totalled over the portals the run set out to cover (a portal without one
// counts as failed) and delivered as the run's one Cleanup Run Completed.
func (s *Service) SummarizeCleanup(ctx context.Context, stage cleanup.Stage, spec json.RawMessage, portals []string, outcomes []cleanup.Outcome) (cleanup.Report, error) {
	policy, err := s.cfg.Cleanup.Policies[stage].Override(spec, s.cfg.Cleanup.AllowWidening)
	if err != nil {
		return cleanup.Report{}, Invalid("%v", err)
	}
	rep := cleanup.Summary(stage, policy, portals, outcomes)
	rep.StartedAt = s.now().UTC()
	end := time.Now().Add(time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		end = dl
	}
	names := make([]string, len(portals))
	for i, p := range portals {
		if p != DefaultPortal {
			names[i] = p
		}
	}
	s.deliverSummary(ctx, end, names, &rep)
	s.logReport(ctx, rep)
	return rep.Bounded(MaxReportAnswerBytes), nil
}
