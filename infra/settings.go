package infra

// This file holds the stack's settings: every CDK context key, its default
// (as cdk.json has it) and its validation.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/envlist"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// Settings are the deploy-time choices. They come from CDK context (defaults
// in cdk.json, -c key=value overrides); see SettingsFromContext.
type Settings struct {
	// Env names the environment (dev, prod, ...): it suffixes the stack,
	// the API, the alarms and the dashboard, and the default secret prefix,
	// so that several deploy side by side in one account and region. Empty
	// is the unsuffixed default.
	Env string
	// Architecture of the functions, arm64 or x86_64; the app builds the
	// binaries for it.
	Architecture string
	// ReservedConcurrency, when above 0, reserves that many executions for
	// each mutating API function and one for each cleanup function;
	// ConcurrencyQuota is the account's concurrent-executions quota the
	// reservation must fit (Lambda keeps 100 unreserved).
	ReservedConcurrency int
	ConcurrencyQuota    int
	// ManageAPIGatewayAccountRole makes the stack own the region's API
	// Gateway CloudWatch logging role (AWS::ApiGateway::Account).
	ManageAPIGatewayAccountRole bool
	// Tracing turns on X-Ray for the functions and the API stage.
	Tracing bool
	// EventBusName names an existing event bus for lifecycle events (e.g.
	// default); unset, the stack creates lmtokens[-<env>].
	EventBusName string
	// WarningEmail subscribes an address to the cleanup warnings (the
	// "Will Be Disabled/Deleted" events), routed to an SNS topic.
	WarningEmail string
	// TerminationProtection protects the stack from deletion.
	TerminationProtection bool
	// StackNameOverride (context stackName) renames the stack; every
	// physical name and export derives from the stack's name.
	StackNameOverride string

	// CredentialsSecret is the name or full ARN of the secret holding the
	// functions' LogicMonitor credentials. The user creates it.
	CredentialsSecret string
	// SecretPrefix is where created keys are stored.
	SecretPrefix string
	// PortalsPrefix is where portals are registered: a secret
	// <PortalsPrefix><company> per portal besides the default one.
	PortalsPrefix string
	// KMSKeyArn is your own KMS key for the created keys' secrets. Unset,
	// the stack creates a customer-managed key for them (rotation on),
	// unless UseAWSManagedKey keeps Secrets Manager's aws/secretsmanager.
	KMSKeyArn        string
	UseAWSManagedKey bool
	// ProtectedRoles and ProtectedAdminIDs name LogicMonitor users create
	// refuses to mint keys for (PROTECTED_ROLES, PROTECTED_ADMIN_IDS).
	ProtectedRoles    []string
	ProtectedAdminIDs []string
	// RecoveryDays is the recovery window of deleted keys' secrets.
	RecoveryDays int
	// LMBaseURL optionally replaces https://<company>.logicmonitor.com/santaba/rest.
	LMBaseURL string
	// ProviderStacks are the stack name patterns (with *) whose
	// Custom::LogicMonitorApiToken resources the provider serves
	// (PROVIDER_STACKS); empty, any stack of its account and region.
	ProviderStacks []string
	// KeyReaders are the IAM role (or user) ARNs besides the functions that
	// the stack's created-keys key lets decrypt stored keys, through Secrets
	// Manager (pipelines that read their keys).
	KeyReaders []string
	// LMAllowedHosts are the hosts besides <company>.logicmonitor.com a
	// portal's endpoint may name (LM_ALLOWED_HOSTS: exact, or *.suffix).
	LMAllowedHosts []string

	// RotationDays schedules the rotation of every created key that does
	// not ask for its own (TOKEN_ROTATION_DAYS; 0: none).
	RotationDays int
	// RotationGraceHours is how long a rotated-out token stays enabled;
	// RotationDeleteAfterHours how long after it is disabled it is deleted.
	RotationGraceHours, RotationDeleteAfterHours int
	// CredentialsRotationDays schedules the rotation of the credentials
	// secret through the rotation function (0: none).
	CredentialsRotationDays int
	// MaxLifetimeDays caps the lifetime of new tokens
	// (TOKEN_MAX_LIFETIME_DAYS; 0: no cap).
	MaxLifetimeDays int
	// OrphanGraceDays is how long after the delete stage first finds a key
	// secret's token gone it schedules the secret (CLEANUP_ORPHAN_GRACE).
	OrphanGraceDays int

	// DisableSchedule and DeleteSchedule are EventBridge Scheduler
	// expressions (rate(...) or cron(...)); DisablePolicy and DeletePolicy the
	// JSON of their {"cleanup": ...} policy input.
	DisableSchedule string
	DisablePolicy   map[string]any
	DeleteSchedule  string
	DeletePolicy    map[string]any
	// ScheduleTimezone for cron expressions (default UTC).
	ScheduleTimezone string
	// SchedulesEnabled turns both schedules on or off.
	SchedulesEnabled bool
	// CleanupEngine runs each cleanup stage in one invocation (function) or
	// fanned out over portals by a state machine (stepfunctions), at most
	// MaxConcurrentPortals portals at once.
	CleanupEngine        string
	MaxConcurrentPortals int
	// PipelineWorkflow deploys the example workflow (PipelineTokenWorkflow).
	PipelineWorkflow bool
	// PostureFindings lets the disable stage import posture findings into
	// the account's Security Hub (on its default product only).
	PostureFindings bool
	// AllowPolicyWidening lets a cleanup request loosen the configured
	// policy (CLEANUP_ALLOW_WIDENING); off, requests can only narrow it.
	AllowPolicyWidening bool

	LogRetentionDays int
	LogLevel         string // application log level: DEBUG, INFO, WARN, ERROR
	AlarmEmail       string
	// AllowedPrincipals, when set, is the only IAM principals (ARNs or
	// account ids) the API's resource policy lets invoke it.
	AllowedPrincipals []string
	ThrottleRate      float64
	ThrottleBurst     float64
	// BinDir holds <fn>/bootstrap, as make build leaves them.
	BinDir string
}

