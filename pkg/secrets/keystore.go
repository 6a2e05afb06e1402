package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lmtokens/lmtokens/pkg/settings"
)

// DefaultPrefix is where created keys go unless TOKEN_SECRET_PREFIX says otherwise.
var DefaultPrefix = settings.SecretPrefix.Default

// Tag keys on every secret lmtokens writes.
const (
	TagManagedBy = "managed-by"
	TagAdminID   = "lmtokens:admin-id"
	TagAdminName = "lmtokens:admin-name"
	TagTokenID   = "lmtokens:token-id"
	TagAccessID  = "lmtokens:access-id"
	TagType      = "lmtokens:type"
	TagClaim     = "lmtokens:idempotency-claim"
	TagCreatedBy = "lmtokens:created-by"
	TagPortal    = "lmtokens:portal"
	// TagExpiresAt is a key's expiry (RFC 3339, UTC), for people and
	// inventories; its secret's value, which names it too, decides.
	TagExpiresAt = "lmtokens:expires-at"
	ManagedBy    = "lmtokens"
)

// MaxNameLength is the longest secret name Secrets Manager accepts.
const MaxNameLength = 512

// ValidName reports whether s is made of what Secrets Manager allows in a
// secret's name: 1 to 512 letters, digits and /_+=.@- characters. A prefix
// of created keys' names must pass it too.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLength {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@-", c)) {
			return false
		}
	}
	return true
}

// KeyStore keeps created keys in Secrets Manager, one secret per token
// named <prefix><adminId>/<tokenId>.
type KeyStore struct {
	API          API
	Prefix       string
	KMSKeyID     string // optional
	RecoveryDays int32  // recovery window of deletions, 7..30 (default 7)
	// Portal names the registered portal the keys belong to ("" for the
	// default portal): it tags every key's secret.
	Portal string
}

// StoredKey is the JSON value of a key's secret. For a bearer token the
// bearer string is the AccessKey.
type StoredKey struct {
	Company   string `json:"company"`
	AccessID  string `json:"accessId"`
	AccessKey string `json:"accessKey"`
	AdminID   int64  `json:"adminId"`
	TokenID   int64  `json:"tokenId"`
	Type      string `json:"type"`
	Note      string `json:"note"`
	CreatedOn int64  `json:"createdOn"`
	// CreatedBy is who asked lmtokens for the token (an IAM ARN, or the
	// invoker's kind).
	CreatedBy string `json:"createdBy,omitempty"`
	// Claim names the idempotency record of the create that stored the
	// key, deleted with it (a rotated version keeps it).
	Claim string `json:"claim,omitempty"`
	// ExpiresAt is when the token's lifetime ends (nil: it has none), and
	// LifetimeDays the lifetime it was given, which a rotation gives the
	// new token afresh.
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	LifetimeDays int        `json:"lifetimeDays,omitempty"`
}

// SecretRef names a stored secret.
type SecretRef struct {
	Name string `json:"name"`
	ARN  string `json:"arn,omitempty"`
	// DeletionDate is set when the secret was scheduled for deletion.
	DeletionDate *time.Time `json:"deletionDate,omitempty"`
	// WasScheduled says it had been scheduled for deletion before this call.
	WasScheduled bool `json:"-"`
	// Type is the token's type as the secret's tag records it (Lookup).
	Type string `json:"-"`
}

// StoreError says a key could not be stored; Err is the SDK's error.
type StoreError struct {
	Name string
	Err  error
}

func (e *StoreError) Error() string {
	return awsMessage("CreateSecret "+e.Name, e.Err)
}
func (e *StoreError) Unwrap() error { return e.Err }

// Name returns the secret name of a token's key.
func (k *KeyStore) Name(adminID, tokenID int64) string {
	return k.Prefix + strconv.FormatInt(adminID, 10) + "/" + strconv.FormatInt(tokenID, 10)
}

// Store creates the key's secret, tagged with the user (id and name), token
// id, access id and managed-by, encrypted with the KMS key when one is set. The request
// token is derived from the token, so the SDK's own retries are no-ops.
func (k *KeyStore) Store(ctx context.Context, key StoredKey, adminName, claim string) (SecretRef, error) {
	name := k.Name(key.AdminID, key.TokenID)
	key.Claim = claim
	value, err := json.Marshal(key)
	if err != nil {
		return SecretRef{}, &StoreError{Name: name, Err: err}
	}
	tags := []Tag{
		{Key: TagManagedBy, Value: ManagedBy},
		{Key: TagAdminID, Value: strconv.FormatInt(key.AdminID, 10)},
		{Key: TagTokenID, Value: strconv.FormatInt(key.TokenID, 10)},
		{Key: TagAccessID, Value: key.AccessID},
		{Key: TagType, Value: key.Type},
	}
	if name := tagValue(adminName); name != "" {
		tags = append(tags, Tag{Key: TagAdminName, Value: name})
	}
	if k.Portal != "" {
		tags = append(tags, Tag{Key: TagPortal, Value: k.Portal})
	}
	if key.ExpiresAt != nil {
		tags = append(tags, Tag{Key: TagExpiresAt, Value: key.ExpiresAt.UTC().Format(time.RFC3339)})
	}
	if by := tagValue(key.CreatedBy); by != "" {
		tags = append(tags, Tag{Key: TagCreatedBy, Value: by})
	}
	if claim != "" {
		tags = append(tags, Tag{Key: TagClaim, Value: claim})
	}
	in := CreateInput{
		Name:               name,
		Description:        fmt.Sprintf("LogicMonitor %s token %d of user %d (access id %s), created by lmtokens", key.Type, key.TokenID, key.AdminID, key.AccessID),
		Value:              string(value),
		Tags:               tags,
		ClientRequestToken: requestToken("key", name, key.AccessID),
	}
	if k.KMSKeyID != "" {
		in.KMSKeyID = k.KMSKeyID
	}
	arn, err := k.API.CreateSecret(ctx, in)
	if err != nil {
		return SecretRef{}, &StoreError{Name: name, Err: err}
	}
	return SecretRef{Name: name, ARN: arn}, nil
}

