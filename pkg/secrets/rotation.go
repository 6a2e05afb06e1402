package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Staging labels of a secret's versions.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// ErrRotationInProgress says a rotation of the secret is unfinished:
// Secrets Manager refuses to start another until it ends.
var ErrRotationInProgress = errors.New("a rotation of this secret is unfinished")

// State is what DescribeSecret says of a secret that rotates: its names, its
// rotation settings, its versions' staging labels and its tags.
type State struct {
	Name, ARN       string
	RotationEnabled bool
	Deleted         bool
	Stages          map[string][]string // version id -> labels
	Tags            map[string]string
}

// Has reports whether version carries stage.
func (s *State) Has(version, stage string) bool { return slices.Contains(s.Stages[version], stage) }

// Holder returns the version that carries stage ("" for none).
func (s *State) Holder(stage string) string {
	for v := range s.Stages {
		if s.Has(v, stage) {
			return v
		}
	}
	return ""
}

// Versions reads and moves the versions of secrets that rotate, as the
// rotation protocol needs: every write names its version, so a retried step
// repeats a no-op or learns that another value is there.
type Versions struct{ API API }

// Describe returns a secret's state, nil when there is no such secret.
func (v Versions) Describe(ctx context.Context, id string) (*State, error) {
	d, err := v.API.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, &UnavailableError{Op: "DescribeSecret " + id, Err: err}
	}
	st := &State{Name: aws.ToString(d.Name), ARN: aws.ToString(d.ARN), RotationEnabled: aws.ToBool(d.RotationEnabled),
		Deleted: d.DeletedDate != nil, Stages: d.VersionIdsToStages, Tags: map[string]string{}}
	if st.Stages == nil {
		st.Stages = map[string][]string{}
	}
	for _, t := range d.Tags {
		st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return st, nil
}

// Read returns the value of a version (by id, or by stage when version is
// ""); found is false when the version has no value (yet).
func (v Versions) Read(ctx context.Context, id, version, stage string) (value string, found bool, err error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := v.API.GetSecretValue(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return "", false, nil
		}
		return "", false, &UnavailableError{Op: "GetSecretValue " + id, Err: err}
	}
	if out.SecretString == nil {
		return "", false, &UnavailableError{Op: "GetSecretValue " + id, Err: errors.New("the version has no SecretString")}
	}
	return *out.SecretString, true, nil
}

// PutPending stores value as version, labelled AWSPENDING, passing the
// rotation's RotationToken back when there is one. Repeating it with the
// same value is a no-op; another value already there is an error.
func (v Versions) PutPending(ctx context.Context, id, version, value, rotationToken string) error {
	in := &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), ClientRequestToken: aws.String(version), SecretString: aws.String(value),
		VersionStages: []string{StagePending},
	}
	if rotationToken != "" {
		in.RotationToken = aws.String(rotationToken)
	}
	_, err := v.API.PutSecretValue(ctx, in)
	if err != nil {
		return &UnavailableError{Op: "PutSecretValue " + id, Err: err}
	}
	return nil
}

// Promote moves AWSCURRENT from version from to version to (the old one
// becomes AWSPREVIOUS).
func (v Versions) Promote(ctx context.Context, id, to, from string) error {
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(id), VersionStage: aws.String(StageCurrent), MoveToVersionId: aws.String(to)}
	if from != "" && from != to {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := v.API.UpdateSecretVersionStage(ctx, in); err != nil {
		return &UnavailableError{Op: "UpdateSecretVersionStage " + id, Err: err}
	}
	return nil
}

// DropPending takes AWSPENDING off version: the rotation that made it is
// abandoned, and its steps refuse to run again.
func (v Versions) DropPending(ctx context.Context, id, version string) error {
	_, err := v.API.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(StagePending), RemoveFromVersionId: aws.String(version),
	})
	if err != nil {
		return &UnavailableError{Op: "UpdateSecretVersionStage " + id, Err: err}
	}
	return nil
}

// Rotation is how a secret rotates.
type Rotation struct {
	// LambdaARN is the rotation function.
	LambdaARN string
	// Days schedules a rotation every Days days (0: on demand only).
	Days int
	// Now starts a rotation at once; without it RotateSecret only sets the
	// schedule.
	Now bool
}

