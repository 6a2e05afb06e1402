package infra

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/local/iamsim"
	"github.com/lmtokens/lmtokens/pkg/local/longtest"
)

// synth builds the stack once for all tests (jsii start-up is the slow
// part): with your own KMS key, restricted callers and a dry-run policy.
var synth = sync.OnceValues(func() (*testStack, error) {
	s := DefaultSettings()
	s.KMSKeyArn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	s.AlarmEmail = "ops@example.com"
	s.AllowedPrincipals = []string{"arn:aws:iam::123456789012:role/platform-ops", "210987654321"}
	s.DisablePolicy = map[string]any{"unusedDays": 60, "dryRun": true, "maxActions": 25, "protectedAccessIds": []any{"abc", "def"}}
	s.ReservedConcurrency = 5
	s.Tracing, s.TerminationProtection, s.ManageAPIGatewayAccountRole = true, true, true
	return synthesize(s)
})

// synthDefaults is the stack as cdk.json's defaults make it.
var synthDefaults = sync.OnceValues(func() (*testStack, error) { return synthesize(DefaultSettings()) })

func synthesize(s Settings) (*testStack, error) {
	dir, err := os.MkdirTemp("", "lmtokens-cdk-")
	if err != nil {
		return nil, err
	}
	for _, fn := range catalog.Binaries() {
		_ = os.MkdirAll(filepath.Join(dir, fn), 0o755)
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("binary of "+fn), 0o755); err != nil {
			return nil, err
		}
	}
	s.BinDir = dir
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	st, err := NewStack(app, s.StackName(), &StackProps{Settings: s})
	if err != nil {
		return nil, err
	}
	CheckWithNag(app, false)
	tpl := assertions.Template_FromStack(st.Stack, nil)
	raw, _ := json.Marshal(tpl.ToJSON())
	var doc template
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return &testStack{stack: st, tpl: tpl, doc: doc, settings: s}, nil
}

// synthesizeResolved synthesizes s and reads the template as
// CloudFormation would resolve it (iamsim), for the tests that evaluate it.
func synthesizeResolved(t *testing.T, s Settings) *iamsim.Template {
	t.Helper()
	ts, err := synthesize(s)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ts.tpl.ToJSON())
	tpl, err := iamsim.Parse(raw, s.StackName())
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

type testStack struct {
	stack    *Stack
	tpl      assertions.Template
	doc      template
	settings Settings
}

type template struct {
	Resources map[string]struct {
		Type           string         `json:"Type"`
		Properties     map[string]any `json:"Properties"`
		DeletionPolicy string         `json:"DeletionPolicy"`
	} `json:"Resources"`
	Outputs map[string]any `json:"Outputs"`
}

func load(t *testing.T) *testStack {
	t.Helper()
	if testing.Short() {
		t.Skip("synthesizes the CDK stack")
	}
	ts, err := synth()
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// only returns the one resource of typ (its logical id and properties),
// failing the test when there is not exactly one.
func (ts *testStack) only(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	all := ts.ofType(typ)
	if len(all) != 1 {
		t.Fatalf("%d resources of type %s, want one", len(all), typ)
	}
	for id, props := range all {
		return id, props
	}
	return "", nil
}

func (ts *testStack) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range ts.doc.Resources {
		if r.Type == typ {
			out[id] = r.Properties
		}
	}
	return out
}

func TestFunctions(t *testing.T) {
	ts := load(t)
	fns := ts.ofType("AWS::Lambda::Function")
	if len(fns) != len(catalog.Functions) {
		t.Fatalf("%d functions, want the catalog's %d", len(fns), len(catalog.Functions))
	}
	// Every function: provided.al2023 on arm64, bootstrap, JSON logs at a set level.
	ts.tpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"LoggingConfig": map[string]any{"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"},
	})
	for id, p := range fns {
		timeout := p["Timeout"].(float64)
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env["TOKEN_SECRET_PREFIX"] != "logicmonitor/api-tokens/" || env["LM_CREDENTIALS_SECRET"] == nil || env["TOKEN_SECRET_KMS_KEY_ID"] != ts.settings.KMSKeyArn {
			t.Errorf("%s environment %v", id, env)
		}
		if strings.HasPrefix(id, "Cleanup") {
			if timeout < 60 || p["ReservedConcurrentExecutions"] != 1.0 {
				t.Errorf("%s: timeout %v, reserved %v", id, timeout, p["ReservedConcurrentExecutions"])
			}
			if strings.HasPrefix(id, "CleanupDisable") && (env["CLEANUP_UNUSED_DAYS"] != "60" || env["CLEANUP_PROTECTED_ACCESS_IDS"] != "abc,def") {
				t.Errorf("%s cleanup environment %v", id, env)
			}
			continue
		}
		if strings.HasPrefix(id, "Provider") || strings.HasPrefix(id, "Rotate") {
			continue // answers CloudFormation or Secrets Manager, not API Gateway
		}
		if timeout >= 29 {
			t.Errorf("%s timeout %vs is not under API Gateway's 29 s", id, timeout)
		}
		if !strings.HasPrefix(id, "List") && p["ReservedConcurrentExecutions"] == nil {
			t.Errorf("mutating function %s has no reserved concurrency", id)
		}
	}
	ts.tpl.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(float64(len(catalog.Functions)+1)))
	ts.tpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), &map[string]any{"RetentionInDays": 30})
}

