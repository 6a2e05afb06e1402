// Package lifecycle delivers lmtokens' lifecycle events through API, its
// port to EventBridge (pkg/awsevents is the adapter): every change to a
// token, the warnings before cleanup acts, and each cleanup run's summary.
// An event that cannot be delivered never fails or undoes the
// change: it is retried within the invocation's time, then written to the
// log as one line carrying the whole event, so the log stays a complete
// audit trail, and counted, so a cleanup run can report it. Every detail
// is bounded (see Clip), so every event fits PutEvents' limits. No event
// ever carries a key.
package lifecycle

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/clip"
)

// Source is every event's source.
const Source = "lmtokens"

// Detail types.
const (
	TokenCreated        = "API Token Created"
	TokenUpdated        = "API Token Updated"
	TokenDeleted        = "API Token Deleted"
	TokenWillBeDisabled = "API Token Will Be Disabled"
	TokenWillBeDeleted  = "API Token Will Be Deleted"
	// TokenWillExpire warns that a token's lifetime ends at expiresAt, when
	// the disable stage disables it; TokenExpired says it did.
	TokenWillExpire     = "API Token Will Expire"
	TokenExpired        = "API Token Expired"
	CleanupRunCompleted = "Cleanup Run Completed"
	// TokenRotated: a rotation promoted a new token's key to AWSCURRENT.
	TokenRotated = "API Token Rotated"
	// RotationFailed: a rotation's new key was refused; the rotation was
	// abandoned with AWSCURRENT untouched.
	RotationFailed = "API Token Rotation Failed"
)

// DetailTypes are every detail type, for the schemas.
var DetailTypes = []string{TokenCreated, TokenUpdated, TokenDeleted, TokenWillBeDisabled, TokenWillBeDeleted, TokenWillExpire, TokenExpired, CleanupRunCompleted, TokenRotated, RotationFailed}

// Reasons a token changed.
const (
	ReasonRequest = "request"
	ReasonCleanup = "cleanup"
	// ReasonRotation: Secrets Manager's rotation of the token's secret.
	ReasonRotation = "rotation"
)

// Replaced is the token a rotation replaced, and when it retires.
type Replaced struct {
	TokenID   int64     `json:"tokenId"`
	AccessID  string    `json:"accessId,omitempty"`
	DisableAt time.Time `json:"disableAt"`
	DeleteAt  time.Time `json:"deleteAt"`
}

// Secret names where a token's key is kept.
type Secret struct {
	Name string `json:"name"`
	ARN  string `json:"arn,omitempty"`
	// DeletionDate is set when the change scheduled the secret's deletion.
	DeletionDate *time.Time `json:"deletionDate,omitempty"`
}

// State is a token's status and note, before or after an update.
type State struct {
	Status int    `json:"status"`
	Note   string `json:"note"`
}

