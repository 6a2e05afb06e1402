// Package awsenv reads what Lambda puts in a function's environment for
// calling AWS: the region, the execution role's credentials, and the SDK's
// own endpoint overrides. It deliberately avoids the SDK's config loader,
// which would add several megabytes and shared-config file reads to every
// cold start for credential sources a Lambda function never uses.
package awsenv

import (
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Env is one function's AWS settings. Its Credentials are one cache, so
// every client built from it shares them.
type Env struct {
	Region      string
	Credentials aws.CredentialsProvider
}

// Load reads AWS_REGION (or AWS_DEFAULT_REGION) and the AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN credentials.
func Load() (Env, error) {
	region := firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	if region == "" {
		return Env{}, errors.New("AWS_REGION is not set")
	}
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return Env{}, errors.New("AWS credentials are not in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	}
	return Env{Region: region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, os.Getenv("AWS_SESSION_TOKEN")))}, nil
}

// Endpoint is the endpoint the SDK's settings name for a service, by the
// service's environment name (SECRETS_MANAGER, EVENTBRIDGE):
// AWS_ENDPOINT_URL_<service>, else AWS_ENDPOINT_URL, and none when
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true. "" means the service's own.
func Endpoint(service string) string {
	if os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") == "true" {
		return ""
	}
	return firstEnv("AWS_ENDPOINT_URL_"+service, "AWS_ENDPOINT_URL")
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