func TestAsyncInvocationSettings(t *testing.T) {
	ts := load(t)
	ts.tpl.ResourceCountIs(jsii.String("AWS::Lambda::EventInvokeConfig"), jsii.Number(float64(len(catalog.Functions))))
	ts.tpl.AllResourcesProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), &map[string]any{
		"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}},
	})
	ts.tpl.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), &map[string]any{"SqsManagedSseEnabled": true})
}

func TestEveryMethodRequiresSigV4(t *testing.T) {
	ts := load(t)
	methods := ts.ofType("AWS::ApiGateway::Method")
	routes := 0
	for _, f := range catalog.Functions {
		routes += len(f.Routes)
	}
	if len(methods) != routes {
		t.Fatalf("%d methods, want one per catalog route (%d)", len(methods), routes)
	}
	ts.tpl.AllResourcesProperties(jsii.String("AWS::ApiGateway::Method"), &map[string]any{"AuthorizationType": "AWS_IAM"})
	verbs := map[string]int{}
	for _, m := range methods {
		verbs[m["HttpMethod"].(string)]++
	}
	if verbs["GET"] != 5 || verbs["POST"] != 4 || verbs["PATCH"] != 2 || verbs["DELETE"] != 2 {
		t.Fatalf("methods %v", verbs)
	}
	ts.tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), &map[string]any{
		"StageName": "v1", "AccessLogSetting": assertions.Match_ObjectLike(&map[string]any{"DestinationArn": assertions.Match_AnyValue()}),
		"MethodSettings": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{"ThrottlingRateLimit": 10, "ThrottlingBurstLimit": 20, "DataTraceEnabled": false})}),
	})
	// The allow-list becomes the API's resource policy.
	api := ts.ofType("AWS::ApiGateway::RestApi")
	for _, p := range api {
		pol, _ := json.Marshal(p["Policy"])
		if !strings.Contains(string(pol), "role/platform-ops") || !strings.Contains(string(pol), "210987654321") || !strings.Contains(string(pol), "execute-api:Invoke") {
			t.Fatalf("resource policy %s", pol)
		}
	}
}

func TestSchedules(t *testing.T) {
	ts := load(t)
	schedules := ts.ofType("AWS::Scheduler::Schedule")
	if len(schedules) != 2 {
		t.Fatalf("%d schedules", len(schedules))
	}
	inputs := map[string]string{}
	for _, p := range schedules {
		target := p["Target"].(map[string]any)
		retry := target["RetryPolicy"].(map[string]any)
		if retry["MaximumRetryAttempts"] != 2.0 || target["DeadLetterConfig"] == nil {
			t.Errorf("retry %v, DLQ %v", retry, target["DeadLetterConfig"])
		}
		inputs[p["ScheduleExpression"].(string)] = fmt.Sprint(target["Input"])
		if p["ScheduleExpressionTimezone"] != "UTC" || p["State"] != "ENABLED" {
			t.Errorf("schedule %v", p)
		}
	}
	// The input only asks for a run; the policy is the function's own.
	for expr, in := range inputs {
		var v map[string]map[string]any
		if err := json.Unmarshal([]byte(in), &v); err != nil || len(v) != 1 || v["cleanup"] == nil || len(v["cleanup"]) != 0 {
			t.Fatalf("schedule %s input %s", expr, in)
		}
	}
	cleanups := 0
	for _, fn := range ts.ofType("AWS::Lambda::Function") {
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		desc := fmt.Sprint(fn["Description"])
		isCleanup := strings.Contains(desc, "cleanup stage")
		if (vars["CLEANUP_ENABLED"] == "true") != isCleanup {
			t.Errorf("%s: CLEANUP_ENABLED %v", desc, vars["CLEANUP_ENABLED"])
		}
		if strings.Contains(desc, "stage 1") {
			cleanups++
			if vars["CLEANUP_UNUSED_DAYS"] != "60" || vars["CLEANUP_DRY_RUN"] != "true" {
				t.Errorf("disable stage policy %v", vars)
			}
		}
		if strings.Contains(desc, "stage 2") {
			cleanups++
			if vars["CLEANUP_UNUSED_DAYS"] != "180" {
				t.Errorf("delete stage policy %v", vars)
			}
		}
		if vars["CLEANUP_ALLOW_WIDENING"] != nil {
			t.Errorf("%s: widening allowed by default", desc)
		}
	}
	if cleanups != 2 {
		t.Fatalf("%d cleanup functions", cleanups)
	}
}

// statements returns every IAM statement with the id of its policy.
// statements are the Allow statements of every identity policy, by policy.
func (ts *testStack) statements() map[string][]map[string]any {
	return ts.statementsOf("Allow")
}

func (ts *testStack) statementsOf(effect string) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for id, p := range ts.ofType("AWS::IAM::Policy") {
		doc := p["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			if m := st.(map[string]any); m["Effect"] == effect {
				out[id] = append(out[id], m)
			}
		}
	}
	return out
}

