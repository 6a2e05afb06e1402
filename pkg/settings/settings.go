// Package settings declares each setting of the functions once: the
// environment variable, the stack setting (cdk.json context key) that sets
// it, its default, its range and its line of documentation. The functions
// read them (pkg/tokens, pkg/cleanup, the adapters' FromEnv), the stack
// sets them and takes its defaults and ranges from them (infra), and the
// configuration table of infra/README.md is generated from them (Table;
// `make docs`, kept current by a test).
package settings

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one environment variable of the functions.
type Setting struct {
	Env string
	// Context is the stack setting that sets it ("": the stack sets it
	// itself, or never).
	Context string
	// Default is what an unset variable means, as the environment would
	// spell it ("": nothing).
	Default string
	// Doc says what it does, for the configuration table.
	Doc string
}

// Whole is a setting of a whole number within [Min, Max].
type Whole struct {
	Setting
	Value, Min, Max int
}

// Parse reads v ("" is the default), refusing what is out of range.
func (w Whole) Parse(v string) (int, error) {
	if v == "" {
		return w.Value, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < w.Min || n > w.Max {
		return w.Value, fmt.Errorf("%s %q must be a whole number from %d to %d", w.Env, v, w.Min, w.Max)
	}
	return n, nil
}

// Check refuses a value out of range, naming the stack setting.
func (w Whole) Check(n int) error {
	if n < w.Min || n > w.Max {
		return fmt.Errorf("%s must be from %d to %d, not %d", w.Context, w.Min, w.Max, n)
	}
	return nil
}

// Duration is a setting of a duration of 0 or more, such as 24h.
type Duration struct {
	Setting
	Value time.Duration
	// Positive refuses 0.
	Positive bool
}

// Parse reads v ("" is the default).
func (d Duration) Parse(v string) (time.Duration, error) {
	if v == "" {
		return d.Value, nil
	}
	x, err := time.ParseDuration(v)
	if err != nil || x < 0 || d.Positive && x == 0 {
		least := "0 or more"
		if d.Positive {
			least = "above 0"
		}
		return d.Value, fmt.Errorf("%s %q must be a duration such as %s (%s)", d.Env, v, d.Setting.Default, least)
	}
	return x, nil
}

// Bool is a true-or-false setting, false unless set.
type Bool struct{ Setting }

// Parse reads v ("" is false).
func (b Bool) Parse(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	x, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q is not true or false", b.Env, v)
	}
	return x, nil
}

// The settings of where credentials and keys are.
var (
	CredentialsSecret = Setting{Env: "LM_CREDENTIALS_SECRET", Context: "credentialsSecret",
		Doc: "**required**: id or ARN of the default portal's secret, whose JSON is `{\"company\",\"accessId\",\"accessKey\"}` or `{\"company\",\"bearerToken\"}`"}
	PortalsPrefix = Setting{Env: "LM_PORTALS_PREFIX", Context: "portalsPrefix", Default: "lmtokens/portals/",
		Doc: "where other portals are registered (see [Many portals](../README.md#many-portals))"}
	BaseURL = Setting{Env: "LM_BASE_URL", Context: "lmBaseUrl",
		Doc: "optional: replaces `https://<company>.logicmonitor.com/santaba/rest`, under the endpoint rule (see [Where credentials go](../README.md#where-credentials-go))"}
	AllowedHosts = Setting{Env: "LM_ALLOWED_HOSTS", Context: "lmAllowedHosts",
		Doc: "hosts besides `<company>.logicmonitor.com` a portal's https endpoint may name: exact host names or `*.suffix`, comma-separated"}
	AllowHTTPLoopback = Bool{Setting{Env: "LM_ALLOW_HTTP_LOOPBACK",
		Doc: "`true` lets an endpoint be plain http on 127.0.0.1 or ::1: the local runs and tests set it; the stack never does"}}
	SecretPrefix = Setting{Env: "TOKEN_SECRET_PREFIX", Context: "secretPrefix", Default: "logicmonitor/api-tokens/",
		Doc: "where created keys go"}
	KMSKeyID = Setting{Env: "TOKEN_SECRET_KMS_KEY_ID",
		Doc: "optional KMS key for those secrets (the stack sets its own key)"}
	RecoveryDays = Whole{Setting: Setting{Env: "TOKEN_SECRET_RECOVERY_DAYS", Context: "recoveryDays", Default: "7",
		Doc: "recovery window, in days, when a key's secret is deleted"}, Value: 7, Min: 7, Max: 30}
	CredentialsTTL = Duration{Setting: Setting{Env: "LM_CREDENTIALS_TTL", Default: "5m",
		Doc: "how long the credentials stay cached"}, Value: 5 * time.Minute, Positive: true}
	ProtectedRoles = Setting{Env: "PROTECTED_ROLES", Context: "protectedRoles", Default: "administrator",
		Doc: "role names whose users create refuses to mint keys for, comma-separated (set empty for none)"}
	ProtectedAdminIDs = Setting{Env: "PROTECTED_ADMIN_IDS", Context: "protectedAdminIds",
		Doc: "user ids create refuses to mint keys for, comma-separated"}
	ProviderStacks = Setting{Env: "PROVIDER_STACKS", Context: "providerStacks",
		Doc: "the provider's: stack name patterns (`*` wildcards, comma-separated) whose `Custom::LogicMonitorApiToken` requests it serves (unset: any stack of its account and region)"}
	EventBus = Setting{Env: "EVENT_BUS_NAME",
		Doc: "the bus lifecycle events go to (unset: no events; the stack sets its own); `AWS_ENDPOINT_URL_EVENTBRIDGE` is the SDK's own setting"}
)

