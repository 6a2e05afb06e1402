// Package events puts lmtokens' lifecycle events on EventBridge: every
// change to a token, the warnings before cleanup acts, and each cleanup
// run's summary. An event that cannot be delivered never fails or undoes the
// change: it is retried within the invocation's time, then written to the
// log as one line carrying the whole event, so the log stays a complete
// audit trail. No event ever carries a key.
package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
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
	CleanupRunCompleted = "Cleanup Run Completed"
	// TokenRotated: a rotation promoted a new token's key to AWSCURRENT.
	TokenRotated = "API Token Rotated"
	// RotationFailed: a rotation's new key was refused; the rotation was
	// abandoned with AWSCURRENT untouched.
	RotationFailed = "API Token Rotation Failed"
)

// DetailTypes are every detail type, for the schemas.
var DetailTypes = []string{TokenCreated, TokenUpdated, TokenDeleted, TokenWillBeDisabled, TokenWillBeDeleted, CleanupRunCompleted, TokenRotated, RotationFailed}

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
	// Replaced is the token a rotation replaced.
	Replaced *Replaced `json:"replaced,omitempty"`
	// Error says why a rotation failed.
	Error string `json:"error,omitempty"`
	// VersionID is a rotation's secret version: one API Token Rotated per
	// version, whatever retries Secrets Manager makes.
	VersionID string `json:"versionId,omitempty"`
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
	// Timeout bounds the delivery of one batch, retries included
	// (default 3 s), within the caller's deadline.
	Timeout time.Duration
}

// Enabled reports whether events go anywhere.
func (e *Emitter) Enabled() bool { return e != nil && e.Bus != "" && e.API != nil }

// Limits of PutEvents.
const (
	maxEntries    = 10
	maxEntryBytes = 256 << 10
)

// Emit puts events, ten to a call, retrying failed entries with backoff.
// What still fails is logged, one line per event with the event in full,
// and counted; Emit returns how many were not delivered and never fails
// the caller.
func (e *Emitter) Emit(ctx context.Context, evs ...Event) (undelivered int) {
	if !e.Enabled() || len(evs) == 0 {
		return 0
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var pending []Entry
	for _, ev := range evs {
		detail, err := json.Marshal(ev.Detail)
		if err != nil || len(detail) > maxEntryBytes {
			e.lost(ctx, ev.DetailType, string(detail), "the detail cannot be encoded within 256 KB")
			undelivered++
			continue
		}
		pending = append(pending, Entry{Source: Source, DetailType: ev.DetailType, Detail: string(detail), EventBusName: e.Bus})
	}
	for start := 0; start < len(pending); start += maxEntries {
		undelivered += e.put(ctx, pending[start:min(start+maxEntries, len(pending))])
	}
	return undelivered
}

// put delivers one batch, retrying the entries EventBridge refused (and
// the whole batch after a failed call) with backoff within the timeout.
func (e *Emitter) put(ctx context.Context, batch []Entry) int {
	reason := ""
	for attempt := 0; len(batch) > 0; attempt++ {
		results, err := e.API.PutEvents(ctx, batch)
		var retry []Entry
		if err != nil {
			retry, reason = batch, err.Error()
		}
		for i, r := range results {
			if r.ErrorCode != "" {
				retry = append(retry, batch[i])
				reason = r.ErrorCode + ": " + r.ErrorMessage
			}
		}
		batch = retry
		if len(batch) == 0 {
			return 0
		}
		wait := time.Duration(100<<min(attempt, 4)) * time.Millisecond
		if dl, _ := ctx.Deadline(); time.Until(dl) < wait {
			break
		}
		time.Sleep(wait)
	}
	for _, entry := range batch {
		e.lost(ctx, entry.DetailType, entry.Detail, reason)
	}
	return len(batch)
}

// lost logs an undelivered event in full: the log line is its record.
func (e *Emitter) lost(ctx context.Context, detailType, detail, reason string) {
	if e.Log == nil {
		return
	}
	e.Log.ErrorContext(ctx, "event not delivered", "eventDeliveryFailed", 1, "bus", e.Bus, "source", Source,
		"detailType", detailType, "detail", json.RawMessage(detail), "reason", reason)
}

// NewFromEnv builds the emitter a function runs: the bus EVENT_BUS_NAME
// names (none: no events), reached at AWS_ENDPOINT_URL_EVENTBRIDGE (or
// AWS_ENDPOINT_URL, the SDK's own settings) or EventBridge's regional
// endpoint, with the function's credentials.
func NewFromEnv(env awsenv.Env, log *slog.Logger) *Emitter {
	bus := os.Getenv("EVENT_BUS_NAME")
	if bus == "" {
		return &Emitter{Log: log}
	}
	endpoint := awsenv.Endpoint("EVENTBRIDGE")
	if endpoint == "" {
		endpoint = "https://events." + env.Region + ".amazonaws.com"
	}
	return &Emitter{API: &Client{Endpoint: endpoint, Region: env.Region, Credentials: env.Credentials}, Bus: bus, Log: log}
}