func list(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			b, _ := json.Marshal(e)
			out = append(out, strings.Trim(string(b), `"`))
		}
		return out
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

func TestLeastPrivilege(t *testing.T) {
	ts := load(t)
	grants := map[string][]string{} // action -> policies
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			actions, resources := list(st["Action"]), list(st["Resource"])
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a, ":*") {
					t.Errorf("%s allows %s", policy, a)
				}
				if strings.HasPrefix(a, "secretsmanager:") {
					if n := len(grants[a]); n == 0 || grants[a][n-1] != policy {
						grants[a] = append(grants[a], policy)
					}
					for _, r := range resources {
						// ListSecrets (portal discovery) has no resource-level
						// permissions; it lists names, never values.
						if r == "*" && a != "secretsmanager:ListSecrets" {
							t.Errorf("%s: %s on Resource *", policy, a)
						}
					}
				}
			}
			if strings.Contains(strings.Join(actions, ","), "secretsmanager:CreateSecret") || strings.Contains(strings.Join(actions, ","), "secretsmanager:DeleteSecret") {
				for _, r := range resources {
					if !strings.Contains(r, ":secret:logicmonitor/api-tokens/") {
						t.Errorf("%s: write access outside the prefix: %s", policy, r)
					}
				}
			}
		}
	}
	only := func(action, fnPrefixes string, want int) {
		got := grants[action]
		if len(got) != want {
			t.Errorf("%s granted to %v, want %d policies", action, got, want)
		}
		for _, p := range got {
			ok := false
			for _, prefix := range strings.Split(fnPrefixes, "|") {
				ok = ok || strings.HasPrefix(p, prefix) || strings.Contains(p, prefix)
			}
			if !ok {
				t.Errorf("%s granted to %s", action, p)
			}
		}
	}
	only("secretsmanager:CreateSecret", "Create|Provider|Rotate", 3)
	only("secretsmanager:PutSecretValue", "Create|Provider|Rotate", 3)
	only("secretsmanager:DeleteSecret", "Delete|Provider|Rotate", 4)
	// Moving labels: the rotation; dropping a cancelled rotation's
	// AWSPENDING: the delete functions and the provider.
	only("secretsmanager:UpdateSecretVersionStage", "Rotate|Delete|Provider", 4)
	only("secretsmanager:RotateSecret", "Create|Provider", 2)
	only("secretsmanager:CancelRotateSecret", "Rotate", 1)
	only("secretsmanager:UntagResource", "CleanupDelete", 1)
	// The rotation function writes records only in its folders, and
	// versions only of keys and credentials.
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			res := fmt.Sprint(st["Resource"])
			if st["Sid"] == "KeepRotationRecords" && (!strings.HasPrefix(policy, "Rotate") || !strings.Contains(res, "api-tokens/*/idempotency/*") || !strings.Contains(res, "api-tokens/rotated-out/*") || strings.Count(res, ":secret:") != 4) {
				t.Errorf("%s: rotation records %v", policy, st["Resource"])
			}
			// Create and the provider write new values only to claims.
			if (strings.HasPrefix(policy, "Create") || strings.HasPrefix(policy, "Provider")) && strings.Contains(fmt.Sprint(st["Action"]), "PutSecretValue") && strings.Count(res, "idempotency/*") != 2 {
				t.Errorf("%s: PutSecretValue on %v", policy, res)
			}
		}
	}
	// Only the rotation function writes rotated-out records: the other
	// writers are denied them.
	denied := map[string]bool{}
	for policy, sts := range ts.statementsOf("Deny") {
		for _, st := range sts {
			if st["Sid"] == "NoRotationRecords" && strings.Contains(fmt.Sprint(st["Action"]), "CreateSecret") && strings.Count(fmt.Sprint(st["Resource"]), "rotated-out/*") == 2 {
				denied[strings.SplitN(policy, "Role", 2)[0]] = true
			}
		}
	}
	if !denied["Create"] || !denied["Provider"] || len(denied) != 2 {
		t.Errorf("rotated-out records denied to %v, want Create and Provider", denied)
	}
	// Every function may read the credentials secret and the registered
	// portals' secrets, and only read them.
	if got := len(grants["secretsmanager:GetSecretValue"]); got != len(catalog.Functions) {
		t.Errorf("GetSecretValue in %d policies, want one per function", got)
	}
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			if st["Sid"] == "ReadPortalCredentials" && !strings.Contains(fmt.Sprint(st["Resource"]), ":secret:lmtokens/portals/*") {
				t.Errorf("%s reads portals outside their prefix: %v", policy, st["Resource"])
			}
		}
	}
	// KMS only for the functions that read keys' values (list and toggle
	// never do), only through Secrets Manager, and encryption only for
	// those that write them.
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			action := fmt.Sprint(st["Action"])
			if !strings.Contains(action, "kms:") {
				continue
			}
			writes := strings.HasPrefix(policy, "Create") || strings.HasPrefix(policy, "Provider") || strings.HasPrefix(policy, "Rotate")
			if strings.HasPrefix(policy, "List") || strings.HasPrefix(policy, "Toggle") || st["Condition"] == nil || strings.Contains(action, "GenerateDataKey") != writes {
				t.Errorf("%s: KMS statement %v", policy, st)
			}
		}
	}
}