// DefaultSettings are the values cdk.json also holds.
func DefaultSettings() Settings {
	return Settings{
		Architecture:             "arm64",
		ConcurrencyQuota:         1000,
		CredentialsSecret:        "lmtokens/logicmonitor-credentials",
		SecretPrefix:             settings.SecretPrefix.Default,
		PortalsPrefix:            settings.PortalsPrefix.Default,
		RecoveryDays:             settings.RecoveryDays.Value,
		DisableSchedule:          "cron(0 3 * * ? *)",
		DisablePolicy:            map[string]any{"unusedDays": 90, "dryRun": false, "maxActions": 50},
		DeleteSchedule:           "cron(0 4 ? * MON *)",
		DeletePolicy:             map[string]any{"unusedDays": 180, "dryRun": false, "maxActions": 50},
		ScheduleTimezone:         "UTC",
		SchedulesEnabled:         true,
		PostureFindings:          true,
		CleanupEngine:            EngineFunction,
		MaxConcurrentPortals:     10,
		LogRetentionDays:         30,
		LogLevel:                 "INFO",
		ThrottleRate:             10,
		ThrottleBurst:            20,
		ProtectedRoles:           envlist.Split(settings.ProtectedRoles.Default),
		RotationGraceHours:       int(settings.RotationGrace.Value.Hours()),
		RotationDeleteAfterHours: int(settings.RotationDeleteAfter.Value.Hours()),
		OrphanGraceDays:          int(settings.CleanupOrphanGrace.Value.Hours() / 24),
	}
}

// ContextGetter reads one CDK context value (node.TryGetContext).
type ContextGetter func(key string) any

