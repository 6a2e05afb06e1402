// Package awssecrets adapts the AWS SDK's Secrets Manager client to
// secrets.API, the port lmtokens' key keeping and domain are written
// against. It is the only code of a function that links the SDK's Secrets
// Manager client; it translates, and decides nothing.
package awssecrets

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Client is the part of the SDK's client the adapter calls.
type Client interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	TagResource(context.Context, *secretsmanager.TagResourceInput, ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	RotateSecret(context.Context, *secretsmanager.RotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	CancelRotateSecret(context.Context, *secretsmanager.CancelRotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
	UntagResource(context.Context, *secretsmanager.UntagResourceInput, ...func(*secretsmanager.Options)) (*secretsmanager.UntagResourceOutput, error)
}

// NewClient builds a Secrets Manager client for a function's environment:
// its region and credentials, the SDK's endpoint settings
// (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL) and AWS_MAX_ATTEMPTS.
func NewClient(env awsenv.Env) *secretsmanager.Client {
	opts := secretsmanager.Options{Region: env.Region, Credentials: env.Credentials,
		// A run over many portals reads each one's secrets at once; the
		// SDK's default keeps 10 idle connections, so the others would be
		// closed and opened again (a TLS handshake each) every time.
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 64 })}
	if ep := awsenv.Endpoint("SECRETS_MANAGER"); ep != "" {
		opts.BaseEndpoint = aws.String(ep)
	}
	if n, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && n > 0 {
		opts.RetryMaxAttempts = n
	}
	return secretsmanager.New(opts)
}

// New adapts c to the port.
func New(c Client) secrets.API { return adapter{c} }

type adapter struct{ c Client }

// fail turns an answered error into a *secrets.ServiceError with its code;
// any other (a timeout, a cancelled context) passes as it is.
func fail(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &secrets.ServiceError{Code: ae.ErrorCode(), Message: ae.ErrorMessage(), Err: err}
	}
	return err
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func sdkTags(tags []secrets.Tag) []types.Tag {
	out := make([]types.Tag, len(tags))
	for i, t := range tags {
		out[i] = types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	return out
}

func portTags(tags []types.Tag) []secrets.Tag {
	if tags == nil {
		return nil
	}
	out := make([]secrets.Tag, len(tags))
	for i, t := range tags {
		out[i] = secrets.Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)}
	}
	return out
}

func (a adapter) GetSecretValue(ctx context.Context, in secrets.GetInput) (*secrets.SecretValue, error) {
	out, err := a.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(in.SecretID), VersionId: optional(in.VersionID), VersionStage: optional(in.VersionStage)})
	if err != nil {
		return nil, fail(err)
	}
	return &secrets.SecretValue{ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), VersionID: aws.ToString(out.VersionId), String: out.SecretString}, nil
}

func (a adapter) CreateSecret(ctx context.Context, in secrets.CreateInput) (string, error) {
	out, err := a.c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(in.Name), Description: optional(in.Description), SecretString: aws.String(in.Value),
		ClientRequestToken: optional(in.ClientRequestToken), KmsKeyId: optional(in.KMSKeyID), Tags: sdkTags(in.Tags),
	})
	if err != nil {
		return "", fail(err)
	}
	return aws.ToString(out.ARN), nil
}

func (a adapter) PutSecretValue(ctx context.Context, in secrets.PutInput) error {
	_, err := a.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(in.SecretID), SecretString: aws.String(in.Value),
		ClientRequestToken: optional(in.ClientRequestToken), RotationToken: optional(in.RotationToken), VersionStages: in.Stages,
	})
	return fail(err)
}

func (a adapter) DescribeSecret(ctx context.Context, id string) (*secrets.Secret, error) {
	d, err := a.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fail(err)
	}
	return &secrets.Secret{ARN: aws.ToString(d.ARN), Name: aws.ToString(d.Name), RotationEnabled: aws.ToBool(d.RotationEnabled),
		DeletedDate: d.DeletedDate, Tags: portTags(d.Tags), Stages: d.VersionIdsToStages}, nil
}

func (a adapter) DeleteSecret(ctx context.Context, in secrets.DeleteInput) (*secrets.Deletion, error) {
	req := &secretsmanager.DeleteSecretInput{SecretId: aws.String(in.SecretID)}
	if in.Force {
		req.ForceDeleteWithoutRecovery = aws.Bool(true)
	} else if in.RecoveryDays > 0 {
		req.RecoveryWindowInDays = aws.Int64(in.RecoveryDays)
	}
	out, err := a.c.DeleteSecret(ctx, req)
	if err != nil {
		return nil, fail(err)
	}
	return &secrets.Deletion{ARN: aws.ToString(out.ARN), DeletionDate: out.DeletionDate}, nil
}

func (a adapter) ListSecrets(ctx context.Context, in secrets.ListInput) (*secrets.SecretPage, error) {
	req := &secretsmanager.ListSecretsInput{NextToken: optional(in.NextToken)}
	if in.IncludePlannedDeletion {
		req.IncludePlannedDeletion = aws.Bool(true)
	}
	if in.MaxResults > 0 {
		req.MaxResults = aws.Int32(in.MaxResults)
	}
	for _, f := range in.Filters {
		req.Filters = append(req.Filters, types.Filter{Key: types.FilterNameStringType(f.Key), Values: f.Values})
	}
	out, err := a.c.ListSecrets(ctx, req)
	if err != nil {
		return nil, fail(err)
	}
	page := &secrets.SecretPage{NextToken: aws.ToString(out.NextToken), Secrets: make([]secrets.Secret, len(out.SecretList))}
	for i, s := range out.SecretList {
		page.Secrets[i] = secrets.Secret{ARN: aws.ToString(s.ARN), Name: aws.ToString(s.Name), RotationEnabled: aws.ToBool(s.RotationEnabled),
			DeletedDate: s.DeletedDate, Tags: portTags(s.Tags), Stages: s.SecretVersionsToStages}
	}
	return page, nil
}

func (a adapter) TagResource(ctx context.Context, id string, tags []secrets.Tag) error {
	_, err := a.c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(id), Tags: sdkTags(tags)})
	return fail(err)
}

func (a adapter) UntagResource(ctx context.Context, id string, keys []string) error {
	_, err := a.c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String(id), TagKeys: keys})
	return fail(err)
}

func (a adapter) UpdateSecretVersionStage(ctx context.Context, in secrets.StageInput) error {
	_, err := a.c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(in.SecretID), VersionStage: aws.String(in.VersionStage),
		MoveToVersionId: optional(in.MoveToVersionID), RemoveFromVersionId: optional(in.RemoveFromVersionID)})
	return fail(err)
}

func (a adapter) RotateSecret(ctx context.Context, in secrets.RotateInput) (string, error) {
	req := &secretsmanager.RotateSecretInput{SecretId: aws.String(in.SecretID), RotationLambdaARN: optional(in.LambdaARN), RotateImmediately: aws.Bool(in.Now)}
	if in.Days > 0 {
		req.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(in.Days)}
	}
	out, err := a.c.RotateSecret(ctx, req)
	if err != nil {
		return "", fail(err)
	}
	return aws.ToString(out.VersionId), nil
}

func (a adapter) CancelRotateSecret(ctx context.Context, id string) error {
	_, err := a.c.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: aws.String(id)})
	return fail(err)
}