func TestAlarmsAndOutputs(t *testing.T) {
	ts := load(t)
	alarms := ts.ofType("AWS::CloudWatch::Alarm")
	// Errors (with 5xx answers) and throttles of each function, both
	// queues, API 5xx, events not delivered, per cleanup stage runs not ok
	// and the heartbeat, the provider's failures, warnings not delivered
	// and notifications failed.
	if len(alarms) != len(catalog.Functions)*2+2+1+1+2*2+1+2 {
		t.Fatalf("%d alarms", len(alarms))
	}
	ts.tpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{"AlarmActions": assertions.Match_AnyValue(), "OKActions": assertions.Match_AnyValue()})
	metrics := map[string]int{}
	for _, a := range alarms {
		metrics[fmt.Sprint(a["MetricName"])]++
		if !strings.HasPrefix(fmt.Sprint(a["AlarmName"]), "lmtokens-") || a["AlarmDescription"] == nil {
			t.Errorf("alarm %v", a["AlarmName"])
		}
	}
	if metrics["Errors"] != len(catalog.Functions)-4 || metrics["Throttles"] != len(catalog.Functions) || metrics["ApproximateNumberOfMessagesVisible"] != 3 || metrics["5XXError"] != 1 ||
		metrics["CleanupRunsNotOkCleanupDisable"] != 1 || metrics["CleanupRunsNotOkCleanupDelete"] != 1 {
		t.Fatalf("alarm metrics %v", metrics)
	}
	ts.tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
	for _, o := range []string{"ApiUrl", "SecretPrefix", "CreateFunctionArn", "ListFunctionArn", "ToggleFunctionArn", "DeleteFunctionArn", "CleanupDisableFunctionArn", "CleanupDeleteFunctionArn"} {
		if _, ok := ts.doc.Outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
}

func TestCdkNagEveryPack(t *testing.T) {
	longtest.Mark(t)
	for _, st := range []*testStack{load(t), loadDefaults(t)} {
		noNagErrors(t, st)
	}
}

// noNagErrors fails the test with every cdk-nag error on the stack
// (HasNoError panics with all of them listed).
func noNagErrors(t *testing.T, ts *testStack) {
	t.Helper()
	for _, prefix := range NagRulePrefixes {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %v", ts.settings.StackName(), r)
				}
			}()
			assertions.Annotations_FromStack(ts.stack.Stack).HasNoError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(regexp.QuoteMeta(prefix)+".*")))
		}()
	}
}

func TestSettings(t *testing.T) {
	ctx := map[string]any{"recoveryDays": "14", "allowedPrincipals": "123456789012, arn:aws:iam::123456789012:role/x", "disablePolicy": `{"unusedDays":30}`, "schedulesEnabled": "false"}
	s, err := SettingsFromContext(func(k string) any { return ctx[k] })
	if err != nil || s.RecoveryDays != 14 || len(s.AllowedPrincipals) != 2 || s.DisablePolicy["unusedDays"] != 30.0 || s.SchedulesEnabled {
		t.Fatalf("%+v %v", s, err)
	}
	for key, bad := range map[string]any{
		"credentialsSecret": "bad name!", "recoveryDays": "3", "disableSchedule": "daily", "allowedPrincipals": "everyone",
		"deletePolicy": `{"unusedDay":1}`, "logLevel": "LOUD", "kmsKeyArn": "alias/x", "apiThrottleRate": "fast",
		"lmBaseUrl": "http://acme.logicmonitor.com/santaba/rest", "lmAllowedHosts": "https://x.example",
	} {
		if _, err := SettingsFromContext(func(k string) any {
			if k == key {
				return bad
			}
			return nil
		}); err == nil {
			t.Errorf("%s=%v accepted", key, bad)
		}
	}
	// Credentials go to LogicMonitor, or to a host the deployment names.
	for base, ok := range map[string]bool{"https://acme.logicmonitor.com/santaba/rest": true, "https://lm.corp.example/santaba/rest": false, "https://eu.lm.corp.example/rest": true} {
		ctx := map[string]any{"lmBaseUrl": base}
		if strings.Contains(base, "eu.") {
			ctx["lmAllowedHosts"] = "*.lm.corp.example"
		}
		if _, err := SettingsFromContext(func(k string) any { return ctx[k] }); (err == nil) != ok {
			t.Errorf("lmBaseUrl %s: %v", base, err)
		}
	}
}

// Without allowedPrincipals the API has no resource policy: IAM alone
// decides (TestSecurityModelAsAWSEvaluatesIt checks the policy with it).
func TestNoAPIResourcePolicyByDefault(t *testing.T) {
	for _, a := range loadDefaults(t).ofType("AWS::ApiGateway::RestApi") {
		if a["Policy"] != nil {
			t.Errorf("default API has a resource policy %v", a["Policy"])
		}
	}
}

