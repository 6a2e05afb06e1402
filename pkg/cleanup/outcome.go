package cleanup

import (
	"errors"
	"fmt"

	"github.com/lmtokens/lmtokens/pkg/clip"
)

// Outcome is one portal's run as an item of a fanned-out run (a Step
// Functions Map) hands it on: its counts, its outcome and the start of its
// first error, small enough that 500 portals' fit in one state's 256 KB
// (TestFiveHundredPortalsFitAState). The item's own log holds the whole
// report.
type Outcome struct {
	Portal    string `json:"portal"`
	Outcome   string `json:"outcome"`
	Examined  int    `json:"examined,omitempty"`
	Eligible  int    `json:"eligible,omitempty"`
	Succeeded int    `json:"succeeded,omitempty"`
	Failed    int    `json:"failed,omitempty"`
	Remaining int    `json:"remaining,omitempty"`
	Warned    int    `json:"warned,omitempty"`
	// Undelivered counts the warnings and other events EventBridge did
	// not take.
	Undelivered int              `json:"undelivered,omitempty"`
	CapReached  bool             `json:"capReached,omitempty"`
	Findings    *OutcomeFindings `json:"findings,omitempty"`
	// Error is the start of the run's first error, Errors how many it had
	// (the item's log holds them whole). ErrorType is set when the item
	// itself failed (the state machine's Catch): the function's errorType.
	Error     string `json:"error,omitempty"`
	Errors    int    `json:"errors,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
}

// OutcomeFindings are the posture findings' counts an outcome carries.
type OutcomeFindings struct {
	Active     int `json:"active"`
	Raised     int `json:"raised"`
	Archived   int `json:"archived"`
	Unreported int `json:"unreported"`
	Calls      int `json:"calls"`
}

// MaxOutcomeError bounds an outcome's error text.
const MaxOutcomeError = 64

// OutcomeOf is rep's outcome as an item hands it on.
func OutcomeOf(portal string, rep Report) Outcome {
	o := Outcome{Portal: portal, Outcome: rep.Outcome, Examined: rep.Examined, Eligible: rep.Eligible, Succeeded: rep.Succeeded, Failed: rep.Failed,
		Remaining: rep.Remaining, Warned: rep.Warned(), Undelivered: rep.WarningsUndelivered + rep.EventsUndelivered,
		CapReached: rep.CapReached, Errors: len(rep.Errors)}
	if f := rep.Findings; f != nil {
		o.Findings = &OutcomeFindings{Active: f.Active, Raised: f.Raised, Archived: f.Archived, Unreported: f.Unreported, Calls: f.Calls}
	}
	if len(rep.Errors) > 0 {
		o.Error = clip.Text(rep.Errors[0], MaxOutcomeError)
	}
	return o
}

// Summary totals a fanned-out run's outcomes into one report, as Combine
// totals a run's portals: portals are the ones the run set out to cover,
// in order; one with no outcome (its item failed and was tolerated) or
// whose item failed counts as failed.
func Summary(stage Stage, policy Policy, portals []string, outcomes []Outcome) Report {
	if len(portals) == 0 {
		return Report{Stage: stage, DryRun: policy.DryRun, Policy: policy, Outcome: "ok", Skipped: map[string]int{}, Actions: []Action{}, Errors: []string{}, Warnings: []Warning{}}
	}
	byPortal := map[string]Outcome{}
	for _, o := range outcomes {
		if _, dup := byPortal[o.Portal]; !dup {
			byPortal[o.Portal] = o
		}
	}
	reports, errs := make([]Report, len(portals)), make([]error, len(portals))
	for i, name := range portals {
		o, ok := byPortal[name]
		switch {
		case !ok:
			o, errs[i] = Outcome{Outcome: "failed"}, errors.New("no outcome: the item failed (see the state machine's execution)")
		case o.ErrorType != "":
			o.Outcome, errs[i] = "failed", fmt.Errorf("%s: the item failed (its execution's history holds the cause)", o.ErrorType)
		}
		reports[i] = o.report(stage, policy)
	}
	rep, _ := Combine(portals, reports, errs) // all failed: the report says so
	return rep
}

// Warned counts a run's warnings: those delivered and marked, or in a dry
// run those it would send (listed; in a fanned-out run's summary, counted
// in Marked from its portals' outcomes, which list none).
func (rep Report) Warned() int {
	if rep.DryRun && len(rep.Warnings) > 0 {
		return len(rep.Warnings)
	}
	return rep.Marked
}

// report is the outcome as a portal's report of counts, for Combine.
func (o Outcome) report(stage Stage, policy Policy) Report {
	r := Report{Stage: stage, DryRun: policy.DryRun, Policy: policy, Outcome: o.Outcome, Examined: o.Examined, Eligible: o.Eligible,
		Succeeded: o.Succeeded, Failed: o.Failed, Remaining: o.Remaining, Marked: o.Warned, EventsUndelivered: o.Undelivered, CapReached: o.CapReached}
	if f := o.Findings; f != nil {
		r.Findings = &Findings{Active: f.Active, Raised: f.Raised, Archived: f.Archived, Unreported: f.Unreported, Calls: f.Calls}
	}
	if o.Error != "" {
		msg := clip.Text(o.Error, MaxOutcomeError)
		if o.Errors > 1 {
			msg += fmt.Sprintf(" (and %d more: the portal's run log holds them)", o.Errors-1)
		}
		r.Errors = []string{msg}
	}
	return r
}