// SettingsFromContext reads every setting from CDK context over the defaults
// and validates them. Context values from -c arrive as strings; values from
// cdk.json keep their JSON types; both are accepted.
func SettingsFromContext(get ContextGetter) (Settings, error) {
	s := DefaultSettings()
	var err error
	str := func(key string, dst *string) {
		if v := get(key); v != nil && err == nil {
			*dst = fmt.Sprint(v)
		}
	}
	num := func(key string, dst *float64) {
		if v := get(key); v != nil && err == nil {
			f, e := strconv.ParseFloat(fmt.Sprint(v), 64)
			if e != nil {
				err = fmt.Errorf("context %s: %q is not a number", key, v)
			}
			*dst = f
		}
	}
	policy := func(key string, dst *map[string]any) {
		v := get(key)
		if v == nil || err != nil {
			return
		}
		switch p := v.(type) {
		case map[string]any:
			*dst = p
		default:
			var m map[string]any
			if e := json.Unmarshal([]byte(fmt.Sprint(v)), &m); e != nil {
				err = fmt.Errorf("context %s: must be a JSON object such as {\"unusedDays\":90}", key)
			}
			*dst = m
		}
	}
	str("env", &s.Env)
	str("architecture", &s.Architecture)
	str("stackName", &s.StackNameOverride)
	if s.Env != "" {
		// Each environment's names sit beside the others', never inside:
		// a prefix is not a folder of another environment's.
		s.SecretPrefix, s.PortalsPrefix, s.CredentialsSecret = envDefaults(s.Env)
	}
	str("portalsPrefix", &s.PortalsPrefix)
	str("credentialsSecret", &s.CredentialsSecret)
	str("secretPrefix", &s.SecretPrefix)
	str("kmsKeyArn", &s.KMSKeyArn)
	str("lmBaseUrl", &s.LMBaseURL)
	str("disableSchedule", &s.DisableSchedule)
	str("deleteSchedule", &s.DeleteSchedule)
	str("scheduleTimezone", &s.ScheduleTimezone)
	str("logLevel", &s.LogLevel)
	str("alarmEmail", &s.AlarmEmail)
	str("eventBusName", &s.EventBusName)
	str("warningEmail", &s.WarningEmail)
	str("cleanupEngine", &s.CleanupEngine)
	str("binDir", &s.BinDir) // prebuilt binaries; unset, the app builds them
	policy("disablePolicy", &s.DisablePolicy)
	policy("deletePolicy", &s.DeletePolicy)
	var recovery, retention float64 = float64(s.RecoveryDays), float64(s.LogRetentionDays)
	num("recoveryDays", &recovery)
	num("logRetentionDays", &retention)
	num("apiThrottleRate", &s.ThrottleRate)
	num("apiThrottleBurst", &s.ThrottleBurst)
	reserved, quota := float64(s.ReservedConcurrency), float64(s.ConcurrencyQuota)
	num("reservedConcurrency", &reserved)
	num("concurrencyQuota", &quota)
	portals := float64(s.MaxConcurrentPortals)
	num("maxConcurrentPortals", &portals)
	s.MaxConcurrentPortals = int(portals)
	s.RecoveryDays, s.LogRetentionDays = int(recovery), int(retention)
	rot := []float64{float64(s.RotationDays), float64(s.RotationGraceHours), float64(s.RotationDeleteAfterHours), float64(s.CredentialsRotationDays), float64(s.OrphanGraceDays), float64(s.MaxLifetimeDays)}
	num("rotationDays", &rot[0])
	num("rotationGraceHours", &rot[1])
	num("rotationDeleteAfterHours", &rot[2])
	num("credentialsRotationDays", &rot[3])
	num("orphanGraceDays", &rot[4])
	num(settings.MaxLifetimeDays.Context, &rot[5])
	s.RotationDays, s.RotationGraceHours, s.RotationDeleteAfterHours, s.CredentialsRotationDays, s.OrphanGraceDays, s.MaxLifetimeDays = int(rot[0]), int(rot[1]), int(rot[2]), int(rot[3]), int(rot[4]), int(rot[5])
	s.ReservedConcurrency, s.ConcurrencyQuota = int(reserved), int(quota)
	flag := func(key string, dst *bool) {
		if v := get(key); v != nil {
			*dst = fmt.Sprint(v) == "true"
		}
	}
	flag("manageApiGatewayAccountRole", &s.ManageAPIGatewayAccountRole)
	flag("tracing", &s.Tracing)
	flag("terminationProtection", &s.TerminationProtection)
	if v := get("schedulesEnabled"); v != nil {
		s.SchedulesEnabled = fmt.Sprint(v) == "true"
	}
	if v := get("pipelineWorkflow"); v != nil {
		s.PipelineWorkflow = fmt.Sprint(v) == "true"
	}
	if v := get(settings.SecurityHubProduct.Context); v != nil {
		s.PostureFindings = fmt.Sprint(v) == "true"
	}
	if v := get("allowPolicyWidening"); v != nil {
		s.AllowPolicyWidening = fmt.Sprint(v) == "true"
	}
	if v := get("useAwsManagedKey"); v != nil {
		s.UseAWSManagedKey = fmt.Sprint(v) == "true"
	}
	list := func(key string, dst *[]string) {
		v := get(key)
		if v == nil {
			return
		}
		*dst = []string{}
		switch p := v.(type) {
		case []any:
			for _, x := range p {
				*dst = append(*dst, fmt.Sprint(x))
			}
		default:
			for _, x := range strings.Split(fmt.Sprint(v), ",") {
				if x = strings.TrimSpace(x); x != "" {
					*dst = append(*dst, x)
				}
			}
		}
	}
	list("allowedPrincipals", &s.AllowedPrincipals)
	list("protectedRoles", &s.ProtectedRoles)
	list("protectedAdminIds", &s.ProtectedAdminIDs)
	list("lmAllowedHosts", &s.LMAllowedHosts)
	list("keyReaders", &s.KeyReaders)
	list("providerStacks", &s.ProviderStacks)
	if err != nil {
		return s, err
	}
	return s, s.Validate()
}

