package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RetirePath is where rotated-out records live under a portal's prefix.
const RetirePath = "rotated-out/"

// Retirement is the record a rotation leaves for the token it replaced: the
// old token stays enabled until DisableAt (consumers that cached its key
// keep working), is disabled then, and deleted at DeleteAt. The cleanup
// stages carry it out. It holds no key.
type Retirement struct {
	AdminID  int64  `json:"adminId"`
	TokenID  int64  `json:"tokenId"`
	AccessID string `json:"accessId,omitempty"`
	// Type is the token's type ("" in older records): its re-read then
	// asks for that type alone.
	Type string `json:"type,omitempty"`
	// Secret is the secret the token was rotated out of, and FromVersion
	// the version that held its key: the token is retired only once that
	// version is no longer AWSCURRENT.
	Secret      string `json:"secret"`
	FromVersion string `json:"fromVersion"`
	// ReplacedBy is the token that took its place.
	ReplacedBy int64     `json:"replacedBy"`
	RotatedAt  time.Time `json:"rotatedAt"`
	DisableAt  time.Time `json:"disableAt"`
	DeleteAt   time.Time `json:"deleteAt"`
	// Record is the record's own secret name (not stored in it).
	Record string `json:"-"`
}

// Complete reports what a decision about the record needs: a record missing
// any of it is skipped, never acted on.
func (r Retirement) Complete() bool {
	return r.AdminID > 0 && r.TokenID > 0 && r.Secret != "" && r.FromVersion != "" && r.ReplacedBy > 0 &&
		r.ReplacedBy != r.TokenID && !r.DisableAt.IsZero() && !r.DeleteAt.IsZero() && !r.DeleteAt.Before(r.DisableAt)
}

// Retirements keeps the rotated-out records of one portal.
type Retirements struct {
	API    API
	Prefix string // the portal's key prefix
}

// Name returns the record's secret name.
func (rs Retirements) Name(adminID, tokenID int64) string {
	return rs.Prefix + RetirePath + strconv.FormatInt(adminID, 10) + "/" + strconv.FormatInt(tokenID, 10)
}

// idsOf reads the user and token a record's name gives (0, 0 for none).
func (rs Retirements) idsOf(name string) (adminID, tokenID int64) {
	rest, _ := strings.CutPrefix(name, rs.Prefix+RetirePath)
	a, t, _ := strings.Cut(rest, "/")
	adminID, err1 := strconv.ParseInt(a, 10, 64)
	tokenID, err2 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil || rs.Name(adminID, tokenID) != name {
		return 0, 0
	}
	return adminID, tokenID
}

// Put writes the record once: a retried rotation step finds it there and
// keeps the first one (its dates stand).
func (rs Retirements) Put(ctx context.Context, r Retirement) error {
	name := rs.Name(r.AdminID, r.TokenID)
	value, _ := json.Marshal(r)
	_, err := rs.API.CreateSecret(ctx, CreateInput{
		Name:               name,
		Description:        fmt.Sprintf("lmtokens: token %d of user %d was rotated out of %s; retired by the cleanup stages; holds no key", r.TokenID, r.AdminID, r.Secret),
		Value:              string(value),
		ClientRequestToken: requestToken("retire", name, r.FromVersion),
		Tags: []Tag{
			{Key: TagManagedBy, Value: ManagedBy},
			{Key: TagAdminID, Value: strconv.FormatInt(r.AdminID, 10)},
		},
	})
	if err == nil || isVersionConflict(err) {
		return nil
	}
	if isScheduledForDeletion(err) {
		return nil // retired already
	}
	return &UnavailableError{Op: "CreateSecret " + name, Err: err}
}

// Get reads the record of token tokenID of user adminID (nil: none).
func (rs Retirements) Get(ctx context.Context, adminID, tokenID int64) (*Retirement, error) {
	name := rs.Name(adminID, tokenID)
	got, err := rs.API.GetSecretValue(ctx, GetInput{SecretID: name})
	if err != nil {
		if isNotFound(err) || isScheduledForDeletion(err) {
			return nil, nil
		}
		return nil, &UnavailableError{Op: "GetSecretValue " + name, Err: err}
	}
	var r Retirement
	if json.Unmarshal([]byte(str(got.String)), &r) != nil || rs.Name(r.AdminID, r.TokenID) != name {
		return nil, nil
	}
	r.Record = name
	return &r, nil
}

// List returns every live record; one whose value cannot be read as a
// record comes back with only Record set (incomplete: skipped).
func (rs Retirements) List(ctx context.Context) ([]Retirement, error) {
	prefix := rs.Prefix + RetirePath
	in := ListInput{Filters: []Filter{{Key: FilterName, Values: []string{prefix}}}}
	var out []Retirement
	for {
		page, err := rs.API.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + prefix, Err: err}
		}
		for _, sec := range page.Secrets {
			name := sec.Name
			if sec.DeletedDate != nil || len(name) <= len(prefix) || name[:len(prefix)] != prefix {
				continue // scheduled for deletion, or a name the prefix filter let through loosely
			}
			got, err := rs.API.GetSecretValue(ctx, GetInput{SecretID: name})
			if err != nil {
				if isNotFound(err) || isScheduledForDeletion(err) {
					continue
				}
				return nil, &UnavailableError{Op: "GetSecretValue " + name, Err: err}
			}
			var r Retirement
			if json.Unmarshal([]byte(str(got.String)), &r) != nil || rs.Name(r.AdminID, r.TokenID) != name {
				// Unreadable: only the ids its name gives.
				r = Retirement{}
				r.AdminID, r.TokenID = rs.idsOf(name)
			}
			r.Record = name
			out = append(out, r)
		}
		if page.NextToken == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// Remove deletes a record whose token is retired (at once: it holds no