func loadDefaults(t *testing.T) *testStack {
	t.Helper()
	if testing.Short() {
		t.Skip("synthesizes the CDK stack")
	}
	ts, err := synthDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// By default the created keys are encrypted with the stack's own key:
// rotation on, kept on delete, usable by the create function alone and only
// through Secrets Manager.
func TestCreatedKeysUnderTheStacksOwnKey(t *testing.T) {
	ts := loadDefaults(t)
	var keyID string
	for id, k := range ts.ofType("AWS::KMS::Key") {
		if !strings.Contains(fmt.Sprint(k["Description"]), "LogicMonitor keys") {
			continue
		}
		keyID = id
		if k["EnableKeyRotation"] != true {
			t.Errorf("key rotation off: %v", k)
		}
	}
	if ts.doc.Resources[keyID].Type == "" {
		t.Fatal("no key")
	}
	if !strings.Contains(fmt.Sprint(ts.doc.Outputs["CreatedKeysKmsKeyArn"]), keyID) {
		t.Errorf("no output of the key's ARN: %v", ts.doc.Outputs["CreatedKeysKmsKeyArn"])
	}
	users := 0
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			if !strings.Contains(fmt.Sprint(st["Action"]), "kms:") {
				continue
			}
			users++
			if strings.HasPrefix(policy, "List") || strings.HasPrefix(policy, "Toggle") || !strings.Contains(fmt.Sprint(st["Condition"]), "kms:ViaService") || !strings.Contains(fmt.Sprint(st["Resource"]), keyID) {
				t.Errorf("%s: %v", policy, st)
			}
		}
	}
	if users != 6 {
		t.Errorf("%d statements grant KMS actions, want the six functions' that read keys' values (all but list and toggle)", users)
	}
	for _, fn := range ts.ofType("AWS::Lambda::Function") {
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		if !strings.Contains(fmt.Sprint(vars["TOKEN_SECRET_KMS_KEY_ID"]), keyID) || vars["PROTECTED_ROLES"] != "administrator" {
			t.Errorf("%v", vars)
		}
	}
	// The opt-out keeps the AWS-managed key, and creates none.
	s := DefaultSettings()
	s.UseAWSManagedKey, s.KMSKeyArn = true, "arn:aws:kms:us-east-1:123456789012:key/x"
	if err := s.Validate(); err == nil {
		t.Error("useAwsManagedKey with kmsKeyArn accepted")
	}
}

// The access log records what the audit trail joins on.
func TestAccessLogFormat(t *testing.T) {
	ts := load(t)
	for _, st := range ts.ofType("AWS::ApiGateway::Stage") {
		format := fmt.Sprint(st["AccessLogSetting"].(map[string]any)["Format"])
		for _, v := range []string{"$context.path", "$context.identity.userArn", "$context.requestId", "$context.status",
			"$context.integration.status", "$context.integration.latency", "$context.error.message"} {
			if !strings.Contains(format, v) {
				t.Errorf("access log lacks %s: %s", v, format)
			}
		}
		var probe map[string]any
		if err := json.Unmarshal([]byte(format), &probe); err != nil {
			t.Errorf("access log format is not JSON: %v", err)
		}
	}
}

// Two environments deploy side by side: nothing named twice.
func TestEnvironmentsSideBySide(t *testing.T) {
	longtest.Mark(t)
	if testing.Short() {
		t.Skip("synthesizes the CDK stack")
	}
	names := map[string]map[string]bool{}
	for _, env := range []string{"dev", "prod"} {
		s, err := SettingsFromContext(func(k string) any { return map[string]any{"env": env}[k] })
		if err != nil {
			t.Fatal(err)
		}
		if s.SecretPrefix != "logicmonitor/api-tokens-"+env+"/" || s.PortalsPrefix != "lmtokens/portals-"+env+"/" ||
			s.CredentialsSecret != "lmtokens/logicmonitor-credentials-"+env || s.StackName() != "LMTokens-"+env {
			t.Fatalf("%s: prefixes %s %s, credentials %s, stack %s", env, s.SecretPrefix, s.PortalsPrefix, s.CredentialsSecret, s.StackName())
		}
		ts, err := synthesize(s)
		if err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{s.StackName(): true, s.SecretPrefix: true}
		for _, typ := range []string{"AWS::ApiGateway::RestApi", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"} {
			for _, r := range ts.ofType(typ) {
				for _, k := range []string{"Name", "AlarmName", "DashboardName"} {
					if v, ok := r[k]; ok {
						set[fmt.Sprint(v)] = true
					}
				}
			}
		}
		names[env] = set
		// Every taggable resource carries the project and the environment.
		for id, r := range ts.doc.Resources {
			switch r.Type {
			case "AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::KMS::Key", "AWS::IAM::Role", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage":
				tags := fmt.Sprint(r.Properties["Tags"])
				if !strings.Contains(tags, "project") || !strings.Contains(tags, env) {
					t.Errorf("%s %s: tags %s", env, id, tags)
				}
			}
		}
	}
	for n := range names["dev"] {
		if names["prod"][n] {
			t.Errorf("dev and prod both use the name %q", n)
		}
	}
	if len(names["dev"]) < 20 {
		t.Fatalf("only %d names compared", len(names["dev"]))
	}
	// Environments cannot nest: a prefix inside another environment's, or
	// one wrapping others', is refused.
	for _, c := range []map[string]any{
		{"env": "dev", "secretPrefix": "logicmonitor/api-tokens/dev/"},
		{"env": "dev", "secretPrefix": "logicmonitor/api-tokens-prod/x/"},
		{"secretPrefix": "logicmonitor/"},
		{"env": "dev", "portalsPrefix": "lmtokens/portals/dev/"},
		{"stackName": "bad name"},
	} {
		if _, err := SettingsFromContext(func(k string) any { return c[k] }); err == nil {
			t.Errorf("%v accepted", c)
		}
	}
	// A renamed stack renames everything derived from the name.
	ren, err := SettingsFromContext(func(k string) any { return map[string]any{"stackName": "TeamTokens"}[k] })
	if err != nil || ren.StackName() != "TeamTokens" || ren.BaseName() != "teamtokens" {
		t.Fatalf("renamed: %v %s %s", err, ren.StackName(), ren.BaseName())
	}
	ts, err := synthesize(ren)
	if err != nil {
		t.Fatal(err)
	}
	if out := fmt.Sprint(ts.doc.Outputs["ServiceToken"]); !strings.Contains(out, "TeamTokens-ServiceToken") {
		t.Errorf("export of the renamed stack: %s", out)
	}
	for _, r := range ts.ofType("AWS::CloudWatch::Alarm") {
		if !strings.HasPrefix(fmt.Sprint(r["AlarmName"]), "teamtokens-") {
			t.Errorf("alarm of the renamed stack: %v", r["AlarmName"])
		}
	}
}