// The settings of rotation.
var (
	RotationFunction = Setting{Env: "ROTATION_FUNCTION_ARN",
		Doc: "the rotation function create schedules and the rotate route starts (unset: rotation cannot be asked for, 400; the stack sets its own)"}
	RotationDays = Whole{Setting: Setting{Env: "TOKEN_ROTATION_DAYS", Context: "rotationDays", Default: "0",
		Doc: "rotation schedule, in days, of every created (enabled) key that does not ask for its own (0: none)"}, Value: 0, Min: 0, Max: 365}
	RotationGrace = Duration{Setting: Setting{Env: "ROTATION_GRACE", Context: "rotationGraceHours", Default: "24h",
		Doc: "the rotation function's: how long a rotated-out token stays enabled"}, Value: 24 * time.Hour}
	MaxLifetimeDays = Whole{Setting: Setting{Env: "TOKEN_MAX_LIFETIME_DAYS", Context: "maxLifetimeDays", Default: "0",
		Doc: "the longest lifetime, in days, of a token created here (0: no cap); a longer request is refused, a create that asks none gets this one, and a portal's secret may set a shorter cap (`maxLifetimeDays`)"}, Value: 0, Min: 0, Max: 3650}
	RotationDeleteAfter = Duration{Setting: Setting{Env: "ROTATION_DELETE_AFTER", Context: "rotationDeleteAfterHours", Default: "168h",
		Doc: "the rotation function's: how long after a rotated-out token is disabled it is deleted"}, Value: 7 * 24 * time.Hour}
)

