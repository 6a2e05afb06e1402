package localdev

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
)

// realAWSEnv resolves the caller's AWS credentials (environment, profile,
// SSO) with the SDK's config loader, which the lean function binaries do not
// carry, and hands them to the functions as Lambda would: in environment
// variables.
func realAWSEnv() []string {
	env := []string{"LM_CREDENTIALS_SECRET=" + os.Getenv("LM_CREDENTIALS_SECRET")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return env
	}
	if cfg.Region != "" {
		env = append(env, "AWS_REGION="+cfg.Region)
	}
	if creds, err := cfg.Credentials.Retrieve(ctx); err == nil {
		env = append(env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_SESSION_TOKEN="+creds.SessionToken)
	}
	return env
}