// A reservation the account's quota cannot hold is refused at synth.
func TestReservedConcurrencyMustFitTheQuota(t *testing.T) {
	s := DefaultSettings()
	if s.reservedTotal() != 0 {
		t.Fatal("the default reserves concurrency")
	}
	for _, c := range []struct {
		reserved, quota int
		ok              bool
	}{{0, 10, true}, {1, 10, false}, {5, 50, false}, {5, 1000, true}, {300, 1000, false}} {
		s.ReservedConcurrency, s.ConcurrencyQuota = c.reserved, c.quota
		err := s.Validate()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "Service Quotas")) {
			t.Errorf("reserve %d of %d: %v", c.reserved, c.quota, err)
		}
	}
}

func TestHardening(t *testing.T) {
	ts, def := load(t), loadDefaults(t)
	for _, api := range def.ofType("AWS::ApiGateway::RestApi") {
		if api["SecurityPolicy"] != "TLS_1_2" || api["MinimumCompressionSize"] != 1024.0 {
			t.Errorf("security policy %v, compression %v", api["SecurityPolicy"], api["MinimumCompressionSize"])
		}
	}
	// The region-wide logging role only when asked for.
	if n := len(def.ofType("AWS::ApiGateway::Account")); n != 0 {
		t.Errorf("the default stack takes over the region's API Gateway account settings")
	}
	if n := len(ts.ofType("AWS::ApiGateway::Account")); n != 1 {
		t.Errorf("manageApiGatewayAccountRole: %d account resources", n)
	}
	// Scheduler may assume the roles only for this account's schedules.
	for id, r := range def.ofType("AWS::IAM::Role") {
		doc := fmt.Sprint(r["AssumeRolePolicyDocument"])
		if strings.Contains(doc, "scheduler.amazonaws.com") && (!strings.Contains(doc, "aws:SourceAccount") || !strings.Contains(doc, "aws:SourceArn")) {
			t.Errorf("%s trusts the scheduler without conditions: %s", id, doc)
		}
	}
	// Tracing and termination protection are options.
	for id, fn := range ts.ofType("AWS::Lambda::Function") {
		if fmt.Sprint(fn["TracingConfig"]) != "map[Mode:Active]" {
			t.Errorf("%s tracing %v", id, fn["TracingConfig"])
		}
	}
	for id, fn := range def.ofType("AWS::Lambda::Function") {
		if fn["TracingConfig"] != nil || fn["ReservedConcurrentExecutions"] != nil {
			t.Errorf("%s: tracing or reserved concurrency by default", id)
		}
	}
	if !*ts.stack.TerminationProtection() || *def.stack.TerminationProtection() {
		t.Error("termination protection")
	}
}

