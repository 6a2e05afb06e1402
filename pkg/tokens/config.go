package tokens

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/envlist"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// DefaultPortalsPrefix is where portals are registered unless
// LM_PORTALS_PREFIX says otherwise.
const DefaultPortalsPrefix = "lmtokens/portals/"

// Config is the functions' environment.
type Config struct {
	CredentialsSecret string        // LM_CREDENTIALS_SECRET, required: the default portal
	PortalsPrefix     string        // LM_PORTALS_PREFIX: <prefix><portal> registers a portal
	BaseURL           string        // LM_BASE_URL, optional
	SecretPrefix      string        // TOKEN_SECRET_PREFIX
	KMSKeyID          string        // TOKEN_SECRET_KMS_KEY_ID
	RecoveryDays      int32         // TOKEN_SECRET_RECOVERY_DAYS, 7..30
	CredentialsTTL    time.Duration // LM_CREDENTIALS_TTL, how long credentials are cached
	Cleanup           CleanupConfig
	// ProtectedRoles (PROTECTED_ROLES, comma-separated, default
	// "administrator"; set it empty to protect no role) and
	// ProtectedAdminIDs (PROTECTED_ADMIN_IDS) name users create refuses
	// to mint keys for.
	ProtectedRoles    []string
	ProtectedAdminIDs []int64
	Rotation          RotationConfig
	// AllowedHosts (LM_ALLOWED_HOSTS, comma-separated: exact hosts or
	// *.suffix) may serve a portal's API besides <company>.logicmonitor.com;
	// AllowHTTPLoopback (LM_ALLOW_HTTP_LOOPBACK=true) lets a portal be plain
	// http on 127.0.0.1 or ::1 (local runs and tests only).
	AllowedHosts      []string
	AllowHTTPLoopback bool
	// ProviderStacks (PROVIDER_STACKS, comma-separated patterns with *)
	// are the stacks whose Custom::LogicMonitorApiToken resources the
	// provider serves; unset, any stack of its account and region.
	ProviderStacks []string
}

// RotationConfig is how stored keys and the credentials rotate.
type RotationConfig struct {
	// FunctionARN (ROTATION_FUNCTION_ARN) is the rotation function that
	// create schedules and the rotate route starts; "" turns both off.
	FunctionARN string
	// DefaultDays (TOKEN_ROTATION_DAYS, 0..365) schedules the rotation of
	// every created key that does not say otherwise (0: none).
	DefaultDays int
	// Grace (ROTATION_GRACE, default 24h) is how long a rotated-out token
	// stays enabled for consumers that cached its key; DeleteAfter
	// (ROTATION_DELETE_AFTER, default 168h) how long after it is disabled
	// it is deleted.
	Grace, DeleteAfter time.Duration
}

// MaxRotationDays is the longest rotation schedule a create may ask for.
const MaxRotationDays = 365

func rotationFromEnv(getenv func(string) string) (RotationConfig, error) {
	r := RotationConfig{FunctionARN: getenv("ROTATION_FUNCTION_ARN"), Grace: 24 * time.Hour, DeleteAfter: 7 * 24 * time.Hour}
	if v := getenv("TOKEN_ROTATION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxRotationDays {
			return r, fmt.Errorf("TOKEN_ROTATION_DAYS %q must be a whole number of days from 0 (none) to %d", v, MaxRotationDays)
		}
		if n > 0 && r.FunctionARN == "" {
			return r, fmt.Errorf("TOKEN_ROTATION_DAYS is set but ROTATION_FUNCTION_ARN is not: keys cannot rotate without the rotation function")
		}
		r.DefaultDays = n
	}
	for name, d := range map[string]*time.Duration{"ROTATION_GRACE": &r.Grace, "ROTATION_DELETE_AFTER": &r.DeleteAfter} {
		if v := getenv(name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				return r, fmt.Errorf("%s %q must be a duration such as 24h (0 or more)", name, v)
			}
			*d = x
		}
	}
	return r, nil
}

// CleanupConfig is what makes a function a cleanup function, and its policy.
type CleanupConfig struct {
	// Enabled (CLEANUP_ENABLED=true) makes the function a cleanup
	// function: it runs its stage and nothing else. Without it, cleanup
	// requests are refused.
	Enabled bool
	// AllowWidening (CLEANUP_ALLOW_WIDENING=true) lets an event loosen the
	// configured policy; by default an event can only narrow it.
	AllowWidening bool
	// Policies are each stage's configured policy (CLEANUP_* variables).
	Policies map[cleanup.Stage]cleanup.Policy
	// OrphanGrace (CLEANUP_ORPHAN_GRACE, default 168h) is how long after
	// the delete stage first finds a key secret's token gone from
	// LogicMonitor it schedules the secret's deletion.
	OrphanGrace time.Duration
}

// DefaultOrphanGrace is CLEANUP_ORPHAN_GRACE's default: a week.
const DefaultOrphanGrace = 7 * 24 * time.Hour

