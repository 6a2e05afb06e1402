package cleanup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Skip reasons in a report.
const (
	SkipFresh       = "fresh"
	SkipKept        = "kept"
	SkipProtected   = "protected"
	SkipSelf        = "self"
	SkipSelfUser    = "selfUser"
	SkipOtherStatus = "otherStatus"
	// SkipIncomplete: the record lacks a field a rule depends on.
	SkipIncomplete = "incomplete"
	// SkipChanged: the fresh read right before acting no longer made the
	// token eligible (re-enabled, used, kept, ...).
	SkipChanged = "changed"
	// SkipGone: the token was gone by the time the run got to it (another
	// run, or a person, deleted it).
	SkipGone = "gone"
	// SkipUnverified: a rotated-out record that could not be proven
	// against Secrets Manager (lmtokens did not rotate that token out, or
	// can no longer show it did): left for a person.
	SkipUnverified = "unverified"
	// SkipCapped: the run's cap was reached before it; the next run
	// continues.
	SkipCapped = "capped"
)

// Budget is how many actions one run may take, across every portal it
// covers and for retirements too. It is safe for concurrent use.
type Budget struct {
	left   atomic.Int64
	parent *Budget
}

// NewBudget returns a budget of n actions.
func NewBudget(n int) *Budget {
	b := &Budget{}
	b.left.Store(int64(n))
	return b
}

// Within returns a budget of at most n actions that also draws on b: a
// portal's own cap inside the run's.
func (b *Budget) Within(n int) *Budget {
	c := NewBudget(n)
	c.parent = b
	return c
}

// Take grants up to n actions and returns how many it granted.
func (b *Budget) Take(n int) int {
	grant := b.take(n)
	if b.parent != nil && grant > 0 {
		got := b.parent.Take(grant)
		b.left.Add(int64(grant - got)) // give back what the run could not grant
		grant = got
	}
	return grant
}

func (b *Budget) take(n int) int {
	for {
		left := b.left.Load()
		grant := min(int64(n), left)
		if grant <= 0 {
			return 0
		}
		if b.left.CompareAndSwap(left, left-grant) {
			return int(grant)
		}
	}
}

// Target is what a run acts through: the LogicMonitor client and, for the
// delete stage, the key store.
type Target interface {
	// List returns every token the stage might act on (both types), or an
	// error: never a partial list.
	List(ctx context.Context, stage Stage) ([]logicmonitor.Token, error)
	// Get reads one token afresh (a logicmonitor not-found error when gone).
	Get(ctx context.Context, t logicmonitor.Token) (*logicmonitor.Token, error)
	// Act disables or deletes one token, changing nothing else.
	Act(ctx context.Context, stage Stage, t logicmonitor.Token) (Acted, error)
}

// Rereader is a Target that re-reads many tokens in one request: the run
// then re-reads its actions a batch at a time, which leaves the portal's
// rate limit to the changes.
type Rereader interface {
	// GetMany reads tokens afresh: for each of toks, in order, its record
	// or an error (a logicmonitor not-found one when gone).
	GetMany(ctx context.Context, toks []logicmonitor.Token) []Reread
}

// Reread is one token's fresh record, or why there is none.
type Reread struct {
	Token *logicmonitor.Token
	Err   error
}

// rereadBatch is how many actions a Rereader re-reads at once, and
// maxRereadAge how old a batch's record may be when its action starts (a
// rate limit can hold actions back): older, the token is read again alone.
const rereadBatch = 20

var maxRereadAge = 20 * time.Second // a variable for the tests

// Acted is what an action did beyond its stage's change.
type Acted struct {
	Detail string // a note for the report
	Secret string // the key's secret scheduled for deletion, if any
}

// Self identifies the token the functions authenticate with, which a run
// never touches.
type Self struct {
	AccessID string // the LMv1 access id
	TokenID  int64  // the token id, when the credentials secret names it
	AdminID  int64  // the credentials' user, when the secret names it
}

// known reports whether the token itself can be recognised.
func (s Self) known() bool { return s.AccessID != "" || s.TokenID != 0 }

// ErrSelfUnknown refuses a run that could not tell the functions' own token.
var ErrSelfUnknown = errors.New(`the functions' own token cannot be identified (bearer credentials carry no access id): add "tokenId" (or at least "adminId") to the credentials secret so cleanup can never disable the token it runs with`)