// Rotate configures a secret's rotation and, with r.Now, starts one. It
// returns the new version's id when one started. A rotation that is still
// unfinished is ErrRotationInProgress.
func (v Versions) Rotate(ctx context.Context, id string, r Rotation) (string, error) {
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(id), RotationLambdaARN: aws.String(r.LambdaARN), RotateImmediately: aws.Bool(r.Now)}
	if r.Days > 0 {
		in.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(r.Days))}
	}
	out, err := v.API.RotateSecret(ctx, in)
	if err != nil {
		var ir *types.InvalidRequestException
		if errors.As(err, &ir) && strings.Contains(strings.ToLower(ir.ErrorMessage()), "rotation isn't complete") {
			return "", ErrRotationInProgress
		}
		if isNotFound(err) {
			return "", err
		}
		return "", &UnavailableError{Op: "RotateSecret " + id, Err: err}
	}
	return aws.ToString(out.VersionId), nil
}

// CancelRotation turns a secret's rotation off (its schedule stops): the key
// can no longer rotate. A pending version is left for DropPending.
func (v Versions) CancelRotation(ctx context.Context, id string) error {
	if _, err := v.API.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(id)}); err != nil && !isNotFound(err) {
		return &UnavailableError{Op: "CancelRotateSecret " + id, Err: err}
	}
	return nil
}

// Pending returns the version labelled AWSPENDING but not AWSCURRENT (""
// for none): a rotation under way, or one that failed and awaits its retry.
func (s *State) Pending() string {
	for v := range s.Stages {
		if s.Has(v, StagePending) && !s.Has(v, StageCurrent) {
			return v
		}
	}
	return ""
}

// IsNotFound reports Secrets Manager's ResourceNotFoundException.
func IsNotFound(err error) bool { return isNotFound(err) }

// ParseStoredKey reads a key's secret value. Every field a rotation needs
// must be there: a record missing one is refused, never guessed at.
func ParseStoredKey(value string) (StoredKey, error) {
	var k StoredKey
	if err := json.Unmarshal([]byte(value), &k); err != nil {
		return k, errors.New("the value is not lmtokens' key JSON")
	}
	var missing []string
	for name, empty := range map[string]bool{"company": k.Company == "", "accessKey": k.AccessKey == "", "adminId": k.AdminID <= 0, "tokenId": k.TokenID <= 0, "type": k.Type == ""} {
		if empty {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return k, fmt.Errorf("the stored key lacks %s", strings.Join(missing, ", "))
	}
	return k, nil
}

// Retag points a key's secret at the token it now holds (after a
// rotation): its token and access-id tags follow AWSCURRENT.
func (k *KeyStore) Retag(ctx context.Context, name string, key StoredKey) error {
	in := &secretsmanager.TagResourceInput{SecretId: aws.String(name), Tags: []types.Tag{
		{Key: aws.String(TagTokenID), Value: aws.String(fmt.Sprint(key.TokenID))},
		{Key: aws.String(TagAccessID), Value: aws.String(key.AccessID)},
	}}
	if key.ExpiresAt != nil {
		// The new token's fresh lifetime.
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(TagExpiresAt), Value: aws.String(key.ExpiresAt.UTC().Format(time.RFC3339))})
	}
	_, err := k.API.TagResource(ctx, in)
	if err != nil {
		return &UnavailableError{Op: "TagResource " + name, Err: err}
	}
	return nil
}

// RotatedCredentials returns a credentials secret's value with its key
// replaced by a new token's (accessId and accessKey, or bearerToken), every
// other field kept.
func RotatedCredentials(old string, adminID, tokenID int64, accessID, key string) (string, error) {
	// The same fields as credentialsDoc, written only when set.
	var d struct {
		Company     string          `json:"company"`
		AccessID    string          `json:"accessId,omitempty"`
		AccessKey   string          `json:"accessKey,omitempty"`
		BearerToken string          `json:"bearerToken,omitempty"`
		AdminID     int64           `json:"adminId,omitempty"`
		TokenID     int64           `json:"tokenId,omitempty"`
		BaseURL     string          `json:"baseUrl,omitempty"`
		Cleanup     json.RawMessage `json:"cleanup,omitempty"`
		// MaxLifetimeDays is the portal's cap on new tokens' lifetimes.
		MaxLifetimeDays int `json:"maxLifetimeDays,omitempty"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(old)), &d); err != nil {
		return "", errors.New("the credentials secret is not JSON")
	}
	d.AdminID, d.TokenID = adminID, tokenID
	if d.BearerToken != "" {
		d.BearerToken = key
	} else {
		d.AccessID, d.AccessKey = accessID, key
	}
	b, err := json.Marshal(d)
	return string(b), err
}