// Operators are told: failed or partial cleanup runs and per-token errors
// become metrics with an alarm; a cleanup that does not run raises its
// heartbeat; a dashboard shows it all.
func TestOperatorsAreTold(t *testing.T) {
	ts := loadDefaults(t)
	patterns := map[string]string{}
	for _, f := range ts.ofType("AWS::Logs::MetricFilter") {
		for _, m := range f["MetricTransformations"].([]any) {
			patterns[fmt.Sprint(m.(map[string]any)["MetricName"])] = fmt.Sprint(f["FilterPattern"])
		}
	}
	for _, stage := range []string{"CleanupDisable", "CleanupDelete"} {
		if p := patterns["CleanupRunsNotOk"+stage]; !strings.Contains(p, `$.report.outcome = "partial"`) || !strings.Contains(p, `$.report.outcome = "failed"`) {
			t.Errorf("%s: not-ok filter %q", stage, p)
		}
		if p := patterns["CleanupTokenErrors"+stage]; !strings.Contains(p, "$.report.failed > 0") {
			t.Errorf("%s: token-error filter %q", stage, p)
		}
	}
	if patterns["LogicMonitorRequestsCreate"] == "" || patterns["RateLimitRemainingList"] == "" {
		t.Errorf("request metrics missing: %v", patterns)
	}
	beats := map[string]map[string]any{}
	for _, a := range ts.ofType("AWS::CloudWatch::Alarm") {
		if name := fmt.Sprint(a["AlarmName"]); strings.HasSuffix(name, "Heartbeat") {
			beats[name] = a
		}
	}
	for name, days := range map[string]float64{"lmtokens-CleanupDisableHeartbeat": 2, "lmtokens-CleanupDeleteHeartbeat": 7} {
		a := beats[name]
		if a == nil || a["TreatMissingData"] != "breaching" || a["ComparisonOperator"] != "LessThanThreshold" || a["EvaluationPeriods"] != days || a["DatapointsToAlarm"] != days {
			t.Errorf("%s: %v", name, a)
		}
	}
	if len(ts.ofType("AWS::CloudWatch::Dashboard")) != 1 {
		t.Error("no dashboard")
	}
	for expr, want := range map[string]int{"cron(0 3 * * ? *)": 2, "cron(0 4 ? * MON *)": 7, "rate(3 days)": 4, "rate(12 hours)": 2, "rate(30 days)": 7} {
		if got := heartbeatDays(expr); got != want {
			t.Errorf("heartbeatDays(%s) = %d, want %d", expr, got, want)
		}
	}
}

// The warnings' marks live in a table of their own: on demand, encrypted,
// recoverable, bounded by TTL; only the two cleanup functions are told of
// it, and only they may write it (the IAM checks are in security_test.go).
func TestWarningMarksTable(t *testing.T) {
	ts := loadDefaults(t)
	id, tab := ts.only(t, "AWS::DynamoDB::Table")
	if tab["BillingMode"] != "PAY_PER_REQUEST" || fmt.Sprint(tab["TimeToLiveSpecification"]) != "map[AttributeName:expiresAt Enabled:true]" ||
		fmt.Sprint(tab["PointInTimeRecoverySpecification"]) != "map[PointInTimeRecoveryEnabled:true]" || fmt.Sprint(tab["SSESpecification"]) != "map[SSEEnabled:true]" {
		t.Errorf("table %v", tab)
	}
	if !strings.Contains(fmt.Sprint(tab["ResourcePolicy"]), "OnlyCleanupWritesMarks") {
		t.Errorf("no resource policy: %v", tab["ResourcePolicy"])
	}
	told := 0
	for _, fn := range ts.ofType("AWS::Lambda::Function") {
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		isCleanup := strings.Contains(fmt.Sprint(fn["Description"]), "cleanup stage")
		if _, has := vars["CLEANUP_MARKS_TABLE"]; has != isCleanup || has && fmt.Sprint(vars["CLEANUP_MARKS_TABLE"]) != fmt.Sprintf("map[Ref:%s]", id) {
			t.Errorf("%s: CLEANUP_MARKS_TABLE %v", fn["Description"], vars["CLEANUP_MARKS_TABLE"])
		}
		if isCleanup {
			told++
		}
	}
	if told != 2 {
		t.Errorf("%d cleanup functions", told)
	}
}

// Lifecycle events go to the environment's bus, which each function may put
// events on and nothing more; warnings are routed to their own topic.
func TestEventBus(t *testing.T) {
	ts := loadDefaults(t)
	busID, bus := ts.only(t, "AWS::Events::EventBus")
	if bus["Name"] != "lmtokens" {
		t.Errorf("bus %v", bus["Name"])
	}
	puts := 0
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			if !strings.Contains(fmt.Sprint(st["Action"]), "events:") {
				continue
			}
			puts++
			if fmt.Sprint(st["Action"]) != "events:PutEvents" || !strings.Contains(fmt.Sprint(st["Resource"]), busID) {
				t.Errorf("%s: %v", policy, st)
			}
		}
	}
	if puts != len(catalog.Functions)-1 {
		t.Errorf("%d functions may put events, want every one that changes something (all but list)", puts)
	}
	for _, fn := range ts.ofType("AWS::Lambda::Function") {
		vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
		if !strings.Contains(fmt.Sprint(vars["EVENT_BUS_NAME"]), busID) {
			t.Errorf("EVENT_BUS_NAME %v", vars["EVENT_BUS_NAME"])
		}
	}
	rules := ts.ofType("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	for _, r := range rules {
		if p := fmt.Sprint(r["EventPattern"]); !strings.Contains(p, "API Token Will Be Disabled") || !strings.Contains(p, "lmtokens") {
			t.Errorf("warnings rule %s", p)
		}
	}
}

