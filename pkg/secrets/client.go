// Package secrets is lmtokens' use of AWS Secrets Manager: reading the
// functions' own LogicMonitor credentials (cached, re-read after a
// rejection), storing every newly created key, scheduling its deletion, and
// the idempotency claims of create requests.
package secrets

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
)

// API is the part of the Secrets Manager client lmtokens calls.
type API interface {
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
	opts := secretsmanager.Options{Region: env.Region, Credentials: env.Credentials}
	if ep := awsenv.Endpoint("SECRETS_MANAGER"); ep != "" {
		opts.BaseEndpoint = aws.String(ep)
	}
	if n, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && n > 0 {
		opts.RetryMaxAttempts = n
	}
	return secretsmanager.New(opts)
}

// awsMessage shortens an SDK error to its service message, which names the
// operation and the cause but never a secret's value.
func awsMessage(op string, err error) string {
	return fmt.Sprintf("Secrets Manager %s: %v", op, err)
}
