package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// DefaultPrefix is where created keys go unless TOKEN_SECRET_PREFIX says otherwise.
const DefaultPrefix = "logicmonitor/api-tokens/"

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
	value, err := json.Marshal(key)
	if err != nil {
		return SecretRef{}, &StoreError{Name: name, Err: err}
	}
	tags := []types.Tag{
		{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)},
		{Key: aws.String(TagAdminID), Value: aws.String(strconv.FormatInt(key.AdminID, 10))},
		{Key: aws.String(TagTokenID), Value: aws.String(strconv.FormatInt(key.TokenID, 10))},
		{Key: aws.String(TagAccessID), Value: aws.String(key.AccessID)},
		{Key: aws.String(TagType), Value: aws.String(key.Type)},
	}
	if name := tagValue(adminName); name != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagAdminName), Value: aws.String(name)})
	}
	if k.Portal != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagPortal), Value: aws.String(k.Portal)})
	}
	if by := tagValue(key.CreatedBy); by != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagCreatedBy), Value: aws.String(by)})
	}
	if claim != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagClaim), Value: aws.String(claim)})
	}
	in := &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		Description:        aws.String(fmt.Sprintf("LogicMonitor %s token %d of user %d (access id %s), created by lmtokens", key.Type, key.TokenID, key.AdminID, key.AccessID)),
		SecretString:       aws.String(string(value)),
		Tags:               tags,
		ClientRequestToken: aws.String(requestToken("key", name, key.AccessID)),
	}
	if k.KMSKeyID != "" {
		in.KmsKeyId = aws.String(k.KMSKeyID)
	}
	out, err := k.API.CreateSecret(ctx, in)
	if err != nil {
		return SecretRef{}, &StoreError{Name: name, Err: err}
	}
	return SecretRef{Name: name, ARN: aws.ToString(out.ARN)}, nil
}

// Describe returns a stored key's secret, or nil when there is none.
func (k *KeyStore) Describe(ctx context.Context, name string) (*SecretRef, error) {
	desc, err := k.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	return &SecretRef{Name: name, ARN: aws.ToString(desc.ARN), DeletionDate: desc.DeletedDate, WasScheduled: desc.DeletedDate != nil}, nil
}

// ScheduleDeletion schedules the deletion of a token's secret, and of the
// idempotency claim that created it, with the recovery window. A token with
// no stored secret gives a nil ref and no error.
//
// It deletes first and reads after: DeleteSecret acts on Secrets Manager's
// latest state, while a read just after the key was stored may not see it
// yet. A secret that was already scheduled (an earlier, interrupted attempt)
// still has its claim followed, so a retry always finishes the job;
// ref.WasScheduled is true only when this call found nothing left to do.
//
// A rotated secret keeps its name and holds another token's key: the
// secret named for tokenID is this token's only while its token tag says so,
// and a token rotated in is found by that tag (see Lookup).
func (k *KeyStore) ScheduleDeletion(ctx context.Context, adminID, tokenID int64) (*SecretRef, error) {
	loc, rotatedOn, err := k.locate(ctx, adminID, tokenID)
	if err != nil || rotatedOn {
		return nil, err
	}
	name := k.Name(adminID, tokenID)
	if loc != nil {
		name = loc.name
	}
	ref, already, err := k.deleteSecret(ctx, name)
	if err != nil || ref == nil {
		return ref, err
	}
	var claim string
	if loc != nil {
		claim = k.claimTag(loc.tags) // seen already: no second read
	} else if claim, err = k.claimOf(ctx, name); err != nil {
		return nil, err
	}
	claimAlready := true
	if claim != "" {
		cref, was, err := k.deleteSecret(ctx, claim)
		if err != nil {
			return nil, err
		}
		claimAlready = cref == nil || was
	}
	ref.WasScheduled = already && claimAlready
	return ref, nil
}

// located is a key's secret as DescribeSecret or ListSecrets showed it.
type located struct {
	name, arn string
	deleted   *time.Time
	tags      []types.Tag
}