var (
	scheduleRE      = regexp.MustCompile(`^(rate|cron|at)\(.+\)$`)
	principalRE     = regexp.MustCompile(`^(\d{12}|arn:aws[a-z-]*:(iam|sts)::\d{12}:.+)$`)
	adminIDRE       = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
	envRE           = regexp.MustCompile(`^([a-z][a-z0-9-]{0,15})?$`)
	stackNameRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)
	providerStackRE = regexp.MustCompile(`^[A-Za-z*][A-Za-z0-9*-]{0,127}$`)
	keyReaderRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$`)
)

// EnvName is the environment's name, "default" when none is set.
func (s Settings) EnvName() string {
	if s.Env == "" {
		return "default"
	}
	return s.Env
}

// Name suffixes base with the environment: lmtokens, lmtokens-dev.
func (s Settings) Name(base string) string {
	if s.Env == "" {
		return base
	}
	return base + "-" + s.Env
}

// BaseName is what the stack's physical names (API, bus, alarms,
// dashboard, metric namespace) start with: lmtokens[-<env>], or the stack's
// own name when it was renamed, so that two stacks never share one.
func (s Settings) BaseName() string {
	if s.StackNameOverride != "" {
		return strings.ToLower(s.StackNameOverride)
	}
	return s.Name("lmtokens")
}

// envDefaults are an environment's default key prefix, portals prefix and
// credentials secret: beside the unnamed environment's, not under them.
func envDefaults(env string) (secretPrefix, portalsPrefix, credentials string) {
	d := DefaultSettings()
	if env == "" {
		return d.SecretPrefix, d.PortalsPrefix, d.CredentialsSecret
	}
	return strings.TrimSuffix(d.SecretPrefix, "/") + "-" + env + "/", strings.TrimSuffix(d.PortalsPrefix, "/") + "-" + env + "/", d.CredentialsSecret + "-" + env
}

// nests reports why prefix (of environment env) would overlap another
// environment's default prefix ("" when it does not): inside another's, or
// wrapping others'. Such a prefix would put one environment's keys within
// reach of another's functions.
func nests(prefix, env string, which func(string) string) string {
	own := which(env)
	if prefix == own {
		return ""
	}
	root := strings.TrimSuffix(which(""), "/") // logicmonitor/api-tokens
	switch {
	case strings.HasPrefix(root+"-", prefix) || strings.HasPrefix(root+"/", prefix):
		return "it contains other environments' prefixes (" + which("") + ", " + root + "-<env>/)"
	case env != "" && strings.HasPrefix(prefix, which("")):
		return "it lies inside the unnamed environment's " + which("")
	case strings.HasPrefix(prefix, root+"-"):
		other, _, _ := strings.Cut(strings.TrimPrefix(prefix, root+"-"), "/")
		if other != env {
			return "it lies inside environment " + other + "'s " + which(other)
		}
	}
	return ""
}

// GOARCH is the Go architecture of the functions' binaries.
func (s Settings) GOARCH() string {
	if s.Architecture == "x86_64" {
		return "amd64"
	}
	return "arm64"
}

// StackName is the CloudFormation stack's name.
func (s Settings) StackName() string {
	if s.StackNameOverride != "" {
		return s.StackNameOverride
	}
	return s.Name("LMTokens")
}

// reservedFor is the reserved concurrency of one function (0: none).
func (s Settings) reservedFor(f catalog.Function) int {
	switch {
	case s.ReservedConcurrency <= 0:
		return 0
	case f.CleanupStage != "":
		return 1 // one run at a time
	case f.Binary == catalog.List:
		return 0 // reads only
	}
	return s.ReservedConcurrency
}

// reservedTotal is what the stack reserves of the account's quota.
func (s Settings) reservedTotal() int {
	n := 0
	for _, f := range catalog.Functions {
		n += s.reservedFor(f)
	}
	return n
}

// minUnreserved is the concurrency Lambda keeps unreserved in an account.
const minUnreserved = 100

// Validate checks the settings before anything is synthesized.
func (s Settings) Validate() error {
	if total := s.reservedTotal(); total > 0 && s.ConcurrencyQuota-total < minUnreserved {
		return fmt.Errorf("reservedConcurrency %d reserves %d concurrent executions, but the account's quota is %d (concurrencyQuota) and Lambda keeps %d unreserved: the deploy would fail. Lower reservedConcurrency (0 reserves none) or raise the quota in Service Quotas (Lambda, Concurrent executions) and set concurrencyQuota",
			s.ReservedConcurrency, total, s.ConcurrencyQuota, minUnreserved)
	}
	if err := s.checkEndpoint(); err != nil {
		return err
	}
	if s.CleanupEngine != EngineFunction && s.CleanupEngine != EngineStepFunctions {
		return fmt.Errorf("cleanupEngine %q must be %q (one invocation serves every portal) or %q (a state machine, one Map item per portal)", s.CleanupEngine, EngineFunction, EngineStepFunctions)
	}
	if s.MaxConcurrentPortals < 1 || s.MaxConcurrentPortals > 1000 {
		return fmt.Errorf("maxConcurrentPortals must be from 1 to 1000, not %d", s.MaxConcurrentPortals)
	}
	for _, p := range s.ProviderStacks {
		if !providerStackRE.MatchString(p) {
			return fmt.Errorf("providerStacks: %q must be a stack name, * standing for any characters", p)
		}
	}
	for _, r := range s.KeyReaders {
		if !keyReaderRE.MatchString(r) {
			return fmt.Errorf("keyReaders: %q must be an IAM role or user ARN", r)
		}
	}
	if len(s.KeyReaders) > 0 && (s.KMSKeyArn != "" || s.UseAWSManagedKey) {
		return fmt.Errorf("keyReaders name readers in the stack's own key's policy: with kmsKeyArn or useAwsManagedKey there is none")
	}
	switch {
	case !envRE.MatchString(s.Env):
		return fmt.Errorf("env %q must be a short lower-case name (letters, digits, hyphens; at most 16)", s.Env)
	case s.Architecture != "arm64" && s.Architecture != "x86_64":
		return fmt.Errorf("architecture %q must be arm64 or x86_64", s.Architecture)
	case s.ReservedConcurrency < 0 || s.ConcurrencyQuota < 0:
		return fmt.Errorf("reservedConcurrency and concurrencyQuota must not be negative")
	case !strings.HasPrefix(s.CredentialsSecret, "arn:") && !secrets.ValidName(s.CredentialsSecret):
		return fmt.Errorf("credentialsSecret %q is neither a secret name nor an ARN", s.CredentialsSecret)
	case !secrets.ValidName(s.SecretPrefix):
		return fmt.Errorf("secretPrefix %q has characters secret names cannot hold", s.SecretPrefix)
	case nests(s.SecretPrefix, s.Env, func(e string) string { p, _, _ := envDefaults(e); return p }) != "":
		return fmt.Errorf("secretPrefix %q: %s: environments cannot nest", s.SecretPrefix, nests(s.SecretPrefix, s.Env, func(e string) string { p, _, _ := envDefaults(e); return p }))
	case nests(s.PortalsPrefix, s.Env, func(e string) string { _, p, _ := envDefaults(e); return p }) != "":
		return fmt.Errorf("portalsPrefix %q: %s: environments cannot nest", s.PortalsPrefix, nests(s.PortalsPrefix, s.Env, func(e string) string { _, p, _ := envDefaults(e); return p }))
	case s.StackNameOverride != "" && !stackNameRE.MatchString(s.StackNameOverride):
		return fmt.Errorf("stackName %q must be a CloudFormation stack name (letters, digits, hyphens; starting with a letter; at most 64)", s.StackNameOverride)
	case !secrets.ValidName(s.PortalsPrefix) || strings.HasPrefix(s.PortalsPrefix, s.SecretPrefix) || strings.HasPrefix(s.SecretPrefix, s.PortalsPrefix):
		return fmt.Errorf("portalsPrefix %q must be a secret-name prefix apart from secretPrefix %q (the create function may write under the one, never the other)", s.PortalsPrefix, s.SecretPrefix)
	case s.KMSKeyArn != "" && !strings.HasPrefix(s.KMSKeyArn, "arn:"):
		return fmt.Errorf("kmsKeyArn must be a key ARN, not %q", s.KMSKeyArn)
	case settings.RecoveryDays.Check(s.RecoveryDays) != nil:
		return settings.RecoveryDays.Check(s.RecoveryDays)
	case !scheduleRE.MatchString(s.DisableSchedule) || !scheduleRE.MatchString(s.DeleteSchedule):
		return fmt.Errorf("schedules must be rate(...), cron(...) or at(...) expressions")
	case settings.MaxLifetimeDays.Check(s.MaxLifetimeDays) != nil:
		return settings.MaxLifetimeDays.Check(s.MaxLifetimeDays)
	case settings.RotationDays.Check(s.RotationDays) != nil || settings.RotationDays.Check(s.CredentialsRotationDays) != nil:
		return fmt.Errorf("rotationDays and credentialsRotationDays must be from 0 (none) to %d", settings.RotationDays.Max)
	case s.RotationGraceHours < 0 || s.RotationDeleteAfterHours < 0:
		return fmt.Errorf("rotationGraceHours and rotationDeleteAfterHours must not be negative")
	case s.OrphanGraceDays < 0 || s.OrphanGraceDays > 365:
		return fmt.Errorf("orphanGraceDays must be from 0 to 365, not %d", s.OrphanGraceDays)
	case s.LogRetentionDays <= 0:
		return fmt.Errorf("logRetentionDays must be positive")
	case s.ThrottleRate <= 0 || s.ThrottleBurst <= 0:
		return fmt.Errorf("apiThrottleRate and apiThrottleBurst must be positive")
	}
	switch s.LogLevel {
	case "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
	default:
		return fmt.Errorf("logLevel %q is not one of DEBUG, INFO, WARN, ERROR", s.LogLevel)
	}
	for _, id := range s.ProtectedAdminIDs {
		if !adminIDRE.MatchString(id) {
			return fmt.Errorf("protectedAdminIds: %q is not a LogicMonitor user id", id)
		}
	}
	if s.KMSKeyArn != "" && s.UseAWSManagedKey {
		return fmt.Errorf("kmsKeyArn and useAwsManagedKey contradict each other: set one")
	}
	for _, p := range s.AllowedPrincipals {
		if !principalRE.MatchString(p) {
			return fmt.Errorf("allowedPrincipals: %q is not an account id or an IAM ARN", p)
		}
	}
	for _, st := range []struct {
		name  string
		stage cleanup.Stage
		p     map[string]any
	}{{"disablePolicy", cleanup.StageDisable, s.DisablePolicy}, {"deletePolicy", cleanup.StageDelete, s.DeletePolicy}} {
		for k := range st.p {
			if !slices.ContainsFunc(settings.Policy, func(s settings.Setting) bool { return s.Context == k }) {
				return fmt.Errorf("%s has an unknown field %q", st.name, k)
			}
		}
		// The functions' own parser decides what a valid policy is: a
		// value they would refuse fails the synth, not every run.
		env := policyEnv(st.p)
		if _, err := cleanup.PolicyFromEnv(st.stage, func(k string) string { return env[k] }); err != nil {
			return fmt.Errorf("%s: %v", st.name, err)
		}
	}
	return nil
}

// checkEndpoint applies the functions' endpoint rule to lmBaseUrl at synth:
// https, on a LogicMonitor host or one of lmAllowedHosts (the company is
// only known from the credentials secret, so the functions check the rest).
func (s Settings) checkEndpoint() error {
	for _, h := range s.LMAllowedHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") || strings.Contains(strings.TrimPrefix(h, "*."), "*") {
			return fmt.Errorf("lmAllowedHosts: %q must be a host name, or *.suffix", h)
		}
	}
	if s.LMBaseURL == "" {
		return nil
	}
	u, err := url.Parse(s.LMBaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("lmBaseUrl %q must be an https URL: credentials are never sent in clear text", s.LMBaseURL)
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".logicmonitor.com") {
		return nil
	}
	for _, a := range s.LMAllowedHosts {
		if suffix, wild := strings.CutPrefix(strings.ToLower(a), "*."); wild && strings.HasSuffix(host, "."+suffix) || strings.ToLower(a) == host {
			return nil
		}
	}
	return fmt.Errorf("lmBaseUrl's host %s is not LogicMonitor's: add it to lmAllowedHosts to send the credentials there", host)
}
