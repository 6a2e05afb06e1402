package tokens

import (
	"fmt"
	"os"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/envlist"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// DefaultPortalsPrefix is where portals are registered unless
// LM_PORTALS_PREFIX says otherwise.
var DefaultPortalsPrefix = settings.PortalsPrefix.Default

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
	// MaxLifetimeDays (TOKEN_MAX_LIFETIME_DAYS) caps the lifetime of new
	// tokens (0: no cap); a portal's secret may shorten it.
	MaxLifetimeDays int
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
var MaxRotationDays = settings.RotationDays.Max

func rotationFromEnv(getenv func(string) string) (RotationConfig, error) {
	r := RotationConfig{FunctionARN: getenv(settings.RotationFunction.Env)}
	var err error
	if r.DefaultDays, err = settings.RotationDays.Parse(getenv(settings.RotationDays.Env)); err != nil {
		return r, err
	}
	if r.DefaultDays > 0 && r.FunctionARN == "" {
		return r, fmt.Errorf("%s is set but %s is not: keys cannot rotate without the rotation function", settings.RotationDays.Env, settings.RotationFunction.Env)
	}
	if r.Grace, err = settings.RotationGrace.Parse(getenv(settings.RotationGrace.Env)); err != nil {
		return r, err
	}
	if r.DeleteAfter, err = settings.RotationDeleteAfter.Parse(getenv(settings.RotationDeleteAfter.Env)); err != nil {
		return r, err
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

// CleanupConfigFromEnv reads the cleanup settings; an invalid policy is an
// error only for a cleanup function.
func CleanupConfigFromEnv(getenv func(string) string) (CleanupConfig, error) {
	c := CleanupConfig{Policies: map[cleanup.Stage]cleanup.Policy{}}
	var err error
	if c.Enabled, err = settings.CleanupEnabled.Parse(getenv(settings.CleanupEnabled.Env)); err != nil {
		return c, err
	}
	if c.OrphanGrace, err = settings.CleanupOrphanGrace.Parse(getenv(settings.CleanupOrphanGrace.Env)); err != nil {
		return c, err
	}
	if c.AllowWidening, err = settings.CleanupAllowWidening.Parse(getenv(settings.CleanupAllowWidening.Env)); err != nil {
		return c, err
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
	or := func(s settings.Setting) string {
		if v := getenv(s.Env); v != "" {
			return v
		}
		return s.Default
	}
	c := Config{
		CredentialsSecret: getenv(settings.CredentialsSecret.Env),
		BaseURL:           getenv(settings.BaseURL.Env),
		SecretPrefix:      or(settings.SecretPrefix),
		KMSKeyID:          getenv(settings.KMSKeyID.Env),
		PortalsPrefix:     or(settings.PortalsPrefix),
	}
	if c.CredentialsSecret == "" {
		return c, fmt.Errorf("%s is not set: it must name the secret holding the LogicMonitor credentials", settings.CredentialsSecret.Env)
	}
	if !secrets.ValidName(c.SecretPrefix) {
		return c, fmt.Errorf("%s %q has characters Secrets Manager names cannot hold", settings.SecretPrefix.Env, c.SecretPrefix)
	}
	if !secrets.ValidName(c.PortalsPrefix) || len(c.PortalsPrefix)+63 > secrets.MaxNameLength {
		return c, fmt.Errorf("%s %q is not a usable secret-name prefix", settings.PortalsPrefix.Env, c.PortalsPrefix)
	}
	// The longest name lmtokens makes: a claim under a portal's prefix.
	if n := len(c.SecretPrefix) + 64 + secrets.MaxClaimNameSuffix; n > secrets.MaxNameLength {
		return c, fmt.Errorf("%s is %d characters: the names lmtokens makes under it would reach %d, over Secrets Manager's %d", settings.SecretPrefix.Env, len(c.SecretPrefix), n, secrets.MaxNameLength)
	}
	days, err := settings.RecoveryDays.Parse(getenv(settings.RecoveryDays.Env))
	if err != nil {
		return c, err
	}
	c.RecoveryDays = int32(days)
	if c.Cleanup, err = CleanupConfigFromEnv(getenv); err != nil {
		return c, err
	}
	// PROTECTED_ROLES set but empty protects no role.
	c.ProtectedRoles = envlist.Split(settings.ProtectedRoles.Default)
	if v, ok := lookup(settings.ProtectedRoles.Env); ok {
		c.ProtectedRoles = envlist.Split(v)
	}
	for _, v := range envlist.Split(getenv(settings.ProtectedAdminIDs.Env)) {
		id, err := ParseID(v)
		if err != nil {
			return c, fmt.Errorf("%s: %q %v", settings.ProtectedAdminIDs.Env, v, err)
		}
		c.ProtectedAdminIDs = append(c.ProtectedAdminIDs, id)
	}
	if c.Rotation, err = rotationFromEnv(getenv); err != nil {
		return c, err
	}
	if c.MaxLifetimeDays, err = settings.MaxLifetimeDays.Parse(getenv(settings.MaxLifetimeDays.Env)); err != nil {
		return c, err
	}
	c.AllowedHosts = envlist.Split(getenv(settings.AllowedHosts.Env))
	c.ProviderStacks = envlist.Split(getenv(settings.ProviderStacks.Env))
	if c.AllowHTTPLoopback, err = settings.AllowHTTPLoopback.Parse(getenv(settings.AllowHTTPLoopback.Env)); err != nil {
		return c, err
	}
	if c.CredentialsTTL, err = settings.CredentialsTTL.Parse(getenv(settings.CredentialsTTL.Env)); err != nil {
		return c, err
	}
	return c, nil
}