// key, and a retry of the rotation step that wrote it finds the secret's
// stage moved and writes nothing).
func (rs Retirements) Remove(ctx context.Context, record string) error {
	return forceDelete(ctx, rs.API, record)
}

// ErrStillCurrent says a record's old key is still the secret's AWSCURRENT
// (or AWSPENDING) version: its rotation did not finish, and the token must
// stay.
var ErrStillCurrent = errors.New("the version that held its key is still AWSCURRENT: the rotation did not finish")

// UnverifiedError says a rotated-out record could not be proven against
// Secrets Manager: lmtokens did not rotate that token out (or can no longer
// show it did), so the record is reported and left for a person.
type UnverifiedError struct{ Reason string }

func (e *UnverifiedError) Error() string { return "unverified: " + e.Reason }

// RecordSource says which secrets a portal's records may name: its key
// secrets (under the KeyStore's prefix) and its credentials secret.
type RecordSource struct {
	Keys *KeyStore
	// Credentials reports whether a secret (its name and ARN) is the
	// portal's credentials secret.
	Credentials func(name, arn string) bool
}

// Prove checks a rotated-out record against the secret it names, so that a
// record anyone else wrote retires nothing: the named secret is one of the
// portal's keys (of the record's user) or its credentials; the version the
// record names exists, is neither AWSCURRENT nor AWSPENDING, and its value
// holds the record's token (its access id, user and id); and the secret's
// AWSCURRENT value holds another token. It returns nil, ErrStillCurrent,
// an *UnverifiedError, or an *UnavailableError.
func (rs Retirements) Prove(ctx context.Context, r Retirement, src RecordSource) error {
	st, err := Versions{API: rs.API}.Describe(ctx, r.Secret)
	switch {
	case err != nil:
		return err
	case st == nil:
		return &UnverifiedError{"its secret " + r.Secret + " does not exist"}
	}
	creds := src.Credentials != nil && src.Credentials(st.Name, st.ARN)
	if !creds && (st.Name != r.Secret || !src.Keys.IsKeyOf(st.Name, r.AdminID)) {
		return &UnverifiedError{fmt.Sprintf("it names secret %s, which is neither a key of user %d lmtokens stored in this portal nor the portal's credentials", r.Secret, r.AdminID)}
	}
	switch {
	case st.Deleted:
		return &UnverifiedError{"its secret " + r.Secret + " is scheduled for deletion, so the rotation cannot be shown: restore the secret, or retire the token by hand"}
	case st.Has(r.FromVersion, StageCurrent) || st.Has(r.FromVersion, StagePending):
		return ErrStillCurrent
	}
	vs := Versions{API: rs.API}
	old, found, err := vs.Read(ctx, r.Secret, r.FromVersion, "")
	if err != nil {
		return err
	}
	if !found {
		return &UnverifiedError{fmt.Sprintf("secret %s has no version %s", r.Secret, r.FromVersion)}
	}
	cur, found, err := vs.Read(ctx, r.Secret, "", StageCurrent)
	if err != nil {
		return err
	}
	if !found {
		return &UnverifiedError{"secret " + r.Secret + " has no AWSCURRENT value"}
	}
	if creds {
		return proveCredentials(r, old, cur)
	}
	was, err1 := ParseStoredKey(old)
	now, err2 := ParseStoredKey(cur)
	switch {
	case err1 != nil || err2 != nil:
		return &UnverifiedError{fmt.Sprintf("secret %s does not hold lmtokens' key JSON in version %s or AWSCURRENT", r.Secret, r.FromVersion)}
	case was.TokenID != r.TokenID || was.AdminID != r.AdminID || r.AccessID == "" || was.AccessID != r.AccessID:
		return &UnverifiedError{fmt.Sprintf("version %s of secret %s holds token %d of user %d, not the record's token %d", r.FromVersion, r.Secret, was.TokenID, was.AdminID, r.TokenID)}
	case now.TokenID == r.TokenID || now.AccessID == r.AccessID:
		return &UnverifiedError{fmt.Sprintf("secret %s still hands out token %d in its AWSCURRENT version", r.Secret, r.TokenID)}
	}
	return nil
}

// proveCredentials is Prove's value check for a credentials secret: LMv1
// credentials are known by their access id, bearer ones by the ids the
// secret names.
func proveCredentials(r Retirement, old, cur string) error {
	was, err1 := ParseCredentials(old)
	now, err2 := ParseCredentials(cur)
	if err1 != nil || err2 != nil {
		return &UnverifiedError{"the credentials secret " + r.Secret + " is malformed in the record's version or in AWSCURRENT"}
	}
	held := func(c Credentials) bool {
		if c.AccessID != "" {
			return c.AccessID == r.AccessID
		}
		return c.AdminID == r.AdminID && c.TokenID == r.TokenID
	}
	switch {
	case was.AccessID == "" && was.TokenID == 0:
		return &UnverifiedError{"the record's version of " + r.Secret + " holds bearer credentials that name no token"}
	case !held(was) || was.AccessID == "" && r.AccessID != "":
		return &UnverifiedError{fmt.Sprintf("version %s of %s does not hold token %d", r.FromVersion, r.Secret, r.TokenID)}
	case held(now):
		return &UnverifiedError{r.Secret + " still holds token " + strconv.FormatInt(r.TokenID, 10) + " in its AWSCURRENT version"}
	}
	return nil
}