// Secrets Manager, and only for this account, may invoke the rotation
// function; create and the provider know it; the credentials secret rotates
// on the schedule the setting asks for, and not at all without it.
func TestRotationWiring(t *testing.T) {
	ts := load(t)
	scopes := map[string]bool{}
	for _, p := range ts.ofType("AWS::Lambda::Permission") {
		if p["Principal"] != "secretsmanager.amazonaws.com" {
			continue
		}
		if p["Action"] != "lambda:InvokeFunction" || p["SourceAccount"] == nil || !strings.Contains(fmt.Sprint(p["FunctionName"]), "Rotate") {
			t.Errorf("Secrets Manager's permission %v", p)
		}
		arn := fmt.Sprint(p["SourceArn"])
		switch {
		case strings.Contains(arn, ":secret:logicmonitor/api-tokens/*"):
			scopes["keys"] = true
		case strings.Contains(arn, ":secret:lmtokens/portals/*"):
			scopes["portals"] = true
		case strings.Contains(arn, "lmtokens/logicmonitor-credentials"):
			scopes["credentials"] = true
		default:
			t.Errorf("Secrets Manager may invoke the rotation function for %s", arn)
		}
	}
	if len(scopes) != 3 {
		t.Errorf("Secrets Manager may rotate %v, want keys, portals and the credentials", scopes)
	}
	// Versions move only under the prefix, the portals and the credentials.
	for policy, sts := range ts.statements() {
		for _, st := range sts {
			if !strings.Contains(fmt.Sprint(st["Action"]), "UpdateSecretVersionStage") {
				continue
			}
			resources, _ := st["Resource"].([]any)
			if len(resources) != 3 && strings.HasPrefix(policy, "Rotate") {
				t.Errorf("%s: UpdateSecretVersionStage on %v", policy, st["Resource"])
			}
			if resources == nil {
				resources = []any{st["Resource"]}
			}
			for _, r := range resources {
				if text := fmt.Sprint(r); !strings.Contains(text, ":secret:logicmonitor/api-tokens/*") && !strings.Contains(text, ":secret:lmtokens/portals/*") && !strings.Contains(text, "lmtokens/logicmonitor-credentials") {
					t.Errorf("%s: UpdateSecretVersionStage on %s", policy, text)
				}
			}
		}
	}
	for _, p := range ts.ofType("AWS::Lambda::Function") {
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		desc := fmt.Sprint(p["Description"])
		_, has := env["ROTATION_FUNCTION_ARN"]
		starts := strings.Contains(desc, "create a token") || strings.Contains(desc, "CloudFormation resource")
		if has != starts {
			t.Errorf("%s: ROTATION_FUNCTION_ARN set %v", desc, has)
		}
		if strings.Contains(desc, "rotation of stored keys") && (env["ROTATION_GRACE"] != "24h" || env["ROTATION_DELETE_AFTER"] != "168h") {
			t.Errorf("rotation function environment %v", env)
		}
	}
	if _, ok := ts.doc.Outputs["RotateFunctionArn"]; !ok {
		t.Error("no output of the rotation function's ARN")
	}
	ts.tpl.ResourceCountIs(jsii.String("AWS::SecretsManager::RotationSchedule"), jsii.Number(0))

	s := DefaultSettings()
	s.CredentialsRotationDays, s.RotationDays = 30, 90
	withRotation, err := synthesize(s)
	if err != nil {
		t.Fatal(err)
	}
	withRotation.tpl.HasResourceProperties(jsii.String("AWS::SecretsManager::RotationSchedule"), &map[string]any{
		"SecretId": s.CredentialsSecret, "RotationRules": map[string]any{"AutomaticallyAfterDays": 30},
	})
	withRotation.tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"TOKEN_ROTATION_DAYS": "90"})},
	})
	bad := DefaultSettings()
	bad.RotationDays = 400
	if bad.Validate() == nil {
		t.Error("rotationDays 400 accepted")
	}
}

// What the README's teardown runbook says cdk destroy leaves: the KMS keys
// and the log groups (retained), and none of the secrets, which the
// functions make at run time and the stack does not own.
func TestWhatTeardownLeaves(t *testing.T) {
	for _, ts := range []*testStack{loadDefaults(t), loadSecurity(t)} {
		keys := 0
		for id, r := range ts.doc.Resources {
			retained := r.DeletionPolicy == "Retain"
			switch r.Type {
			case "AWS::KMS::Key", "AWS::Logs::LogGroup":
				keys++
				if !retained {
					t.Errorf("%s (%s) is deleted with the stack; the runbook says it is kept", id, r.Type)
				}
			case "AWS::SecretsManager::Secret":
				t.Errorf("%s: the stack owns a secret; the runbook says it owns none", id)
			default:
				if retained {
					t.Errorf("%s (%s) is kept; the runbook does not say so", id, r.Type)
				}
			}
		}
		if keys < 4+9 {
			t.Errorf("%d keys and log groups; the runbook names four keys and a log group per function and the access log", keys)
		}
	}
}

// Two synths of the same settings give the same template: a logical id
// that moves between synths (the API deployment's hash follows the order
// constructs are added in) would replace resources on every deploy, and
// cdk synth would disagree with make synth.
func TestSynthIsDeterministic(t *testing.T) {
	longtest.Mark(t)
	first, err := synthDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.MarshalIndent(first.tpl.ToJSON(), "", " ")
	for range 4 {
		again, err := synthesize(DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.MarshalIndent(again.tpl.ToJSON(), "", " ")
		if !bytes.Equal(got, want) {
			t.Fatalf("two synths differ:\n%s", firstDifference(want, got))
		}
	}
}