// CleanupConfigFromEnv reads the cleanup settings; an invalid policy is an
// error only for a cleanup function.
func CleanupConfigFromEnv(getenv func(string) string) (CleanupConfig, error) {
	c := CleanupConfig{Policies: map[cleanup.Stage]cleanup.Policy{}}
	var err error
	if v := getenv("CLEANUP_ENABLED"); v != "" {
		if c.Enabled, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("CLEANUP_ENABLED %q is not true or false", v)
		}
	}
	c.OrphanGrace = DefaultOrphanGrace
	if v := getenv("CLEANUP_ORPHAN_GRACE"); v != "" {
		if c.OrphanGrace, err = time.ParseDuration(v); err != nil || c.OrphanGrace < 0 {
			return c, fmt.Errorf("CLEANUP_ORPHAN_GRACE %q must be a duration such as 168h (0 or more)", v)
		}
	}
	if v := getenv("CLEANUP_ALLOW_WIDENING"); v != "" {
		if c.AllowWidening, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("CLEANUP_ALLOW_WIDENING %q is not true or false", v)
		}
	}
	for _, st := range []cleanup.Stage{cleanup.StageDisable, cleanup.StageDelete} {
		p, err := cleanup.PolicyFromEnv(st, getenv)
		if err != nil && c.Enabled {
			return c, err
		}
		c.Policies[st] = p
	}
	return c, nil
}

// ConfigFromEnv reads the environment. An invalid setting is an error that
// every invocation reports (as a Configuration error), not a crash loop.
func ConfigFromEnv() (Config, error) { return ConfigFrom(os.LookupEnv) }

// ConfigFrom reads the settings lookup gives (os.LookupEnv in a function;
// the stack's tests feed it what the template sets).
func ConfigFrom(lookup func(string) (string, bool)) (Config, error) {
	getenv := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	c := Config{
		CredentialsSecret: getenv("LM_CREDENTIALS_SECRET"),
		BaseURL:           getenv("LM_BASE_URL"),
		SecretPrefix:      getenv("TOKEN_SECRET_PREFIX"),
		KMSKeyID:          getenv("TOKEN_SECRET_KMS_KEY_ID"),
		RecoveryDays:      7,
		CredentialsTTL:    5 * time.Minute,
		PortalsPrefix:     DefaultPortalsPrefix,
	}
	if v := getenv("LM_PORTALS_PREFIX"); v != "" {
		c.PortalsPrefix = v
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
	if !secrets.ValidName(c.PortalsPrefix) || len(c.PortalsPrefix)+63 > secrets.MaxNameLength {
		return c, fmt.Errorf("LM_PORTALS_PREFIX %q is not a usable secret-name prefix", c.PortalsPrefix)
	}
	// The longest name lmtokens makes: a claim under a portal's prefix.
	if n := len(c.SecretPrefix) + 64 + secrets.MaxClaimNameSuffix; n > secrets.MaxNameLength {
		return c, fmt.Errorf("TOKEN_SECRET_PREFIX is %d characters: the names lmtokens makes under it would reach %d, over Secrets Manager's %d", len(c.SecretPrefix), n, secrets.MaxNameLength)
	}
	if v := getenv("TOKEN_SECRET_RECOVERY_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 7 || n > 30 {
			return c, fmt.Errorf("TOKEN_SECRET_RECOVERY_DAYS %q must be a whole number of days from 7 to 30", v)
		}
		c.RecoveryDays = int32(n)
	}
	var err error
	if c.Cleanup, err = CleanupConfigFromEnv(getenv); err != nil {
		return c, err
	}
	// PROTECTED_ROLES set but empty protects no role.
	c.ProtectedRoles = []string{"administrator"}
	if v, ok := lookup("PROTECTED_ROLES"); ok {
		c.ProtectedRoles = envlist.Split(v)
	}
	for _, v := range envlist.Split(getenv("PROTECTED_ADMIN_IDS")) {
		id, err := ParseID(v)
		if err != nil {
			return c, fmt.Errorf("PROTECTED_ADMIN_IDS: %q %v", v, err)
		}
		c.ProtectedAdminIDs = append(c.ProtectedAdminIDs, id)
	}
	if c.Rotation, err = rotationFromEnv(getenv); err != nil {
		return c, err
	}
	c.AllowedHosts = envlist.Split(getenv("LM_ALLOWED_HOSTS"))
	c.ProviderStacks = envlist.Split(getenv("PROVIDER_STACKS"))
	if v := getenv("LM_ALLOW_HTTP_LOOPBACK"); v != "" {
		if c.AllowHTTPLoopback, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("LM_ALLOW_HTTP_LOOPBACK %q is not true or false", v)
		}
	}
	if v := getenv("LM_CREDENTIALS_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("LM_CREDENTIALS_TTL %q must be a positive duration such as 5m", v)
		}
		c.CredentialsTTL = d
	}
	return c, nil
}
