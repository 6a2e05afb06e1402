package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Claims make create requests idempotent without another AWS service.
//
// A request with an idempotency key holds a claim: a small secret named
// <prefix>idempotency/<adminId>/<hash of the key> whose JSON value says how
// far the request got. It is written before each step that changes
// LogicMonitor (write-ahead), so whatever instance dies or whatever answer
// is lost, the claim tells a retry what may exist and must be checked.
//
// Every change of a claim is a compare-and-set: PutSecretValue with a
// ClientRequestToken derived from the version it replaces. Secrets Manager
// accepts a token once; the same token with another value fails with
// ResourceExistsException. Two instances that read the same version and
// both try to take the claim over derive the same token but write different
// values (each names its owner), so exactly one wins, and the loser learns
// it lost. An SDK retry of one's own write repeats the same token and value
// and is a no-op.
//
// The claim holds the answer (never the key). It is tagged onto the key's
// secret and deleted with it; a key whose claim is scheduled for deletion is
// retired (ErrKeyRetired).
type Claims struct {
	API    API
	Prefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Claim states.
const (
	// ClaimPosting: the holder may be creating the token in LogicMonitor.
	ClaimPosting = "posting"
	// ClaimCreated: the token exists (TokenID) and its key is being stored
	// in SecretName.
	ClaimCreated = "created"
	// ClaimDone: the answer is final and replayed to every retry.
	ClaimDone = "done"
	// ClaimFree: the request made nothing; the next request takes it.
	ClaimFree = "free"
	// ClaimUnresolved: an earlier attempt may have left a token (made
	// since Since, or TokenID); the next request must check it first.
	ClaimUnresolved = "unresolved"
	// ClaimAnnounced: a rotation's promotion was announced (its event
	// sent); a retried finish sends nothing more.
	ClaimAnnounced = "announced"
)

// StaleAfter is how long a claim may stand in posting or created before a
// retry takes it over: longer than any create invocation can run (the
// create function's timeout is 25 s).
const StaleAfter = 2 * time.Minute

// ClaimDoc is a claim's JSON value.
type ClaimDoc struct {
	State       string `json:"state"`
	Fingerprint string `json:"fingerprint"`
	// Owner names the invocation that wrote it: the values of two writers
	// always differ, which the compare-and-set relies on.
	Owner string `json:"owner,omitempty"`
	// Updated is when this state was written (Unix milliseconds).
	Updated int64 `json:"updated"`
	// Since is when the earliest create attempt of this claim may have
	// reached LogicMonitor (Unix seconds); reconciliation looks for tokens
	// made from then on.
	Since int64 `json:"since,omitempty"`
	// Note is the note the claim's token is made with, fixed by its first
	// attempt: a retry looks for a lost token by it, whatever the note is
	// by then (a rotation copies the note of the token it replaces).
	Note string `json:"note,omitempty"`
	// TokenID and SecretName name the token made and where its key goes.
	TokenID    int64  `json:"tokenId,omitempty"`
	SecretName string `json:"secretName,omitempty"`
	// Status and Response are the answer: the final one (done) or the one
	// the holder will give once the key is stored (created).
	Status   int             `json:"status,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
}

// Stale reports whether a posting or created claim was left behind by an
// invocation that can no longer be running.
func (d ClaimDoc) Stale(now time.Time) bool {
	return now.Sub(time.UnixMilli(d.Updated)) > StaleAfter
}

// Held is a claim this invocation holds. Previous is what the claim said
// before this invocation took it: when it is not nil, an earlier attempt may
// have left a token that must be dealt with before anything else.
type Held struct {
	c        *Claims
	name     string
	version  string
	owner    string
	doc      ClaimDoc
	Previous *ClaimDoc
}

// Since is when this claim's earliest attempt may have reached LogicMonitor.
func (h *Held) Since() time.Time { return time.Unix(h.doc.Since, 0) }

// Name is the claim secret's name.
func (h *Held) Name() string { return h.name }

// Note is the note to make the token with: the one the claim's first
// attempt that may have reached LogicMonitor used.
func (h *Held) Note() string { return h.doc.Note }

// Replay is an earlier final answer to repeat.
type Replay struct {
	Status     int
	Response   json.RawMessage
	SecretName string
}

// Errors of Acquire.
var (
	// ErrInProgress says another invocation is working on the same key.
	ErrInProgress = errors.New("a request with this idempotency key is still in progress")
	// ErrKeyReused says the key was used before for a different request.
	ErrKeyReused = errors.New("this idempotency key was used for a different request")
	// ErrKeyRetired says the key's token was deleted and its record is
	// scheduled for deletion with it: the key cannot be used again.
	ErrKeyRetired = errors.New("the token this idempotency key created was deleted")
	// ErrClaimLost says another invocation took the claim over.
	ErrClaimLost = errors.New("the idempotency claim was taken over by another request")
)

// TagFingerprint on a claim secret holds the request's fingerprint, which
// DescribeSecret still shows once the claim is scheduled for deletion.
const TagFingerprint = "lmtokens:request-hash"

// Name returns the claim secret's name.
func (c *Claims) Name(adminID int64, key string) string {
	h := sha256.Sum256([]byte(key))
	return c.Prefix + ClaimPath + strconv.FormatInt(adminID, 10) + "/" + hex.EncodeToString(h[:20])
}

// ClaimPath is where claims live under the prefix.
const ClaimPath = "idempotency/"

// MaxClaimNameSuffix is the longest name a claim adds to the prefix:
// "idempotency/" + a 19-digit id + "/" + 40 hex digits.
const MaxClaimNameSuffix = len(ClaimPath) + 19 + 1 + 40

func (c *Claims) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Acquire claims key for a request whose content hashes to fingerprint, on
// behalf of owner (unique per invocation), to make a token with note (a
// claim taken over keeps its first attempt's note: see Held.Note). It returns the held claim, or a
// Replay when the request already finished, or ErrInProgress, ErrKeyReused,
// ErrKeyRetired, or an *UnavailableError.
func (c *Claims) Acquire(ctx context.Context, adminID int64, key, fingerprint, owner, note string) (*Held, *Replay, error) {
	name := c.Name(adminID, key)
	now := c.now()
	doc := ClaimDoc{State: ClaimPosting, Fingerprint: fingerprint, Owner: owner, Updated: now.UnixMilli(), Since: now.Unix(), Note: note}
	value, _ := json.Marshal(doc)
	token := requestToken("claim", name, owner)
	_, err := c.API.CreateSecret(ctx, CreateInput{
		Name:               name,
		Description:        "lmtokens idempotency record of a create request; holds no key",
		Value:              string(value),
		ClientRequestToken: token,
		Tags: []Tag{
			{Key: TagManagedBy, Value: ManagedBy},
			{Key: TagAdminID, Value: strconv.FormatInt(adminID, 10)},
			{Key: TagFingerprint, Value: fingerprint},
		},
	})
	if err == nil {
		return &Held{c: c, name: name, version: token, owner: owner, doc: doc}, nil, nil
	}
	switch {
	case isScheduledForDeletion(err):
		return nil, nil, c.retired(ctx, name, fingerprint)
	case !isVersionConflict(err):
		return nil, nil, &UnavailableError{Op: "CreateSecret " + name, Err: err}
	}
	cur, version, err := c.read(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if cur == nil {
		// Created an instant ago and not yet visible to reads.
		return nil, nil, ErrInProgress
	}
	if cur.Owner == owner && version == token {
		// Our own CreateSecret, whose first answer was lost.
		return &Held{c: c, name: name, version: token, owner: owner, doc: doc}, nil, nil
	}
	if cur.Fingerprint != fingerprint {
		return nil, nil, ErrKeyReused
	}
	switch cur.State {
	case ClaimDone:
		return nil, &Replay{Status: cur.Status, Response: cur.Response, SecretName: cur.SecretName}, nil
	case ClaimCreated:
		// The token exists; once its key is stored the request has in
		// effect succeeded, even if its holder never recorded the end.
		live, err := c.secretLive(ctx, cur.SecretName)
		if err != nil {
			return nil, nil, err
		}
		if live {
			h := &Held{c: c, name: name, version: version, owner: owner, doc: *cur}
			_ = h.RecordDone(ctx, cur.Status, cur.Response, cur.SecretName) // the next retry finds it done, or repeats this
			return nil, &Replay{Status: cur.Status, Response: cur.Response, SecretName: cur.SecretName}, nil
		}
		if !cur.Stale(now) {
			return nil, nil, ErrInProgress
		}
	case ClaimPosting:
		if !cur.Stale(now) {
			return nil, nil, ErrInProgress
		}
	}
	// Free, unresolved or stale: take it over, keeping the earliest time an
	// attempt may have reached LogicMonitor.
	next := ClaimDoc{State: ClaimPosting, Fingerprint: fingerprint, Owner: owner, Updated: now.UnixMilli(), Since: now.Unix(), Note: note}
	prev := *cur
	if cur.State != ClaimFree && cur.Since != 0 {
		next.Since = cur.Since
		next.TokenID, next.SecretName = cur.TokenID, cur.SecretName
		if cur.Note != "" {
			next.Note = cur.Note
		}
	}
	h := &Held{c: c, name: name, version: version, owner: owner, doc: *cur}
	if err := h.put(ctx, next); err != nil {
		if errors.Is(err, ErrClaimLost) {
			return nil, nil, ErrInProgress
		}
		return nil, nil, err
	}
	if prev.State != ClaimFree {
		h.Previous = &prev
	}
	return h, nil, nil
}

// read returns a claim's current value and version (nil when not found).
func (c *Claims) read(ctx context.Context, name string) (*ClaimDoc, string, error) {
	out, err := c.API.GetSecretValue(ctx, GetInput{SecretID: name})
	if err != nil {
		if isNotFound(err) {
			return nil, "", nil
		}
		return nil, "", &UnavailableError{Op: "GetSecretValue " + name, Err: err}
	}
	var doc ClaimDoc
	if err := json.Unmarshal([]byte(str(out.String)), &doc); err != nil || doc.State == "" {
		return nil, "", &UnavailableError{Op: "GetSecretValue " + name, Err: errors.New("the idempotency record is not lmtokens' JSON")}
	}
	return &doc, out.VersionID, nil
}

// secretLive reports whether a secret exists and is not scheduled for deletion.
func (c *Claims) secretLive(ctx context.Context, name string) (bool, error) {
	if name == "" {
		return false, nil
	}
	desc, err := c.API.DescribeSecret(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	return desc.DeletedDate == nil, nil
}

// retired tells a retired key from a reused one by the fingerprint tag a
// scheduled-for-deletion claim still shows.
func (c *Claims) retired(ctx context.Context, name, fingerprint string) error {
	desc, err := c.API.DescribeSecret(ctx, name)
	if err != nil {
		return &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	for _, t := range desc.Tags {
		if t.Key == TagFingerprint && t.Value != fingerprint {
			return ErrKeyReused
		}
	}
	return ErrKeyRetired
}

// RecordCreated records, before the key is stored, that token tokenID exists and
// that its key goes to secretName, with the answer to give.
func (h *Held) RecordCreated(ctx context.Context, tokenID int64, secretName string, status int, response json.RawMessage) error {
	d := h.doc
	d.State, d.TokenID, d.SecretName, d.Status, d.Response = ClaimCreated, tokenID, secretName, status, response
	return h.put(ctx, d)
}

// RecordDone records the final answer. It carries no owner: instances that
// finish the same claim write the same value.
func (h *Held) RecordDone(ctx context.Context, status int, response json.RawMessage, secretName string) error {
	return h.put(ctx, ClaimDoc{State: ClaimDone, Fingerprint: h.doc.Fingerprint, Status: status, Response: response, SecretName: secretName, TokenID: h.doc.TokenID})
}

// Release frees the claim: the request made nothing, so a retry runs anew.
func (h *Held) Release(ctx context.Context) error {
	return h.put(ctx, ClaimDoc{State: ClaimFree, Fingerprint: h.doc.Fingerprint, Owner: h.owner, Updated: h.c.now().UnixMilli()})
}

// RecordUnresolved records that a token may be left (made since since, or
// tokenID): the next request with the key checks before it creates.
func (h *Held) RecordUnresolved(ctx context.Context, since time.Time, tokenID int64) error {
	return h.put(ctx, ClaimDoc{State: ClaimUnresolved, Fingerprint: h.doc.Fingerprint, Owner: h.owner, Updated: h.c.now().UnixMilli(), Since: since.Unix(), TokenID: tokenID, Note: h.doc.Note})
}

// put replaces the claim's value if it still is the version this holder
// last saw (see Claims).
func (h *Held) put(ctx context.Context, d ClaimDoc) error {
	if d.Updated == 0 && d.State != ClaimDone {
		d.Updated = h.c.now().UnixMilli()
	}
	if d.Owner == "" && d.State != ClaimDone {
		d.Owner = h.owner
	}
	value, _ := json.Marshal(d)
	token := requestToken("claim-next", h.name, h.version)
	err := h.c.API.PutSecretValue(ctx, PutInput{
		SecretID: h.name, Value: string(value), ClientRequestToken: token,
	})
	if err != nil {
		if isVersionConflict(err) {
			return ErrClaimLost
		}
		return &UnavailableError{Op: "PutSecretValue " + h.name, Err: err}
	}
	h.version, h.doc = token, d
	return nil
}

// isVersionConflict reports Secrets Manager's refusal to change an existing
// version: the compare-and-set lost.
func isVersionConflict(err error) bool {
	code, _ := serviceCode(err)
	return code == CodeExists
}

// isScheduledForDeletion reports the refusal of an operation on a secret
// that is scheduled for deletion.
func isScheduledForDeletion(err error) bool {
	code, msg := serviceCode(err)
	return code == CodeInvalidRequest && strings.Contains(strings.ToLower(msg), "deletion")
}

// Forget deletes the claim of key at once: a rotation's claim, once the
// rotation has ended (a retried step then finds the version's stage moved
// and does nothing).
func (c *Claims) Forget(ctx context.Context, adminID int64, key string) error {
	return forceDelete(ctx, c.API, c.Name(adminID, key))
}

// forceDelete deletes a secret that holds no key at once, without a
// recovery window; one already gone or going is no error.
func forceDelete(ctx context.Context, api API, name string) error {
	_, err := api.DeleteSecret(ctx, DeleteInput{SecretID: name, Force: true})
	if err == nil || isNotFound(err) || isScheduledForDeletion(err) {
		return nil
	}
	return &UnavailableError{Op: "DeleteSecret " + name, Err: err}
}

// Doc returns the value of key's claim (nil when there is none, or it is
// scheduled for deletion).
func (c *Claims) Doc(ctx context.Context, adminID int64, key string) (*ClaimDoc, error) {
	doc, _, err := c.read(ctx, c.Name(adminID, key))
	if isScheduledForDeletion(err) {
		return nil, nil
	}
	return doc, err
}

// Announce marks key's claim announced, once: of callers racing on the
// same claim exactly one wins (a compare-and-set, see Claims); a claim
// announced already, or gone (deleted once announced), gives false to all.
// The caller that wins sends the announcement.
func (c *Claims) Announce(ctx context.Context, adminID int64, key, owner string) (bool, error) {
	name := c.Name(adminID, key)
	doc, version, err := c.read(ctx, name)
	if isScheduledForDeletion(err) {
		return false, nil
	}
	if err != nil || doc == nil || doc.State == ClaimAnnounced {
		return false, err
	}
	h := &Held{c: c, name: name, version: version, owner: owner, doc: *doc}
	next := *doc
	next.State, next.Owner, next.Updated = ClaimAnnounced, owner, 0
	switch err := h.put(ctx, next); {
	case errors.Is(err, ErrClaimLost):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Others returns the claims of user adminID's requests but the one named
// except, keyed by name: a lost create's reconciliation must not take a
// token another request is making or has made.
func (c *Claims) Others(ctx context.Context, adminID int64, except string) (map[string]ClaimDoc, error) {
	prefix := c.Prefix + ClaimPath + strconv.FormatInt(adminID, 10) + "/"
	in := ListInput{Filters: []Filter{{Key: FilterName, Values: []string{prefix}}}, MaxResults: 100}
	out := map[string]ClaimDoc{}
	for {
		page, err := c.API.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + prefix, Err: err}
		}
		for _, sec := range page.Secrets {
			name := sec.Name
			if !strings.HasPrefix(name, prefix) || name == except || sec.DeletedDate != nil {
				continue
			}
			doc, _, err := c.read(ctx, name)
			if isScheduledForDeletion(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if doc != nil {
				out[name] = *doc
			}
		}
		if page.NextToken == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}
