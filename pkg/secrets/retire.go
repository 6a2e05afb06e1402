package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
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

// Put writes the record once: a retried rotation step finds it there and
// keeps the first one (its dates stand).
func (rs Retirements) Put(ctx context.Context, r Retirement) error {
	name := rs.Name(r.AdminID, r.TokenID)
	value, _ := json.Marshal(r)
	_, err := rs.API.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		Description:        aws.String(fmt.Sprintf("lmtokens: token %d of user %d was rotated out of %s; retired by the cleanup stages; holds no key", r.TokenID, r.AdminID, r.Secret)),
		SecretString:       aws.String(string(value)),
		ClientRequestToken: aws.String(requestToken("retire", name, r.FromVersion)),
		Tags: []types.Tag{
			{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)},
			{Key: aws.String(TagAdminID), Value: aws.String(strconv.FormatInt(r.AdminID, 10))},
		},
	})
	var exists *types.ResourceExistsException
	if err == nil || errors.As(err, &exists) {
		return nil
	}
	if isScheduledForDeletion(err) {
		return nil // retired already
	}
	return &UnavailableError{Op: "CreateSecret " + name, Err: err}
}

// List returns every live record; one whose value cannot be read as a
// record comes back with only Record set (incomplete: skipped).
func (rs Retirements) List(ctx context.Context) ([]Retirement, error) {
	prefix := rs.Prefix + RetirePath
	in := &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix}}}}
	var out []Retirement
	for {
		page, err := rs.API.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + prefix, Err: err}
		}
		for _, sec := range page.SecretList {
			name := aws.ToString(sec.Name)
			if sec.DeletedDate != nil || len(name) <= len(prefix) || name[:len(prefix)] != prefix {
				continue // scheduled for deletion, or a name the prefix filter let through loosely
			}
			got, err := rs.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
			if err != nil {
				if isNotFound(err) || isScheduledForDeletion(err) {
					continue
				}
				return nil, &UnavailableError{Op: "GetSecretValue " + name, Err: err}
			}
			var r Retirement
			if json.Unmarshal([]byte(aws.ToString(got.SecretString)), &r) != nil || rs.Name(r.AdminID, r.TokenID) != name {
				r = Retirement{}
			}
			r.Record = name
			out = append(out, r)
		}
		if page.NextToken == nil {
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
