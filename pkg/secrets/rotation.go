package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
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
	d, err := v.API.DescribeSecret(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, &UnavailableError{Op: "DescribeSecret " + id, Err: err}
	}
	st := &State{Name: d.Name, ARN: d.ARN, RotationEnabled: d.RotationEnabled,
		Deleted: d.DeletedDate != nil, Stages: d.Stages, Tags: map[string]string{}}
	if st.Stages == nil {
		st.Stages = map[string][]string{}
	}
	for _, t := range d.Tags {
		st.Tags[t.Key] = t.Value
	}
	return st, nil
}

// Read returns the value of a version (by id, or by stage when version is
// ""); found is false when the version has no value (yet).
func (v Versions) Read(ctx context.Context, id, version, stage string) (value string, found bool, err error) {
	in := GetInput{SecretID: id}
	if version != "" {
		in.VersionID = version
	}
	if stage != "" {
		in.VersionStage = stage
	}
	out, err := v.API.GetSecretValue(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return "", false, nil
		}
		return "", false, &UnavailableError{Op: "GetSecretValue " + id, Err: err}
	}
	if out.String == nil {
		return "", false, &UnavailableError{Op: "GetSecretValue " + id, Err: errors.New("the version has no SecretString")}
	}
	return *out.String, true, nil
}

// PutPending stores value as version, labelled AWSPENDING, passing the
// rotation's RotationToken back when there is one. Repeating it with the
// same value is a no-op; another value already there is an error.
func (v Versions) PutPending(ctx context.Context, id, version, value, rotationToken string) error {
	in := PutInput{
		SecretID: id, ClientRequestToken: version, Value: value,
		Stages: []string{StagePending},
	}
	if rotationToken != "" {
		in.RotationToken = rotationToken
	}
	err := v.API.PutSecretValue(ctx, in)
	if err != nil {
		return &UnavailableError{Op: "PutSecretValue " + id, Err: err}
	}
	return nil
}

// Promote moves AWSCURRENT from version from to version to (the old one
// becomes AWSPREVIOUS).
func (v Versions) Promote(ctx context.Context, id, to, from string) error {
	in := StageInput{SecretID: id, VersionStage: StageCurrent, MoveToVersionID: to}
	if from != "" && from != to {
		in.RemoveFromVersionID = from
	}
	if err := v.API.UpdateSecretVersionStage(ctx, in); err != nil {
		return &UnavailableError{Op: "UpdateSecretVersionStage " + id, Err: err}
	}
	return nil
}

// DropPending takes AWSPENDING off version: the rotation that made it is
// abandoned, and its steps refuse to run again.
func (v Versions) DropPending(ctx context.Context, id, version string) error {
	err := v.API.UpdateSecretVersionStage(ctx, StageInput{
		SecretID: id, VersionStage: StagePending, RemoveFromVersionID: version,
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
	version, err := v.API.RotateSecret(ctx, RotateInput{SecretID: id, LambdaARN: r.LambdaARN, Days: int64(r.Days), Now: r.Now})
	if err != nil {
		if code, msg := serviceCode(err); code == CodeInvalidRequest && strings.Contains(strings.ToLower(msg), "rotation isn't complete") {
			return "", ErrRotationInProgress
		}
		if isNotFound(err) {
			return "", err
		}
		return "", &UnavailableError{Op: "RotateSecret " + id, Err: err}
	}
	return version, nil
}

// CancelRotation turns a secret's rotation off (its schedule stops): the key
// can no longer rotate. A pending version is left for DropPending.
func (v Versions) CancelRotation(ctx context.Context, id string) error {
	if err := v.API.CancelRotateSecret(ctx, id); err != nil && !isNotFound(err) {
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
	tags := []Tag{
		{Key: TagTokenID, Value: fmt.Sprint(key.TokenID)},
		{Key: TagAccessID, Value: key.AccessID},
	}
	if key.ExpiresAt != nil {
		// The new token's fresh lifetime.
		tags = append(tags, Tag{Key: TagExpiresAt, Value: key.ExpiresAt.UTC().Format(time.RFC3339)})
	}
	err := k.API.TagResource(ctx, name, tags)
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
