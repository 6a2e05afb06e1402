package secrets

import (
	"context"
	"errors"
	"time"
)

// API is the port to Secrets Manager: the operations lmtokens calls, in
// its own types, so that neither this package nor the domain links the AWS
// SDK. pkg/awssecrets adapts the SDK's client to it; tests may fake it.
//
// An error the service answered is a *ServiceError carrying its code.
type API interface {
	GetSecretValue(context.Context, GetInput) (*SecretValue, error)
	CreateSecret(context.Context, CreateInput) (arn string, err error)
	PutSecretValue(context.Context, PutInput) error
	DescribeSecret(ctx context.Context, id string) (*Secret, error)
	DeleteSecret(context.Context, DeleteInput) (*Deletion, error)
	ListSecrets(context.Context, ListInput) (*SecretPage, error)
	TagResource(ctx context.Context, id string, tags []Tag) error
	UntagResource(ctx context.Context, id string, keys []string) error
	UpdateSecretVersionStage(context.Context, StageInput) error
	RotateSecret(context.Context, RotateInput) (versionID string, err error)
	CancelRotateSecret(ctx context.Context, id string) error
}

// Tag is a secret's tag.
type Tag struct{ Key, Value string }

// GetInput reads a secret's value: its AWSCURRENT version unless a version
// id or stage is named.
type GetInput struct{ SecretID, VersionID, VersionStage string }

// SecretValue is one version of a secret. String is nil for a binary
// secret.
type SecretValue struct {
	ARN, Name, VersionID string
	String               *string
}

// CreateInput creates a secret. ClientRequestToken makes a retry with the
// same value a no-op; KMSKeyID empty means the account's aws/secretsmanager
// key.
type CreateInput struct {
	Name, Description, Value, ClientRequestToken, KMSKeyID string
	Tags                                                   []Tag
}

// PutInput adds a version, labelled Stages (none: AWSCURRENT).
// RotationToken is set inside a rotation.
type PutInput struct {
	SecretID, Value, ClientRequestToken, RotationToken string
	Stages                                             []string
}

// Secret is what DescribeSecret and ListSecrets tell of a secret.
type Secret struct {
	ARN, Name       string
	RotationEnabled bool
	DeletedDate     *time.Time // set when it is scheduled for deletion
	Tags            []Tag
	Stages          map[string][]string // version id → its stages
}

// DeleteInput deletes a secret after RecoveryDays, or at once with Force.
type DeleteInput struct {
	SecretID     string
	RecoveryDays int64
	Force        bool
}

// Deletion is DeleteSecret's answer.
type Deletion struct {
	ARN          string
	DeletionDate *time.Time
}

// The keys ListSecrets filters on.
const (
	FilterName     = "name"
	FilterTagKey   = "tag-key"
	FilterTagValue = "tag-value"
)

// Filter narrows ListSecrets (Key: FilterName, FilterTagKey, FilterTagValue).
type Filter struct {
	Key    string
	Values []string
}

// ListInput lists one page of secrets.
type ListInput struct {
	Filters                []Filter
	IncludePlannedDeletion bool
	MaxResults             int32
	NextToken              string
}

// SecretPage is one page of ListSecrets; NextToken is empty on the last.
type SecretPage struct {
	Secrets   []Secret
	NextToken string
}

// StageInput moves VersionStage to MoveToVersionID (empty: only remove it
// from RemoveFromVersionID).
type StageInput struct{ SecretID, VersionStage, MoveToVersionID, RemoveFromVersionID string }

// RotateInput configures a secret's rotation (Days > 0: its schedule) and,
// with Now, starts one.
type RotateInput struct {
	SecretID, LambdaARN string
	Days                int64
	Now                 bool
}

// ServiceError is an error Secrets Manager answered: its code (such as
// ResourceNotFoundException) and message. Error() is the service's own
// text, which names the operation and the cause but never a secret's value.
type ServiceError struct {
	Code, Message string
	Err           error
}

func (e *ServiceError) Error() string { return e.Err.Error() }
func (e *ServiceError) Unwrap() error { return e.Err }

// The codes lmtokens tells apart.
const (
	CodeNotFound       = "ResourceNotFoundException"
	CodeExists         = "ResourceExistsException"
	CodeInvalidRequest = "InvalidRequestException"
)

// serviceCode returns the code of a service error (empty for any other).
func serviceCode(err error) (code, message string) {
	var se *ServiceError
	if errors.As(err, &se) {
		return se.Code, se.Message
	}
	return "", ""
}
