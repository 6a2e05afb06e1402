// Package secrets is lmtokens' use of AWS Secrets Manager: reading the
// functions' own LogicMonitor credentials (cached, re-read after a
// rejection), storing every newly created key, scheduling its deletion, and
// the idempotency claims of create requests.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// API is the part of the Secrets Manager client lmtokens calls.
type API interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// NewClientFromEnv builds a Secrets Manager client from the environment
// Lambda provides: AWS_REGION, the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN credentials, and the SDK's own endpoint settings
// AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL (AWS_MAX_ATTEMPTS
// too). It deliberately avoids the SDK's config loader, which would add
// several megabytes and shared-config file reads to every cold start for
// credential sources a Lambda function never uses.
func NewClientFromEnv() (*secretsmanager.Client, error) {
	region := firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return nil, errors.New("AWS_REGION is not set")
	}
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return nil, errors.New("AWS credentials are not in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	}
	opts := secretsmanager.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, os.Getenv("AWS_SESSION_TOKEN"))),
	}
	if os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") != "true" {
		if ep := firstEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"); ep != "" {
			opts.BaseEndpoint = aws.String(ep)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("AWS_MAX_ATTEMPTS")); err == nil && n > 0 {
		opts.RetryMaxAttempts = n
	}
	return secretsmanager.New(opts), nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// awsMessage shortens an SDK error to its service message, which names the
// operation and the cause but never a secret's value.
func awsMessage(op string, err error) string {
	return fmt.Sprintf("Secrets Manager %s: %v", op, err)
}