// Token is the detail of every token event.
type Token struct {
	Portal    string    `json:"portal,omitempty"`
	AdminID   int64     `json:"adminId"`
	AdminName string    `json:"adminName,omitempty"`
	TokenID   int64     `json:"tokenId"`
	AccessID  string    `json:"accessId"`
	Type      string    `json:"type"`
	Note      string    `json:"note"`
	Secret    *Secret   `json:"secret,omitempty"`
	Caller    string    `json:"caller"`
	RequestID string    `json:"requestId"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
	// Before and After are an update's change.
	Before *State `json:"before,omitempty"`
	After  *State `json:"after,omitempty"`
	// EligibleOn is when a warned token becomes eligible for the action.
	EligibleOn *time.Time `json:"eligibleOn,omitempty"`
	// LastUse is when a warned token was last used (or created).
	LastUse *time.Time `json:"lastUse,omitempty"`
	// LastAuthIP is where LogicMonitor last saw the token used from, when
	// it says.
	LastAuthIP string `json:"lastAuthIp,omitempty"`
	// ExpiresAt is when the token's lifetime ends (expiry events).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// ActOn is the earliest time cleanup acts on a warned token: a run on
	// or after it acts, if the token is still unused.
	ActOn *time.Time `json:"actOn,omitempty"`
	// Replaced is the token a rotation replaced.
	Replaced *Replaced `json:"replaced,omitempty"`
	// Error says why a rotation failed.
	Error string `json:"error,omitempty"`
	// VersionID is a rotation's secret version: one API Token Rotated per
	// version, whatever retries Secrets Manager makes.
	VersionID string `json:"versionId,omitempty"`
}

// Bounded returns the detail with every free text clipped to clip.MaxText
// (LogicMonitor documents no limit on a note), so that every event fits
// PutEvents' limits by construction: the note (and those of Before and
// After), the owner's name, the error, the caller, the portal and the
// secret's name. The full text stays in LogicMonitor and in the log.
func (t Token) Bounded() Token {
	t.Note = clip.Text(t.Note, clip.MaxText)
	t.AdminName = clip.Text(t.AdminName, clip.MaxText)
	t.Error = clip.Text(t.Error, clip.MaxText)
	t.Caller = clip.Text(t.Caller, clip.MaxText)
	t.Portal = clip.Text(t.Portal, clip.MaxText)
	for _, st := range []**State{&t.Before, &t.After} {
		if *st != nil {
			c := **st
			c.Note = clip.Text(c.Note, clip.MaxText)
			*st = &c
		}
	}
	if t.Secret != nil {
		c := *t.Secret
		c.Name, c.ARN = clip.Text(c.Name, clip.MaxText), clip.Text(c.ARN, clip.MaxText)
		t.Secret = &c
	}
	return t
}

// Event is one event to put.
type Event struct {
	DetailType string
	Detail     any
}

// API is the EventBridge operation lmtokens calls (Client implements it).
type API interface {
	PutEvents(context.Context, []Entry) ([]EntryResult, error)
}

// Emitter puts events on one bus. With no bus it does nothing.
type Emitter struct {
	API API
	Bus string
	Log *slog.Logger
	// Timeout bounds Emit's delivery, retries included (default 3 s),
	// within the caller's deadline. Deliver takes its own deadline.
	Timeout time.Duration
	// Concurrency bounds the PutEvents calls in flight (default 8).
	Concurrency int
}

// Enabled reports whether events go anywhere.
func (e *Emitter) Enabled() bool { return e != nil && e.Bus != "" && e.API != nil }

// Limits of PutEvents: entries per call, and bytes per call (all entries
// together, counted as EventBridge counts them).
const (
	MaxEntries   = 10
	MaxCallBytes = 256 << 10
)

// EntrySize is an entry's size as EventBridge counts it against the 256 KB
// of a call: its source, detail type and detail (and the 14 bytes of a time,
// which EventBridge counts whether or not the entry sets one).
func EntrySize(detailType, detail string) int {
	return 14 + len(Source) + len(detailType) + len(detail)
}

// Delivery is what became of each event of a Deliver or Emit call.
type Delivery struct {
	// Delivered[i] says event i was accepted by EventBridge (always true
	// when the emitter has no bus: there is nothing to deliver to).
	Delivered []bool
	// Undelivered counts the events that were not.
	Undelivered int
}

// Emit delivers events within the emitter's Timeout (and the caller's
// deadline). It never fails the caller: what cannot be delivered is logged
// in full and counted.
func (e *Emitter) Emit(ctx context.Context, evs ...Event) Delivery {
	timeout := 3 * time.Second
	if e != nil && e.Timeout > 0 {
		timeout = e.Timeout
	}
	return e.Deliver(ctx, time.Now().Add(timeout), evs...)
}

// deadlineMargin is kept back from the caller's deadline so that a function
// can still answer after its events.
const deadlineMargin = 500 * time.Millisecond

// Deliver puts events in calls of at most MaxEntries entries and
// MaxCallBytes, at most Concurrency calls at once, and retries the entries
// EventBridge refused (or every entry of a failed call) with backoff until
// by (or the caller's deadline, less a margin, if sooner). What still fails
// is logged, one line per event with the event in full: the log is then its
// record. An event whose detail alone exceeds a call's limit is never sent.
func (e *Emitter) Deliver(ctx context.Context, by time.Time, evs ...Event) Delivery {
	d := Delivery{Delivered: make([]bool, len(evs))}
	if !e.Enabled() {
		for i := range d.Delivered {
			d.Delivered[i] = true
		}
		return d
	}
	if dl, ok := ctx.Deadline(); ok && dl.Add(-deadlineMargin).Before(by) {
		by = dl.Add(-deadlineMargin)
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), by)
	defer cancel()
	var pending []pendingEntry
	for i, ev := range evs {
		if t, ok := ev.Detail.(Token); ok {
			ev.Detail = t.Bounded()
		}
		detail, err := json.Marshal(ev.Detail)
		if err != nil || EntrySize(ev.DetailType, string(detail)) > MaxCallBytes {
			e.lost(ctx, ev.DetailType, string(detail), "the detail cannot be encoded within 256 KB")
			continue
		}
		pending = append(pending, pendingEntry{index: i, entry: Entry{Source: Source, DetailType: ev.DetailType, Detail: string(detail), EventBusName: e.Bus}})
	}
	batches := batchEntries(pending)
	workers := e.Concurrency
	if workers <= 0 {
		workers = 8
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			delivered := e.put(ctx, b)
			mu.Lock()
			for _, i := range delivered {
				d.Delivered[i] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, ok := range d.Delivered {
		if !ok {
			d.Undelivered++
		}
	}
	return d
}

// pendingEntry is an entry and the index of its event.
type pendingEntry struct {
	index int
	entry Entry
}

// batchEntries packs entries in order into calls within PutEvents' limits.
func batchEntries(entries []pendingEntry) [][]pendingEntry {
	var out [][]pendingEntry
	var cur []pendingEntry
	size := 0
	for _, p := range entries {
		n := EntrySize(p.entry.DetailType, p.entry.Detail)
		if len(cur) == MaxEntries || (len(cur) > 0 && size+n > MaxCallBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, p)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// put delivers one batch, retrying the entries EventBridge refused (and
// the whole batch after a failed call) with backoff until ctx's deadline.
// It returns the indexes of the events delivered.
func (e *Emitter) put(ctx context.Context, batch []pendingEntry) (delivered []int) {
	reason := ""
	for attempt := 0; len(batch) > 0; attempt++ {
		entries := make([]Entry, len(batch))
		for i, p := range batch {
			entries[i] = p.entry
		}
		results, err := e.API.PutEvents(ctx, entries)
		var retry []pendingEntry
		if err != nil {
			retry, reason = batch, err.Error()
		}
		for i, r := range results {
			if r.ErrorCode != "" {
				retry = append(retry, batch[i])
				reason = r.ErrorCode + ": " + r.ErrorMessage
			} else {
				delivered = append(delivered, batch[i].index)
			}
		}
		batch = retry
		if len(batch) == 0 {
			return delivered
		}
		wait := time.Duration(100<<min(attempt, 4)) * time.Millisecond
		if dl, _ := ctx.Deadline(); time.Until(dl) < wait {
			break
		}
		time.Sleep(wait)
	}
	for _, p := range batch {
		e.lost(ctx, p.entry.DetailType, p.entry.Detail, reason)
	}
	return delivered
}

// lost logs an undelivered event in full: the log line is its record.
func (e *Emitter) lost(ctx context.Context, detailType, detail, reason string) {
	if e.Log == nil {
		return
	}
	e.Log.ErrorContext(ctx, "event not delivered", "eventDeliveryFailed", 1, "bus", e.Bus, "source", Source,
		"detailType", detailType, "detail", json.RawMessage(detail), "reason", reason)
}
