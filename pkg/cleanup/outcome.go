package cleanup

import (
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
	warned := rep.Marked
	if rep.DryRun {
		warned = len(rep.Warnings)
	}
	o := Outcome{Portal: portal, Outcome: rep.Outcome, Examined: rep.Examined, Eligible: rep.Eligible, Succeeded: rep.Succeeded, Failed: rep.Failed,
		Remaining: rep.Remaining, Warned: warned, Undelivered: rep.WarningsUndelivered + rep.EventsUndelivered,
		CapReached: rep.CapReached, Errors: len(rep.Errors)}
	if f := rep.Findings; f != nil {
		o.Findings = &OutcomeFindings{Active: f.Active, Raised: f.Raised, Archived: f.Archived, Unreported: f.Unreported, Calls: f.Calls}
	}
	if len(rep.Errors) > 0 {
		o.Error = clip.Text(rep.Errors[0], MaxOutcomeError)
	}
	return o
}

// Summary totals a fanned-out run's outcomes into one report: portals are
// the ones the run set out to cover, in order; one with no outcome (its
// item failed and was tolerated) or a failed item counts as failed. The
// outcome is ok when every portal's was, failed when none got anywhere,
// partial otherwise.
func Summary(stage Stage, policy Policy, portals []string, outcomes []Outcome) Report {
	// Marked counts the outcomes' warnings: delivered ones, or in a dry
	// run the ones it would send.
	rep := Report{Stage: stage, DryRun: policy.DryRun, Policy: policy, Skipped: map[string]int{}, Actions: []Action{}, Errors: []string{}, Warnings: []Warning{}}
	byPortal := map[string]Outcome{}
	for _, o := range outcomes {
		if _, dup := byPortal[o.Portal]; !dup {
			byPortal[o.Portal] = o
		}
	}
	failed := 0
	for _, name := range portals {
		o, ok := byPortal[name]
		label := name
		switch {
		case !ok:
			o = Outcome{Portal: name, Outcome: "failed", Error: "no outcome: the item failed (see the state machine's execution)", Errors: 1}
		case o.ErrorType != "":
			o.Outcome = "failed"
			if o.Error == "" {
				o.Error, o.Errors = "the item failed (its execution's history holds the cause)", 1
			}
		}
		if o.Outcome == "failed" && o.Succeeded == 0 {
			failed++
		}
		rep.Examined += o.Examined
		rep.Eligible += o.Eligible
		rep.Succeeded += o.Succeeded
		rep.Failed += o.Failed
		rep.Remaining += o.Remaining
		rep.Marked += o.Warned
		rep.EventsUndelivered += o.Undelivered
		rep.CapReached = rep.CapReached || o.CapReached
		if f := o.Findings; f != nil {
			rep.Findings = rep.Findings.Add(&Findings{Active: f.Active, Raised: f.Raised, Archived: f.Archived, Unreported: f.Unreported, Calls: f.Calls})
		}
		if o.Error != "" {
			msg := clip.Text(o.Error, MaxOutcomeError) // a caught failure's cause, as Step Functions passed it
			if o.ErrorType != "" {
				msg = o.ErrorType + ": " + msg
			}
			if o.Errors > 1 {
				msg += fmt.Sprintf(" (and %d more: the portal's run log holds them)", o.Errors-1)
			}
			rep.Errors = append(rep.Errors, label+": "+msg)
		}
		rep.Portals = append(rep.Portals, Report{Portal: name, Stage: stage, DryRun: policy.DryRun, Outcome: o.Outcome})
	}
	switch {
	case len(portals) > 0 && failed == len(portals):
		rep.Outcome = "failed"
	case failed > 0 || len(rep.Errors) > 0 || rep.Failed > 0:
		rep.Outcome = "partial"
	default:
		rep.Outcome = "ok"
	}
	return rep
}