// Action is a token acted on, or that a dry run would act on.
type Action struct {
	Portal     string `json:"portal,omitempty"` // a registered portal; "" the default one
	AdminID    int64  `json:"adminId"`
	TokenID    int64  `json:"tokenId"`
	AccessID   string `json:"accessId"`
	Type       string `json:"type"`
	Note       string `json:"note"`
	LastUsedOn int64  `json:"lastUsedOn"` // epoch seconds, 0 = never
	// LastAuthIP is where LogicMonitor last saw it used from.
	LastAuthIP string `json:"lastAuthIp,omitempty"`
	CreatedOn  int64  `json:"createdOn"`
	// LastUse is when it was last used, or created if never used.
	LastUse    time.Time `json:"lastUse"`
	DaysUnused int       `json:"daysUnused"`
	Done       bool      `json:"done"`
	// Secret is the key's secret the delete stage scheduled for deletion.
	Secret string `json:"secret,omitempty"`
	// Skipped says why the run left the token after all: its fresh record
	// no longer made it eligible (changed: <reason>), or it was gone.
	Skipped string `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
	// Reason is why the token is acted on when it is not its disuse:
	// ReasonOwnerInactive or ReasonExpired (with ExpiresAt).
	Reason    string     `json:"reason,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Report is the outcome of a run. It never holds a key.
type Report struct {
	// Portal names a registered portal's report; "" is the default portal.
	Portal   string    `json:"portal,omitempty"`
	Stage    Stage     `json:"stage"`
	DryRun   bool      `json:"dryRun"`
	Policy   Policy    `json:"policy"`
	Cutoff   time.Time `json:"cutoff"`
	Examined int       `json:"examined"`
	// OwnersRead is how many owners the disable stage read (once each) to
	// find the tokens of inactive ones.
	OwnersRead int            `json:"ownersRead,omitempty"`
	Eligible   int            `json:"eligible"`
	Actions    []Action       `json:"actions"`
	Skipped    map[string]int `json:"skipped"`
	CapReached bool           `json:"capReached"`
	// StoppedEarly says the run's time ran out before every action started.
	StoppedEarly bool     `json:"stoppedEarly,omitempty"`
	Remaining    int      `json:"remaining"` // eligible tokens left for the next run
	Succeeded    int      `json:"succeeded"`
	Failed       int      `json:"failed"`
	Errors       []string `json:"errors"`
	// Warnings are the tokens within WarnDays of eligibility that no mark
	// covers: warned on this run (or, dry, that would be). A warning is
	// marked only once it was delivered.
	Warnings []Warning `json:"warnings"`
	// Marked counts the warnings delivered and marked; WarningsUndelivered
	// those that were not (the next run warns them again); Unmarked the
	// marks removed because their token was used, kept, acted on or gone.
	Marked              int `json:"marked"`
	WarningsUndelivered int `json:"warningsUndelivered"`
	Unmarked            int `json:"unmarked"`
	// MarkErrors counts marks that could not be written or removed.
	MarkErrors int `json:"markErrors"`
	// Findings are the posture findings the disable stage reported (nil:
	// none configured).
	Findings *Findings `json:"findings,omitempty"`
	// EventsUndelivered counts the run's events EventBridge did not take
	// (each is in the log in full); any makes the outcome partial.
	EventsUndelivered int       `json:"eventsUndelivered"`
	Outcome           string    `json:"outcome"` // ok, partial, failed
	StartedAt         time.Time `json:"startedAt"`
	DurationMs        int64     `json:"durationMs"`
	LMRequests        int64     `json:"lmRequests,omitempty"`
	Concurrency       int       `json:"concurrency"`
	// Retired are the rotated-out tokens the stage retired (or, dry, would
	// retire) on their records' dates, and those it left alone.
	Retired []Action `json:"retired,omitempty"`
	// OrphanedSecrets are key secrets whose token LogicMonitor no longer
	// has (the delete stage only): marked when first found, scheduled for
	// deletion once their grace has passed.
	OrphanedSecrets []Orphan `json:"orphanedSecrets,omitempty"`
	// Portals holds each portal's own report when the run covered several;
	// the fields above are then their total.
	Portals []Report `json:"portals,omitempty"`
	// Truncated says a bounded report (a function's answer, its log
	// line) lists only the first items; Omitted counts the rest per list.
	Truncated bool           `json:"truncated,omitempty"`
	Omitted   map[string]int `json:"omitted,omitempty"`

	// runErrors are the errors of the run itself, not of one item.
	runErrors []string
}

// AddError records an error of the run itself (not of one token).
func (rep *Report) AddError(msg string) {
	rep.runErrors = append(rep.runErrors, msg)
	rep.Errors = append(rep.Errors, msg)
}

// Orphan is a key secret whose token LogicMonitor no longer has.
type Orphan struct {
	Portal  string `json:"portal,omitempty"`
	Secret  string `json:"secret"`
	AdminID int64  `json:"adminId"`
	TokenID int64  `json:"tokenId"`
	// MissingSince is when a run first found the token missing.
	MissingSince time.Time `json:"missingSince"`
	// Scheduled says this run scheduled the secret's deletion (its grace
	// had passed; not in a dry run).
	Scheduled bool   `json:"scheduled"`
	Detail    string `json:"detail,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Run is one cleanup run.
type Run struct {
	Stage  Stage
	Policy Policy
	// Budget caps the actions of the whole run (every portal, retirements
	// included); nil: Policy.MaxActions for this run alone.
	Budget *Budget
	// Self is the token the functions authenticate with: never touched.
	Self Self
	Now  time.Time
	// Concurrency bounds the actions in flight (default 4).
	Concurrency int
	// expiries are the tokens' expiries the target's ExpiryIndex gave.
	expiries map[int64]time.Time
	// ActionBudget is the time an action may need: none starts later than
	// this before the run's deadline, so those in flight can finish
	// (default 2 s).
	ActionBudget time.Duration
	// Marks keeps the warnings' marks of this stage and portal; needed
	// when Policy.WarnDays is above 0.
	Marks Marks
}

// Warning is a token that will become eligible within the policy's
// WarnDays: the owner is told before the stage acts.
type Warning struct {
	Portal    string    `json:"portal,omitempty"`
	AdminID   int64     `json:"adminId"`
	AdminName string    `json:"adminName,omitempty"`
	TokenID   int64     `json:"tokenId"`
	AccessID  string    `json:"accessId"`
	Type      string    `json:"type"`
	Note      string    `json:"note"`
	LastUse   time.Time `json:"lastUse"`
	// LastAuthIP is where LogicMonitor last saw it used from.
	LastAuthIP string    `json:"lastAuthIp,omitempty"`
	EligibleOn time.Time `json:"eligibleOn"`
	// ActOn is the earliest a run acts on the token if it stays unused:
	// WarnDays after the warning is delivered, and not before EligibleOn.
	ActOn    time.Time `json:"actOn"`
	WarnDays int       `json:"warnDays"`
	// Reason is ReasonExpired for a warning of an expiry (ExpiresAt; its
	// LastUse is then the expiry the mark matches), else empty (disuse).
	Reason    string     `json:"reason,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// LastUse is a token's last use, or its creation when it was never used.
func LastUse(t logicmonitor.Token) time.Time {
	if t.LastUsedOn > 0 {
		return time.Unix(t.LastUsedOn, 0).UTC()
	}
	return time.Unix(t.CreatedOn, 0).UTC()
}

func (r Run) protected() map[string]bool {
	protected := map[string]bool{}
	for _, id := range r.Policy.ProtectedAccessIDs {
		protected[strings.TrimSpace(id)] = true
	}
	return protected
}

// Own says whether t is the functions' own token (or, when the
// credentials do not say which token they are, one of their user's).
func (r Run) Own(t logicmonitor.Token) bool {
	why := r.exempt(t, nil)
	return why == SkipSelf || why == SkipSelfUser
}

// Spares says whether the policy spares a token whatever its use: the
// functions' own token, a protected access id, or a keep marker in its
// note. The posture findings do not call such a token unused. The policy's
// protected ids are read once, for every token asked about.
func (r Run) Spares() func(logicmonitor.Token) bool {
	protected := r.protected()
	return func(t logicmonitor.Token) bool { return r.exempt(t, protected) != "" || r.kept(t) }
}

// kept says whether t's note holds one of the policy's keep markers
// (case-insensitive).
func (r Run) kept(t logicmonitor.Token) bool {
	note := strings.ToLower(t.Note)
	return slices.ContainsFunc(r.Policy.KeepMarkers, func(m string) bool { return strings.Contains(note, strings.ToLower(m)) })
}

// decisionFields are the fields decide rests on; decisionFieldsUnused
// those of a token never used.
var (
	decisionFields       = []string{logicmonitor.FieldID, logicmonitor.FieldAdminID, logicmonitor.FieldAccessID, logicmonitor.FieldStatus, logicmonitor.FieldNote, logicmonitor.FieldLastUsedOn}
	decisionFieldsUnused = append(slices.Clip(decisionFields), logicmonitor.FieldCreatedOn)
)

// decide returns "" when the stage should act on t, or the reason to skip
// it. A record that lacks a field a rule needs is never acted on.
func (r Run) decide(t logicmonitor.Token, cutoff time.Time, protected map[string]bool) string {
	need := decisionFields
	if t.LastUsedOn <= 0 {
		need = decisionFieldsUnused // age counts from creation
	}
	if len(t.Missing(need...)) > 0 || t.ID <= 0 || t.AdminID <= 0 || (t.LastUsedOn <= 0 && t.CreatedOn <= 0) {
		return SkipIncomplete
	}
	wantStatus := logicmonitor.StatusEnabled
	if r.Stage == StageDelete {
		wantStatus = logicmonitor.StatusDisabled
	}
	exempt := r.exempt(t, protected)
	switch {
	case t.Status != wantStatus:
		return SkipOtherStatus
	case exempt != "":
		return exempt
	case r.kept(t):
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
		Skipped: map[string]int{SkipFresh: 0, SkipKept: 0, SkipProtected: 0, SkipSelf: 0, SkipOtherStatus: 0, SkipIncomplete: 0, SkipChanged: 0, SkipGone: 0},
		Actions: []Action{}, Errors: []string{}, Warnings: []Warning{}, Concurrency: r.Concurrency,
	}
	if !r.Self.known() {
		rep.Skipped[SkipSelfUser] = 0
		if r.Self.AdminID == 0 {
			return rep.fail(start, ErrSelfUnknown), ErrSelfUnknown
		}
	}
	tokens, err := target.List(ctx, r.Stage)
	if err != nil {
		// A run that did not see every token acts on none.
		return rep.fail(start, fmt.Errorf("listing the tokens: %w", err)), err
	}
	protected := r.protected()
	// The expiries (Secrets Manager) are read while the owners
	// (LogicMonitor) are: neither waits for the other.
	var (
		expiries  map[int64]time.Time
		expiryErr error
	)
	expiriesRead := make(chan struct{})
	if ix, ok := target.(ExpiryIndex); ok {
		// An expiry is acted on when due, or warned of WarnDays before.
		horizon := r.Now.Add(days(r.Policy.WarnDays))
		go func() {
			defer close(expiriesRead)
			expiries, expiryErr = ix.Expiries(ctx, horizon)
		}()
	} else {
		close(expiriesRead)
	}
	var inactive map[int64]string
	if oc, ok := target.(OwnerChecker); ok && r.Stage == StageDisable {
		inactive = r.inactiveOwners(ctx, oc, tokens, protected, &rep)
	}
	<-expiriesRead
	r.expiries = expiries
	if expiryErr != nil {
		// Expiries are as binding as disuse: a run that cannot read them
		// acts on nothing.
		return rep.fail(start, fmt.Errorf("reading the tokens' expiries: %w", expiryErr)), expiryErr
	}
	reasons := map[int64]string{}
	eligible, marks, err := r.candidates(ctx, tokens, cutoff, protected, inactive, reasons, &rep)
	if err != nil {
		return rep.fail(start, err), err
	}
	sort.SliceStable(eligible, func(i, j int) bool {
		a, b := LastUse(eligible[i]), LastUse(eligible[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		return eligible[i].ID < eligible[j].ID
	})
	rep.Eligible = len(eligible)
	budget := r.Budget
	if budget == nil {
		budget = NewBudget(r.Policy.MaxActions)
	}
	if granted := budget.Take(len(eligible)); granted < len(eligible) {
		rep.CapReached = true
		rep.Remaining = len(eligible) - granted
		eligible = eligible[:granted]
	}
	rep.Actions = make([]Action, len(eligible))
	for i, t := range eligible {
		lu := LastUse(t)
		rep.Actions[i] = Action{
			AdminID: t.AdminID, TokenID: t.ID, AccessID: t.AccessID, Type: t.Type, Note: t.Note,
			LastUsedOn: t.LastUsedOn, LastAuthIP: t.LastAuthIP, CreatedOn: t.CreatedOn, LastUse: lu, DaysUnused: int(r.Now.Sub(lu).Hours() / 24),
		}
		switch reasons[t.ID] {
		case ReasonOwnerInactive:
			rep.Actions[i].Reason, rep.Actions[i].Detail = ReasonOwnerInactive, "its owner "+inactive[t.AdminID]
		case ReasonExpired:
			e := r.expiries[t.ID]
			rep.Actions[i].Reason, rep.Actions[i].ExpiresAt = ReasonExpired, &e
			rep.Actions[i].Detail = "its lifetime ended " + e.UTC().Format(time.RFC3339)
		}
	}
	if !r.Policy.DryRun {
		if n := r.act(ctx, target, eligible, rep.Actions, cutoff, protected, marks); n > 0 {
			rep.StoppedEarly = true
			rep.Remaining += n
		}
	}
	rep.Settle()
	rep.DurationMs = time.Since(start).Milliseconds()
	return rep, nil
}

// Account makes an ok outcome partial when anything of the run is not
// accounted for by its changes: a warning not delivered (or not marked), an
// event not delivered, a mark not removed.
func (rep *Report) Account() {
	if rep.Outcome == "ok" && rep.MarkErrors+rep.WarningsUndelivered+rep.EventsUndelivered > 0 {
		rep.Outcome = "partial"
	}
	for i := range rep.Portals {
		rep.Portals[i].Account()
	}
}

// Tally applies count to the report and, when it covers several portals,
// to the named portal's own report, so that both tell the same story.
func (rep *Report) Tally(portal string, count func(*Report)) {
	count(rep)
	for i := range rep.Portals {
		if rep.Portals[i].Portal == portal {
			count(&rep.Portals[i])
		}
	}
}

// Settle counts the report's actions, retirements and orphaned secrets
// into its totals, errors and outcome: ok when nothing failed, failed when
// something failed and nothing succeeded, partial otherwise. It may be
// called again after more was added.
func (rep *Report) Settle() {
	rep.Succeeded, rep.Failed = 0, 0
	errs := append([]string{}, rep.runErrors...)
	rep.Skipped[SkipGone], rep.Skipped[SkipChanged], rep.Skipped[SkipUnverified] = 0, 0, 0
	for _, a := range rep.Actions {
		switch {
		case a.Error != "":
			rep.Failed++
			errs = append(errs, a.Error)
		case a.Done:
			rep.Succeeded++
		case a.Skipped == SkipGone:
			rep.Skipped[SkipGone]++
		case a.Skipped != "":
			rep.Skipped[SkipChanged]++
		}
	}
	for _, a := range rep.Retired {
		switch {
		case strings.HasPrefix(a.Skipped, SkipUnverified):
			rep.Skipped[SkipUnverified]++
		case a.Error != "":
			rep.Failed++
			errs = append(errs, fmt.Sprintf("rotated-out token %d of user %d: %s", a.TokenID, a.AdminID, a.Error))
		case a.Done:
			rep.Succeeded++
		}
	}
	for _, o := range rep.OrphanedSecrets {
		switch {
		case o.Error != "":
			rep.Failed++
			errs = append(errs, fmt.Sprintf("orphaned secret %s: %s", o.Secret, o.Error))
		case o.Scheduled:
			rep.Succeeded++
		}
	}
	rep.Errors = errs
	switch {
	case rep.Failed == 0 && rep.MarkErrors == 0 && (rep.Findings == nil || rep.Findings.Unreported == 0):
		rep.Outcome = "ok"
	case rep.Failed == 0:
		rep.Outcome = "partial"
	case rep.Succeeded == 0:
		rep.Outcome = "failed"
	default:
		rep.Outcome = "partial"
	}
}

// act runs the actions with at most r.Concurrency in flight; the client's
// pacer keeps them under the portal's rate limit. A Rereader re-reads
// them a batch at a time, each batch when its first action is due.
//
// When the run's time is up (the invocation's deadline nears) it starts no
// further action: those tokens are left for the next run, not failed.
func (r Run) act(ctx context.Context, target Target, tokens []logicmonitor.Token, actions []Action, cutoff time.Time, protected map[string]bool, marks map[markKey]Mark) (notStarted int) {
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
	batcher, batches := target.(Rereader)
	var (
		batch  []Reread
		readAt time.Time
	)
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
		var pre *Reread
		if batches {
			if i%rereadBatch == 0 {
				batch, readAt = batcher.GetMany(ctx, tokens[i:min(i+rereadBatch, len(tokens))]), time.Now()
			}
			if time.Since(readAt) <= maxRereadAge {
				pre = &batch[i%rereadBatch]
			}
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r.actOn(ctx, target, tokens[i], pre, &actions[i], cutoff, protected, marks)
		}(i)
	}
	wg.Wait()
	return 0
}

// actOn re-reads one token (or takes pre, its batch's fresh record) and
// acts on it only if its fresh record still makes it eligible: the listing
// may be minutes old, and a person may have re-enabled it, used it or
// marked it #keep since. With warnings on, its fresh record must still
// match the mark it was warned under.
func (r Run) actOn(ctx context.Context, target Target, listed logicmonitor.Token, pre *Reread, a *Action, cutoff time.Time, protected map[string]bool, marks map[markKey]Mark) {
	var fresh *logicmonitor.Token
	var err error
	if pre != nil && (pre.Token != nil || pre.Err != nil) {
		fresh, err = pre.Token, pre.Err
	} else {
		fresh, err = target.Get(ctx, listed)
	}
	switch {
	case logicmonitor.IsNotFound(err):
		a.Skipped = SkipGone
		return
	case err != nil:
		a.Error = fmt.Sprintf("token %d of user %d: re-reading it: %v", listed.ID, listed.AdminID, err)
		return
	}
	switch a.Reason {
	case ReasonOwnerInactive:
		// The owner was read this run; the fresh record must still be an
		// enabled token of theirs that is neither ours nor protected.
		if fresh.Status != logicmonitor.StatusEnabled || fresh.AdminID != listed.AdminID || r.exempt(*fresh, protected) != "" {
			a.Skipped = SkipChanged + ": no longer an enabled token of its inactive owner"
			return
		}
	case ReasonExpired:
		if _, ok := r.expiryCandidate(*fresh, protected, r.Now); !ok || fresh.AdminID != listed.AdminID {
			a.Skipped = SkipChanged + ": no longer a token this stage acts on for its expiry"
			return
		}
		// The expiry too is read afresh: a key given a new lifetime since
		// the run began is not acted on by its old one.
		at, found, err := target.(ExpiryIndex).Expiry(ctx, fresh.AdminID, fresh.ID)
		switch {
		case err != nil:
			a.Error = fmt.Sprintf("token %d of user %d: re-reading its expiry: %v", listed.ID, listed.AdminID, err)
			return
		case !found || !at.Equal(r.expiries[fresh.ID]):
			a.Skipped = SkipChanged + ": its expiry changed since the run began"
			return
		}
	default:
		if reason := r.decide(*fresh, cutoff, protected); reason != "" {
			a.Skipped = SkipChanged + ": " + reason
			return
		}
	}
	if r.Policy.WarnDays > 0 && a.Reason != ReasonOwnerInactive {
		m, ok := markOf(marks, *fresh)
		matched := ok && m.matches(*fresh)
		if a.Reason == ReasonExpired {
			matched = ok && r.expiryMarked(m, *fresh)
		}
		if !matched {
			a.Skipped = SkipChanged + ": used since its warning"
			return
		}
		// The mark is taken before acting: two runs at once act once. An
		// action that then fails leaves the token unmarked, so it is
		// warned again, never acted on unwarned.
		taken, err := r.Marks.Take(ctx, m)
		switch {
		case err != nil:
			a.Error = fmt.Sprintf("token %d of user %d: taking its warning's mark: %v", listed.ID, listed.AdminID, err)
			return
		case !taken:
			a.Skipped = SkipChanged + ": its warning's mark was already gone (another run acted, or an answer was lost): it is warned again before any action"
			return
		}
	}
	acted, err := target.Act(ctx, r.Stage, *fresh)
	switch {
	case logicmonitor.IsNotFound(err):
		a.Skipped = SkipGone
	case err != nil:
		a.Error = fmt.Sprintf("token %d of user %d: %v", listed.ID, listed.AdminID, err)
	default:
		a.Done, a.Secret = true, acted.Secret
		if acted.Detail != "" {
			a.Detail = strings.TrimPrefix(a.Detail+"; "+acted.Detail, "; ")
		}
		a.Note, a.AccessID, a.Type = fresh.Note, fresh.AccessID, fresh.Type
	}
}

// fail marks a report of a run that could not look at every token.
func (rep Report) fail(start time.Time, err error) Report {
	rep.Outcome = "failed"
	rep.AddError(err.Error())
	rep.DurationMs = time.Since(start).Milliseconds()
	return rep
}

// SetPortal names the portal the report and each of its items are of; the
// events and marks of its items follow it. The items are copied, since a
// report's slices may be shared.
func (rep *Report) SetPortal(portal string) {
	rep.Portal = portal
	rep.Actions = withPortal(rep.Actions, func(a *Action) { a.Portal = portal })
	rep.Retired = withPortal(rep.Retired, func(a *Action) { a.Portal = portal })
	rep.OrphanedSecrets = withPortal(rep.OrphanedSecrets, func(o *Orphan) { o.Portal = portal })
	rep.Warnings = withPortal(rep.Warnings, func(w *Warning) { w.Portal = portal })
}

// withPortal is a copy of items, each named by set.
func withPortal[T any](items []T, set func(*T)) []T {
	out := slices.Clone(items)
	for i := range out {
		set(&out[i])
	}
	return out
}

// Combine totals the reports of one run over several portals (errs[i] is
// portal i's failure, if any). Its outcome is ok when every portal's was,
// failed when no portal got anywhere, partial otherwise; the error is
// returned only when every portal failed.
func Combine(portals []string, reports []Report, errs []error) (Report, error) {
	total := Report{Stage: reports[0].Stage, DryRun: reports[0].DryRun, Policy: reports[0].Policy, Cutoff: reports[0].Cutoff,
		StartedAt: reports[0].StartedAt, Skipped: map[string]int{}, Actions: []Action{}, Errors: []string{}, Warnings: []Warning{}, Concurrency: reports[0].Concurrency}
	failedPortals, partialPortals := 0, 0
	for i, r := range reports {
		r.SetPortal(portals[i])
		switch {
		case errs[i] != nil || r.Outcome == "failed" && r.Succeeded == 0:
			failedPortals++
		case r.Outcome != "ok":
			partialPortals++
		}
		total.Examined += r.Examined
		total.Eligible += r.Eligible
		total.Remaining += r.Remaining
		total.Succeeded += r.Succeeded
		total.Failed += r.Failed
		total.Marked += r.Marked
		total.OwnersRead += r.OwnersRead
		total.Findings = total.Findings.Add(r.Findings)
		total.Unmarked += r.Unmarked
		total.MarkErrors += r.MarkErrors
		total.WarningsUndelivered += r.WarningsUndelivered
		total.EventsUndelivered += r.EventsUndelivered
		total.CapReached = total.CapReached || r.CapReached
		total.StoppedEarly = total.StoppedEarly || r.StoppedEarly
		total.DurationMs = max(total.DurationMs, r.DurationMs)
		for k, v := range r.Skipped {
			total.Skipped[k] += v
		}
		total.Actions = append(total.Actions, r.Actions...)
		total.Retired = append(total.Retired, r.Retired...)
		total.OrphanedSecrets = append(total.OrphanedSecrets, r.OrphanedSecrets...)
		total.Warnings = append(total.Warnings, r.Warnings...)
		label := portals[i]
		if label == "" {
			label = "default portal"
		}
		for _, e := range r.Errors {
			total.Errors = append(total.Errors, label+": "+e)
		}
		if errs[i] != nil && len(r.Errors) == 0 {
			total.Errors = append(total.Errors, label+": "+errs[i].Error())
		}
		total.Portals = append(total.Portals, r)
	}
	switch {
	case failedPortals == len(reports):
		total.Outcome = "failed"
		for _, err := range errs {
			if err != nil {
				return total, err
			}
		}
	case failedPortals == 0 && partialPortals == 0 && total.Failed == 0 && total.MarkErrors == 0:
		total.Outcome = "ok"
	default:
		total.Outcome = "partial"
	}
	return total, nil
}
