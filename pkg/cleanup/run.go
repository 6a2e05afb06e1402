package cleanup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Skip reasons in a report.
const (
	SkipFresh       = "fresh"
	SkipKept        = "kept"
	SkipProtected   = "protected"
	SkipSelf        = "self"
	SkipOtherStatus = "otherStatus"
)

// Target is what a run acts through: the LogicMonitor client and, for the
// delete stage, the key store.
type Target interface {
	// List returns every token the stage might act on (both types).
	List(ctx context.Context, stage Stage) ([]logicmonitor.Token, error)
	// Act disables or deletes one token; detail is an optional note for the
	// report (such as the secret scheduled for deletion).
	Act(ctx context.Context, stage Stage, t logicmonitor.Token) (detail string, err error)
}

// Action is a token acted on, or that a dry run would act on.
type Action struct {
	AdminID    int64  `json:"adminId"`
	TokenID    int64  `json:"tokenId"`
	AccessID   string `json:"accessId"`
	Type       string `json:"type"`
	Note       string `json:"note"`
	LastUsedOn int64  `json:"lastUsedOn"` // epoch seconds, 0 = never
	CreatedOn  int64  `json:"createdOn"`
	// LastUse is when it was last used, or created if never used.
	LastUse    time.Time `json:"lastUse"`
	DaysUnused int       `json:"daysUnused"`
	Done       bool      `json:"done"`
	Detail     string    `json:"detail,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Report is the outcome of a run. It never holds a key.
type Report struct {
	Stage      Stage          `json:"stage"`
	DryRun     bool           `json:"dryRun"`
	Policy     Policy         `json:"policy"`
	Cutoff     time.Time      `json:"cutoff"`
	Examined   int            `json:"examined"`
	Eligible   int            `json:"eligible"`
	Actions    []Action       `json:"actions"`
	Skipped    map[string]int `json:"skipped"`
	CapReached bool           `json:"capReached"`
	// StoppedEarly says the run's time ran out before every action started.
	StoppedEarly bool      `json:"stoppedEarly,omitempty"`
	Remaining    int       `json:"remaining"` // eligible tokens left for the next run
	Succeeded    int       `json:"succeeded"`
	Failed       int       `json:"failed"`
	Errors       []string  `json:"errors"`
	Outcome      string    `json:"outcome"` // ok, partial, failed
	StartedAt    time.Time `json:"startedAt"`
	DurationMs   int64     `json:"durationMs"`
	LMRequests   int64     `json:"lmRequests,omitempty"`
	Concurrency  int       `json:"concurrency"`
}

// Run is one cleanup run.
type Run struct {
	Stage  Stage
	Policy Policy
	// Self is the access id the functions authenticate with: never touched.
	Self string
	Now  time.Time
	// Concurrency bounds the actions in flight (default 4).
	Concurrency int
	// ActionBudget is the time an action may need: none starts later than
	// this before the run's deadline, so those in flight can finish
	// (default 2 s).
	ActionBudget time.Duration
}

// LastUse is a token's last use, or its creation when it was never used.
func LastUse(t logicmonitor.Token) time.Time {
	if t.LastUsedOn > 0 {
		return time.Unix(t.LastUsedOn, 0).UTC()
	}
	return time.Unix(t.CreatedOn, 0).UTC()
}

// decide returns "" when the stage should act on t, or the reason to skip it.
func (r Run) decide(t logicmonitor.Token, cutoff time.Time, protected map[string]bool) string {
	wantStatus := logicmonitor.StatusEnabled
	if r.Stage == StageDelete {
		wantStatus = logicmonitor.StatusDisabled
	}
	switch {
	case t.Status != wantStatus:
		return SkipOtherStatus
	case r.Self != "" && t.AccessID == r.Self:
		return SkipSelf
	case protected[t.AccessID]:
		return SkipProtected
	case r.Policy.KeepMarker != "" && strings.Contains(strings.ToLower(t.Note), strings.ToLower(r.Policy.KeepMarker)):
		return SkipKept
	case !LastUse(t).Before(cutoff):
		return SkipFresh
	}
	return ""
}

// Execute lists the tokens, decides on each, and acts on the stalest first,
// at most Policy.MaxActions of them. A failure on one token is reported and
// does not stop the others.
func (r Run) Execute(ctx context.Context, target Target) (Report, error) {
	start := time.Now()
	if r.Now.IsZero() {
		r.Now = start
	}
	if r.Concurrency <= 0 {
		r.Concurrency = 4
	}
	cutoff := r.Now.Add(-time.Duration(r.Policy.UnusedDays) * 24 * time.Hour).UTC()
	rep := Report{
		Stage: r.Stage, DryRun: r.Policy.DryRun, Policy: r.Policy, Cutoff: cutoff, StartedAt: r.Now.UTC(),
		Skipped: map[string]int{SkipFresh: 0, SkipKept: 0, SkipProtected: 0, SkipSelf: 0, SkipOtherStatus: 0},
		Actions: []Action{}, Errors: []string{}, Concurrency: r.Concurrency,
	}
	tokens, err := target.List(ctx, r.Stage)
	if err != nil {
		return rep, err
	}
	protected := map[string]bool{}
	for _, id := range r.Policy.ProtectedAccessIDs {
		protected[strings.TrimSpace(id)] = true
	}
	var eligible []logicmonitor.Token
	for _, t := range tokens {
		rep.Examined++
		if reason := r.decide(t, cutoff, protected); reason != "" {
			rep.Skipped[reason]++
			continue
		}
		eligible = append(eligible, t)
	}
	sort.SliceStable(eligible, func(i, j int) bool {
		a, b := LastUse(eligible[i]), LastUse(eligible[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return eligible[i].ID < eligible[j].ID
	})
	rep.Eligible = len(eligible)
	if len(eligible) > r.Policy.MaxActions {
		rep.CapReached = true
		rep.Remaining = len(eligible) - r.Policy.MaxActions
		eligible = eligible[:r.Policy.MaxActions]
	}
	rep.Actions = make([]Action, len(eligible))
	for i, t := range eligible {
		lu := LastUse(t)
		rep.Actions[i] = Action{
			AdminID: t.AdminID, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type, Note: t.Note,
			LastUsedOn: t.LastUsedOn, CreatedOn: t.CreatedOn, LastUse: lu, DaysUnused: int(r.Now.Sub(lu).Hours() / 24),
		}
	}
	if !r.Policy.DryRun {
		if n := r.act(ctx, target, eligible, rep.Actions); n > 0 {
			rep.StoppedEarly = true
			rep.Remaining += n
		}
	}
	for _, a := range rep.Actions {
		switch {
		case a.Error != "":
			rep.Failed++
			rep.Errors = append(rep.Errors, a.Error)
		case a.Done:
			rep.Succeeded++
		}
	}
	switch {
	case rep.Failed == 0:
		rep.Outcome = "ok"
	case rep.Succeeded == 0:
		rep.Outcome = "failed"
	default:
		rep.Outcome = "partial"
	}
	rep.DurationMs = time.Since(start).Milliseconds()
	return rep, nil
}

// act runs the actions with at most r.Concurrency in flight; the client's
// pacer keeps them under the portal's rate limit.
//
// When the run's time is up (the invocation's deadline nears) it starts no
// further action: those tokens are left for the next run, not failed.
func (r Run) act(ctx context.Context, target Target, tokens []logicmonitor.Token, actions []Action) (notStarted int) {
	sem := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	timeUp := make(<-chan time.Time)
	if dl, ok := ctx.Deadline(); ok {
		budget := r.ActionBudget
		if budget <= 0 {
			budget = 2 * time.Second
		}
		t := time.NewTimer(time.Until(dl.Add(-budget)))
		defer t.Stop()
		timeUp = t.C
	}
	for i := range tokens {
		stopped := false
		select {
		case sem <- struct{}{}:
		case <-timeUp:
			stopped = true
		case <-ctx.Done():
			stopped = true
		}
		if stopped {
			for j := i; j < len(tokens); j++ {
				actions[j].Detail = "not started: the run's time ran out; the next run continues"
			}
			wg.Wait()
			return len(tokens) - i
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			detail, err := target.Act(ctx, r.Stage, tokens[i])
			if err != nil {
				actions[i].Error = fmt.Sprintf("token %d of user %d: %v", tokens[i].ID, tokens[i].AdminID, err)
				return
			}
			actions[i].Done, actions[i].Detail = true, detail
		}(i)
	}
	wg.Wait()
	return 0
}