// Describe returns a stored key's secret, or nil when there is none.
func (k *KeyStore) Describe(ctx context.Context, name string) (*SecretRef, error) {
	desc, err := k.API.DescribeSecret(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	return &SecretRef{Name: name, ARN: desc.ARN, DeletionDate: desc.DeletedDate, WasScheduled: desc.DeletedDate != nil}, nil
}

// DescribeEventually is Describe for a secret that should exist: a read that
// does not see it yet (Secrets Manager's reads lag its writes) is repeated
// for about a second and a half before nil is believed.
func (k *KeyStore) DescribeEventually(ctx context.Context, name string) (*SecretRef, error) {
	desc, err := k.describeEventually(ctx, name)
	if err != nil || desc == nil {
		return nil, err
	}
	return &SecretRef{Name: name, ARN: desc.ARN, DeletionDate: desc.DeletedDate, WasScheduled: desc.DeletedDate != nil}, nil
}

func (k *KeyStore) describeEventually(ctx context.Context, name string) (*Secret, error) {
	for attempt := 0; ; attempt++ {
		desc, err := k.API.DescribeSecret(ctx, name)
		switch {
		case err == nil:
			return desc, nil
		case !isNotFound(err):
			return nil, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
		case attempt == 4:
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, &UnavailableError{Op: "DescribeSecret " + name, Err: ctx.Err()}
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
}

func (k *KeyStore) recoveryDays() int32 {
	if k.RecoveryDays == 0 {
		return 7
	}
	return k.RecoveryDays
}

// deleteSecret schedules a secret's deletion. It returns nil when there is
// no such secret, and already when it was scheduled before this call.
func (k *KeyStore) deleteSecret(ctx context.Context, name string) (ref *SecretRef, already bool, err error) {
	out, err := k.API.DeleteSecret(ctx, DeleteInput{
		SecretID:     name,
		RecoveryDays: int64(k.recoveryDays()),
	})
	switch {
	case err == nil:
		return &SecretRef{Name: name, ARN: out.ARN, DeletionDate: out.DeletionDate}, false, nil
	case isNotFound(err):
		return nil, false, nil
	case !isScheduledForDeletion(err):
		return nil, false, &UnavailableError{Op: "DeleteSecret " + name, Err: err}
	}
	desc, err := k.API.DescribeSecret(ctx, name)
	if err != nil {
		return nil, false, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	ref = &SecretRef{Name: name, ARN: desc.ARN, WasScheduled: true}
	if desc.DeletedDate != nil {
		d := desc.DeletedDate.Add(time.Duration(k.recoveryDays()) * 24 * time.Hour)
		ref.DeletionDate = &d
	}
	return ref, true, nil
}

func isNotFound(err error) bool {
	code, _ := serviceCode(err)
	return code == CodeNotFound
}

// requestToken derives a ClientRequestToken (32-64 characters) from parts.
func requestToken(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:48]
}

// tagValue makes s a valid tag value: at most 256 of the characters tags
// allow (letters, digits, spaces and _.:/=+-@), others replaced by '_', so
// that an unusual user name can never make the store fail.
func tagValue(s string) string {
	out := []rune{}
	for _, c := range s {
		if len(out) == 256 {
			break
		}
		if !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == ' ' || strings.ContainsRune("_.:/=+-@", c)) {
			c = '_'
		}
		out = append(out, c)
	}
	return string(out)
}

// IsKeyOf reports whether name is a key secret of this store's portal that
// belongs to user adminID: <prefix><adminId>/<tokenId>.
func (k *KeyStore) IsKeyOf(name string, adminID int64) bool {
	a, _, ok := k.parseKeyName(name)
	return ok && a == adminID
}

// TagMissingSince marks a key secret whose token LogicMonitor no longer
// has with when that was first found (RFC 3339): the delete stage schedules
// the secret's deletion once its grace has passed since.
const TagMissingSince = "lmtokens:token-missing-since"

// KeySecret is a key secret as the portal's listing shows it.
type KeySecret struct {
	Name, ARN string
	// AdminID is the user its name names; TokenID the token its tags
	// name (else its name): an index, which its value confirms.
	AdminID, TokenID int64
	// MissingSince is when its token was first found missing (zero: not
	// marked).
	MissingSince time.Time
	// ExpiresAt is its tag's expiry (zero: none): an index, which its
	// value confirms.
	ExpiresAt time.Time
	// Scheduled says it is scheduled for deletion: its key is no longer
	// kept (KeyIndex only).
	Scheduled bool
}

// KeySecrets lists the portal's live key secrets (<prefix><adminId>/<id>,
// nothing in its folders for claims, records or other portals).
func (k *KeyStore) KeySecrets(ctx context.Context) ([]KeySecret, error) {
	all, err := k.KeyIndex(ctx)
	return Live(all), err
}

// Live are the secrets of index not scheduled for deletion.
func Live(index []KeySecret) []KeySecret {
	var out []KeySecret
	for _, ks := range index {
		if !ks.Scheduled {
			out = append(out, ks)
		}
	}
	return out
}

// KeyIndex lists the portal's key secrets, live and scheduled for
// deletion (Scheduled), in one listing: by name and tags, an index that
// their values confirm.
func (k *KeyStore) KeyIndex(ctx context.Context) ([]KeySecret, error) {
	all, err := k.list(ctx, k.Prefix, true)
	if err != nil {
		return nil, err
	}
	var out []KeySecret
	for _, c := range all {
		admin, token, ok := k.parseKeyName(c.name)
		if !ok {
			continue
		}
		ks := KeySecret{Name: c.name, ARN: c.arn, AdminID: admin, TokenID: token, Scheduled: c.deleted != nil}
		if v, ok := tagOf(c.tags, TagTokenID); ok {
			if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
				ks.TokenID = id
			}
		}
		if v, ok := tagOf(c.tags, TagMissingSince); ok {
			ks.MissingSince, _ = time.Parse(time.RFC3339, v)
		}
		if v, ok := tagOf(c.tags, TagExpiresAt); ok {
			ks.ExpiresAt, _ = time.Parse(time.RFC3339, v)
		}
		out = append(out, ks)
	}
	return out, nil
}

// Expiries are the expiries the portal's live key secrets' tags give, by
// token id: one listing of the secrets that have one. An index for showing
// them; what acts on an expiry reads the value.
func (k *KeyStore) Expiries(ctx context.Context) (map[int64]time.Time, error) {
	all, err := k.list(ctx, k.Prefix, false, Filter{Key: FilterTagKey, Values: []string{TagExpiresAt}})
	if err != nil {
		return nil, err
	}
	out := map[int64]time.Time{}
	for _, c := range all {
		_, token, ok := k.parseKeyName(c.name)
		v, tagged := tagOf(c.tags, TagExpiresAt)
		if !ok || !tagged || c.deleted != nil {
			continue
		}
		if id, found := tagOf(c.tags, TagTokenID); found {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
				token = n
			}
		}
		if at, err := time.Parse(time.RFC3339, v); err == nil {
			out[token] = at.UTC()
		}
	}
	return out, nil
}