// locate finds the secret that holds token tokenID's key. The secret named
// for the token is it unless its token tag names another token; otherwise
// a secret whose tags name this token (rotated in) is. It returns nil when
// no secret shows itself, and rotatedOn when the secret named for the token
// holds another token's key and none holds this one's.
func (k *KeyStore) locate(ctx context.Context, adminID, tokenID int64) (loc *located, rotatedOn bool, err error) {
	name := k.Name(adminID, tokenID)
	desc, err := k.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	switch {
	case err == nil:
		if t, ok := tagOf(desc.Tags, TagTokenID); !ok || t == strconv.FormatInt(tokenID, 10) {
			return &located{name: name, arn: aws.ToString(desc.ARN), deleted: desc.DeletedDate, tags: desc.Tags}, false, nil
		}
		loc, err := k.byTag(ctx, adminID, tokenID)
		return loc, loc == nil && err == nil, err
	case !isNotFound(err):
		return nil, false, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	// Not visible by name (yet, or at all).
	loc, err = k.byTag(ctx, adminID, tokenID)
	return loc, false, err
}

// byTag finds the key's secret of a token rotated into another token's
// secret: its admin and token tags name it.
func (k *KeyStore) byTag(ctx context.Context, adminID, tokenID int64) (*located, error) {
	in := &secretsmanager.ListSecretsInput{
		Filters: []types.Filter{
			{Key: types.FilterNameStringTypeName, Values: []string{k.Prefix}},
			{Key: types.FilterNameStringTypeTagKey, Values: []string{TagTokenID}},
			{Key: types.FilterNameStringTypeTagValue, Values: []string{strconv.FormatInt(tokenID, 10)}},
		},
		IncludePlannedDeletion: aws.Bool(true),
	}
	for {
		out, err := k.API.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + k.Prefix, Err: err}
		}
		for _, sec := range out.SecretList {
			name := aws.ToString(sec.Name)
			a, _ := tagOf(sec.Tags, TagAdminID)
			t, _ := tagOf(sec.Tags, TagTokenID)
			p, _ := tagOf(sec.Tags, TagPortal)
			// Filters are prefix matches: check each tag exactly.
			if strings.HasPrefix(name, k.Prefix) && a == strconv.FormatInt(adminID, 10) && t == strconv.FormatInt(tokenID, 10) && p == k.Portal {
				return &located{name: name, arn: aws.ToString(sec.ARN), deleted: sec.DeletedDate, tags: sec.Tags}, nil
			}
		}
		if out.NextToken == nil {
			return nil, nil
		}
		in.NextToken = out.NextToken
	}
}

// Lookup returns the secret that holds token tokenID's key now (nil for
// none), following rotations as ScheduleDeletion does, with the token's
// type as the secret's tag records it.
func (k *KeyStore) Lookup(ctx context.Context, adminID, tokenID int64) (*SecretRef, error) {
	loc, _, err := k.locate(ctx, adminID, tokenID)
	if err != nil || loc == nil {
		return nil, err
	}
	typ, _ := tagOf(loc.tags, TagType)
	return &SecretRef{Name: loc.name, ARN: loc.arn, DeletionDate: loc.deleted, WasScheduled: loc.deleted != nil, Type: typ}, nil
}

func tagOf(tags []types.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

// claimOf reads the idempotency-claim tag of a key's secret, which is known
// to exist.
func (k *KeyStore) claimOf(ctx context.Context, name string) (string, error) {
	desc, err := k.describeEventually(ctx, name)
	if err != nil || desc == nil {
		return "", err
	}
	return k.claimTag(desc.Tags), nil
}

// claimTag is the idempotency claim a key's secret names ("" for none).
func (k *KeyStore) claimTag(tags []types.Tag) string {
	if c, _ := tagOf(tags, TagClaim); strings.HasPrefix(c, k.Prefix+ClaimPath) {
		return c
	}
	return ""
}

// DescribeEventually is Describe for a secret that should exist: a read that
// does not see it yet (Secrets Manager's reads lag its writes) is repeated
// for about a second and a half before nil is believed.
func (k *KeyStore) DescribeEventually(ctx context.Context, name string) (*SecretRef, error) {
	desc, err := k.describeEventually(ctx, name)
	if err != nil || desc == nil {
		return nil, err
	}
	return &SecretRef{Name: name, ARN: aws.ToString(desc.ARN), DeletionDate: desc.DeletedDate, WasScheduled: desc.DeletedDate != nil}, nil
}

func (k *KeyStore) describeEventually(ctx context.Context, name string) (*secretsmanager.DescribeSecretOutput, error) {
	for attempt := 0; ; attempt++ {
		desc, err := k.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
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
	out, err := k.API.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:             aws.String(name),
		RecoveryWindowInDays: aws.Int64(int64(k.recoveryDays())),
	})
	switch {
	case err == nil:
		return &SecretRef{Name: name, ARN: aws.ToString(out.ARN), DeletionDate: out.DeletionDate}, false, nil
	case isNotFound(err):
		return nil, false, nil
	case !isScheduledForDeletion(err):
		return nil, false, &UnavailableError{Op: "DeleteSecret " + name, Err: err}
	}
	desc, err := k.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		return nil, false, &UnavailableError{Op: "DescribeSecret " + name, Err: err}
	}
	ref = &SecretRef{Name: name, ARN: aws.ToString(desc.ARN), WasScheduled: true}
	if desc.DeletedDate != nil {
		d := desc.DeletedDate.Add(time.Duration(k.recoveryDays()) * 24 * time.Hour)
		ref.DeletionDate = &d
	}
	return ref, true, nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
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
