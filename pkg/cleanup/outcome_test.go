package cleanup

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A run fanned out over 500 portals keeps every state within Step
// Functions' 256 KB: the Map's input (the portals' names, the longest a
// portal may have) and the summary's (those names and 500 outcomes, each
// as large as an outcome gets: every count set, its findings, its error
// clipped). Names and counts pass, never token data.
func TestFiveHundredPortalsFitAState(t *testing.T) {
	const limit = 256 * 1024
	var portals []string
	var outcomes []Outcome
	for i := range 500 {
		name := fmt.Sprintf("p%03d%s", i, strings.Repeat("x", 59)) // 63 characters, a DNS label's most
		portals = append(portals, name)
		outcomes = append(outcomes, OutcomeOf(name, Report{
			Outcome: "partial", Examined: 50000, Eligible: 50000, Succeeded: 10000, Failed: 10000, Remaining: 40000, Marked: 10000,
			WarningsUndelivered: 10000, Unmarked: 10000, EventsUndelivered: 10000, CapReached: true,
			Findings: &Findings{Active: 99999, Raised: 99999, Refreshed: 99999, Archived: 99999, Refused: 99999, Unreported: 99999, Calls: 9999},
			Errors:   []string{strings.Repeat("an error naming what failed ", 100), "another"},
		}))
	}
	state := map[string]any{"cleanup": map[string]any{"dryRun": true, "maxActions": 10000, "unusedDays": 3650},
		"run": map[string]any{"portals": portals}, "outcomes": outcomes}
	raw, _ := json.Marshal(state)
	if len(raw) > limit {
		t.Fatalf("the summary's state is %d bytes, over %d", len(raw), limit)
	}
	t.Logf("500 portals: the largest state is %d bytes (%.0f%% of 256 KB)", len(raw), 100*float64(len(raw))/limit)
	rep := Summary(StageDisable, Policy{MaxActions: 50}, portals, outcomes)
	if len(rep.Portals) != 500 || rep.Succeeded != 500*10000 || rep.Outcome != "partial" {
		t.Fatalf("summary: %d portals, %d succeeded, %s", len(rep.Portals), rep.Succeeded, rep.Outcome)
	}
}

// A portal the run set out to cover without an outcome (its item failed
// and was tolerated) or whose item failed counts as failed; all failing
// fails the run.
func TestSummaryCountsWhatDidNotReport(t *testing.T) {
	got := Summary(StageDelete, Policy{}, []string{"default", "acme", "globex"}, []Outcome{
		{Portal: "default", Outcome: "ok", Succeeded: 2},
		{Portal: "acme", Outcome: "failed", ErrorType: "Configuration"},
	})
	if got.Outcome != "partial" || got.Succeeded != 2 || len(got.Errors) != 2 ||
		!strings.Contains(got.Errors[0], "acme: Configuration") || !strings.Contains(got.Errors[1], "globex: no outcome") {
		t.Fatalf("%+v", got)
	}
	if all := Summary(StageDelete, Policy{}, []string{"acme"}, nil); all.Outcome != "failed" {
		t.Fatalf("nothing reported: %s", all.Outcome)
	}
}

// A run over several portals is ok only when every portal's was: one that
// is partial for a reason of its own (findings it could not report, say)
// makes the whole partial.
func TestCombineKeepsAPortalsPartialOutcome(t *testing.T) {
	ok := Report{Stage: StageDisable, Outcome: "ok", Succeeded: 1}
	partial := Report{Stage: StageDisable, Outcome: "partial", Findings: &Findings{Unreported: 3}}
	if got, _ := Combine([]string{"", "acme"}, []Report{ok, ok}, []error{nil, nil}); got.Outcome != "ok" {
		t.Fatalf("two ok portals: %s", got.Outcome)
	}
	got, _ := Combine([]string{"", "acme"}, []Report{ok, partial}, []error{nil, nil})
	if got.Outcome != "partial" || got.Findings.Unreported != 3 {
		t.Fatalf("one partial portal: %s %+v", got.Outcome, got.Findings)
	}
}