// parseKeyName reads <prefix><adminId>/<tokenId>.
func (k *KeyStore) parseKeyName(name string) (adminID, tokenID int64, ok bool) {
	rest, found := strings.CutPrefix(name, k.Prefix)
	a, t, two := strings.Cut(rest, "/")
	if !found || !two {
		return 0, 0, false
	}
	adminID, err1 := strconv.ParseInt(a, 10, 64)
	tokenID, err2 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil || adminID <= 0 || tokenID <= 0 || a != strconv.FormatInt(adminID, 10) || t != strconv.FormatInt(tokenID, 10) {
		return 0, 0, false
	}
	return adminID, tokenID, true
}

// Current reads what a key secret holds now (nil when it holds no lmtokens
// key, or there is no such live secret).
func (k *KeyStore) Current(ctx context.Context, name string) (*Holder, error) {
	c, err := k.readCurrent(ctx, name, false)
	if err != nil || !c.found || c.scheduled || c.key == nil {
		return nil, err
	}
	return &Holder{Name: name, ARN: c.arn, Key: *c.key}, nil
}

// MarkMissing tags a key secret with when its token was first found
// missing; ClearMissing takes the mark off (the token was found after all).
func (k *KeyStore) MarkMissing(ctx context.Context, name string, since time.Time) error {
	err := k.API.TagResource(ctx, name, []Tag{{Key: TagMissingSince, Value: since.UTC().Format(time.RFC3339)}})
	if err != nil {
		return &UnavailableError{Op: "TagResource " + name, Err: err}
	}
	return nil
}

// ClearMissing takes a MarkMissing mark off.
func (k *KeyStore) ClearMissing(ctx context.Context, name string) error {
	err := k.API.UntagResource(ctx, name, []string{TagMissingSince})
	if err != nil {
		return &UnavailableError{Op: "UntagResource " + name, Err: err}
	}
	return nil
}
