package handlers

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Config is the functions' environment.
type Config struct {
	CredentialsSecret string        // LM_CREDENTIALS_SECRET, required
	BaseURL           string        // LM_BASE_URL, optional
	SecretPrefix      string        // TOKEN_SECRET_PREFIX
	KMSKeyID          string        // TOKEN_SECRET_KMS_KEY_ID
	RecoveryDays      int32         // TOKEN_SECRET_RECOVERY_DAYS, 7..30
	CredentialsTTL    time.Duration // LM_CREDENTIALS_TTL, how long credentials are cached
}

// ConfigFromEnv reads the environment. An invalid setting is an error that
// every invocation reports (as a Configuration error), not a crash loop.
func ConfigFromEnv() (Config, error) {
	c := Config{
		CredentialsSecret: os.Getenv("LM_CREDENTIALS_SECRET"),
		BaseURL:           os.Getenv("LM_BASE_URL"),
		SecretPrefix:      os.Getenv("TOKEN_SECRET_PREFIX"),
		KMSKeyID:          os.Getenv("TOKEN_SECRET_KMS_KEY_ID"),
		RecoveryDays:      7,
		CredentialsTTL:    5 * time.Minute,
	}
	if c.SecretPrefix == "" {
		c.SecretPrefix = secrets.DefaultPrefix
	}
	if c.CredentialsSecret == "" {
		return c, fmt.Errorf("LM_CREDENTIALS_SECRET is not set: it must name the secret holding the LogicMonitor credentials")
	}
	if !secrets.ValidName(c.SecretPrefix) {
		return c, fmt.Errorf("TOKEN_SECRET_PREFIX %q has characters Secrets Manager names cannot hold", c.SecretPrefix)
	}
	if n := len(c.SecretPrefix) + secrets.MaxClaimNameSuffix; n > secrets.MaxNameLength {
		return c, fmt.Errorf("TOKEN_SECRET_PREFIX is %d characters: the names lmtokens makes under it would reach %d, over Secrets Manager's %d", len(c.SecretPrefix), n, secrets.MaxNameLength)
	}
	if v := os.Getenv("TOKEN_SECRET_RECOVERY_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 7 || n > 30 {
			return c, fmt.Errorf("TOKEN_SECRET_RECOVERY_DAYS %q must be a whole number of days from 7 to 30", v)
		}
		c.RecoveryDays = int32(n)
	}
	if v := os.Getenv("LM_CREDENTIALS_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("LM_CREDENTIALS_TTL %q must be a positive duration such as 5m", v)
		}
		c.CredentialsTTL = d
	}
	return c, nil
}