// The settings of cleanup. A stage's policy (Policy) is set per cleanup
// function by the stack's disablePolicy and deletePolicy.
var (
	CleanupEnabled = Bool{Setting{Env: "CLEANUP_ENABLED",
		Doc: "`true` makes the function a cleanup function (see [Cleanup](../README.md#cleanup-of-stale-tokens)); the stack sets it on its two cleanup functions"}}
	CleanupAllowWidening = Bool{Setting{Env: "CLEANUP_ALLOW_WIDENING", Context: "allowPolicyWidening",
		Doc: "`true` lets an event loosen the cleanup policy (default: events only narrow it)"}}
	CleanupOrphanGrace = Duration{Setting: Setting{Env: "CLEANUP_ORPHAN_GRACE", Context: "orphanGraceDays", Default: "168h",
		Doc: "the delete stage's: how long after it first finds a key secret's token gone it schedules the secret"}, Value: 7 * 24 * time.Hour}
	CleanupUnusedDays = Setting{Env: "CLEANUP_UNUSED_DAYS", Context: "unusedDays", Default: "90 (disable), 180 (delete)",
		Doc: "the policy: days without use after which a token is acted on"}
	CleanupDryRun = Setting{Env: "CLEANUP_DRY_RUN", Context: "dryRun", Default: "false",
		Doc: "the policy: `true` reports and acts on nothing"}
	CleanupMaxActions = Setting{Env: "CLEANUP_MAX_ACTIONS", Context: "maxActions", Default: "50",
		Doc: "the policy: the most tokens one run acts on, across portals"}
	CleanupKeepMarker = Setting{Env: "CLEANUP_KEEP_MARKER", Context: "keepMarker", Default: "#keep",
		Doc: "the policy: note markers that keep a token, comma-separated"}
	CleanupProtectedAccessIDs = Setting{Env: "CLEANUP_PROTECTED_ACCESS_IDS", Context: "protectedAccessIds",
		Doc: "the policy: access ids never acted on, comma-separated"}
	CleanupWarnDays = Setting{Env: "CLEANUP_WARN_DAYS", Context: "warnDays", Default: "14",
		Doc: "the policy: warn this many days before cleanup acts (0 acts without warning)"}
	CleanupMarksTable = Setting{Env: "CLEANUP_MARKS_TABLE",
		Doc: "the DynamoDB table of the warnings' marks (required when `CLEANUP_WARN_DAYS` is above 0; the stack sets its own); `AWS_ENDPOINT_URL_DYNAMODB` is the SDK's own setting"}
	// SecurityHubProduct is set by the stack when its postureFindings
	// setting is true (the default).
	SecurityHubProduct = Setting{Env: "SECURITY_HUB_PRODUCT_ARN", Context: "postureFindings",
		Doc: "the account's default Security Hub product the disable stage imports posture findings to (unset: no findings; they need `CLEANUP_MARKS_TABLE` too). The stack sets it when `postureFindings` is `true`, its default (see [Governance](../README.md#governance)); `AWS_ENDPOINT_URL_SECURITYHUB` is the SDK's own setting"}
)

// Policy are the settings of a stage's policy, which the stack's
// disablePolicy and deletePolicy set by their Context keys.
var Policy = []Setting{CleanupUnusedDays, CleanupDryRun, CleanupMaxActions, CleanupKeepMarker, CleanupWarnDays, CleanupProtectedAccessIDs}

// All are every setting, in the configuration table's order.
var All = []Setting{
	CredentialsSecret, PortalsPrefix, BaseURL, AllowedHosts, AllowHTTPLoopback.Setting, SecretPrefix, KMSKeyID,
	ProtectedRoles, ProtectedAdminIDs, RecoveryDays.Setting, CredentialsTTL.Setting,
	CleanupEnabled.Setting, CleanupUnusedDays, CleanupDryRun, CleanupMaxActions, CleanupKeepMarker, CleanupProtectedAccessIDs,
	CleanupAllowWidening.Setting, CleanupOrphanGrace.Setting, CleanupWarnDays, CleanupMarksTable, SecurityHubProduct, EventBus,
	RotationFunction, RotationDays.Setting, MaxLifetimeDays.Setting, ProviderStacks, RotationGrace.Setting, RotationDeleteAfter.Setting,
}

// Table is the configuration table of infra/README.md, in Markdown.
func Table() string {
	var b strings.Builder
	ranges := map[string]string{}
	for _, w := range []Whole{RecoveryDays, RotationDays, MaxLifetimeDays} {
		ranges[w.Env] = fmt.Sprintf("%d to %d", w.Min, w.Max)
	}
	for _, d := range []Duration{CredentialsTTL, RotationGrace, RotationDeleteAfter, CleanupOrphanGrace} {
		ranges[d.Env] = "0 or more"
		if d.Positive {
			ranges[d.Env] = "above 0"
		}
	}
	policy := map[string]bool{}
	for _, p := range Policy {
		policy[p.Env] = true
	}
	b.WriteString("| variable | meaning | default | range | stack setting |\n|---|---|---|---|---|\n")
	for _, s := range All {
		def, ctx := "", ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		switch {
		case policy[s.Env]:
			ctx = "`" + s.Context + "` of `disablePolicy`, `deletePolicy`"
		case s.Context != "":
			ctx = "`" + s.Context + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Env, s.Doc, def, ranges[s.Env], ctx)
	}
	return b.String()
}
