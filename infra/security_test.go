package infra

// The README's security model, promise by promise, as AWS evaluates it: the
// synthesized template's policies (identity, key, topic, queue, bus, API,
// function and trust policies) go through @cloud-copilot/iam-simulate, and
// each check names the decision and the statement it rests on. Promises
// that are not about IAM name the tests that keep them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/iamsim"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

// synthSecurity is the stack the promises are checked on: the defaults (the
// stack's own key for stored keys) with allowedPrincipals, keyReaders and
// both e-mail subscriptions set.
var synthSecurity = sync.OnceValues(func() (*testStack, error) {
	s := DefaultSettings()
	s.AllowedPrincipals = []string{"arn:aws:iam::123456789012:role/platform-ops", "210987654321"}
	s.KeyReaders = []string{"arn:aws:iam::123456789012:role/pipeline"}
	s.AlarmEmail, s.WarningEmail = "ops@example.com", "owners@example.com"
	return synthesize(s)
})

// check is one simulated request and what AWS must decide.
type check struct {
	what string
	req  iamsim.Request
	want string
	// by is the Sid of the statement the decision rests on (the policy's
	// logical id for a statement without one); "resource policy" accepts
	// any statement of the resource's policy, "" none (an implicit deny).
	by string
}

// promise is one bold lead of the README's Security model section.
type promise struct {
	lead   string
	checks func(e *world) []check
	// tests keep the parts IAM does not decide: "<package dir>.<TestName>".
	tests []string
}

var promises = []promise{
	{lead: "A key is in its secret and nowhere else.", tests: []string{
		"pkg/handlers.TestCreateStoresKeyAndAnswersWithoutIt", "pkg/handlers.TestMain", "pkg/handlers.TestEveryChangeEmitsOneEvent",
		"pkg/handlers.TestBinariesThroughRuntimeAPI", "pkg/logicmonitor.TestTokenEncodesAsEncodingJSONWould",
	}},
	{lead: "Only the named readers can decrypt a stored key.", checks: func(e *world) []check {
		key, secret, outside := e.arn("AWS::KMS::Key", "CreatedKeysKey"), e.secret("logicmonitor/api-tokens/2/9"), e.secret("payments/db")
		return []check{
			{"create decrypts a stored key through Secrets Manager", e.as("Create", "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.Allowed, "FunctionsWriteKeys"},
			{"create encrypts a new key through Secrets Manager", e.as("Create", "kms:GenerateDataKey", key, "CreatedKeysKey", viaSM(secret)), iamsim.Allowed, "FunctionsWriteKeys"},
			{"create calls KMS directly", e.as("Create", "kms:Decrypt", key, "CreatedKeysKey", nil), iamsim.ImplicitlyDenied, ""},
			{"create decrypts another application's secret", e.as("Create", "kms:Decrypt", key, "CreatedKeysKey", viaSM(outside)), iamsim.ImplicitlyDenied, ""},
			{"delete reads a stored key", e.as("Delete", "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.Allowed, "ReadKeys"},
			{"delete writes one", e.as("Delete", "kms:GenerateDataKey", key, "CreatedKeysKey", viaSM(secret)), iamsim.ImplicitlyDenied, ""},
			{"list reads one", e.as("List", "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.ImplicitlyDenied, ""},
			{"toggle reads one", e.as("Toggle", "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.ImplicitlyDenied, ""},
			{"a keyReaders role reads one", e.outsider(reader, readerPolicy, "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.Allowed, "ReadKeys"},
			{"an administrator (Action *) reads one", e.outsider(admin, adminPolicy, "kms:Decrypt", key, "CreatedKeysKey", viaSM(secret)), iamsim.ImplicitlyDenied, ""},
			{"an administrator grants itself use", e.outsider(admin, adminPolicy, "kms:CreateGrant", key, "CreatedKeysKey", nil), iamsim.ImplicitlyDenied, ""},
			{"an administrator rewrites the key policy (CloudTrail records it)", e.outsider(admin, adminPolicy, "kms:PutKeyPolicy", key, "CreatedKeysKey", nil), iamsim.Allowed, "AdministerWithoutUse"},
			{"an administrator reads the secret's value without the key", e.outsider(admin, adminPolicy, "secretsmanager:GetSecretValue", secret, "", nil), iamsim.Allowed, "admin"},
		}
	}},
	{lead: "Only lmtokens speaks as lmtokens.", checks: func(e *world) []check {
		bus := e.arn("AWS::Events::EventBus", "Events")
		source := func(s ...string) map[string]any { return map[string]any{"events:source": s} }
		return []check{
			{"an administrator puts a source lmtokens event", e.outsider(admin, adminPolicy, "events:PutEvents", bus, "Events", source("lmtokens")), iamsim.ExplicitlyDenied, "lmtokens-source"},
			{"an administrator hides one among others", e.outsider(admin, adminPolicy, "events:PutEvents", bus, "Events", source("payments", "lmtokens")), iamsim.ExplicitlyDenied, "lmtokens-source"},
			{"an administrator puts its own events", e.outsider(admin, adminPolicy, "events:PutEvents", bus, "Events", source("payments")), iamsim.Allowed, "admin"},
			{"create puts lmtokens events", e.as("Create", "events:PutEvents", bus, "Events", source("lmtokens")), iamsim.Allowed, e.policy("Create")},
			{"the cleanup delete stage puts lmtokens events", e.as("CleanupDelete", "events:PutEvents", bus, "Events", source("lmtokens")), iamsim.Allowed, e.policy("CleanupDelete")},
			{"list puts none", e.as("List", "events:PutEvents", bus, "Events", source("lmtokens")), iamsim.ExplicitlyDenied, "lmtokens-source"},
		}
	}},
	{lead: "Only listed principals call the API.", tests: []string{"infra.TestEveryMethodRequiresSigV4"}, checks: func(e *world) []check {
		var out []check
		invoke := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}}}
		for _, route := range e.routes() {
			out = append(out,
				check{"the listed role calls " + route, e.outsider("arn:aws:iam::123456789012:role/platform-ops", invoke, "execute-api:Invoke", e.methodARN(route), "Api", nil), iamsim.Allowed, "identity"},
				check{"an unlisted role of the account, allowed by IAM, calls " + route, e.outsider("arn:aws:iam::123456789012:role/some-pipeline", invoke, "execute-api:Invoke", e.methodARN(route), "Api", nil), iamsim.ExplicitlyDenied, "DenyEveryoneElse"},
				check{"a role of the listed account calls " + route, e.outsider("arn:aws:iam::210987654321:role/anything", invoke, "execute-api:Invoke", e.methodARN(route), "Api", nil), iamsim.Allowed, "AllowListedPrincipals"},
			)
		}
		return append(out,
			check{"a role of the listed account without its own grant", e.outsider("arn:aws:iam::210987654321:role/anything", nil, "execute-api:Invoke", e.methodARN("GET /tokens"), "Api", nil), iamsim.ImplicitlyDenied, ""},
			check{"a user of another account", e.outsider("arn:aws:iam::999999999999:user/mallory", invoke, "execute-api:Invoke", e.methodARN("GET /tokens"), "Api", nil), iamsim.ExplicitlyDenied, "DenyEveryoneElse"},
		)
	}},
	{lead: "A caller's policy can scope it to one LogicMonitor user.", tests: []string{"pkg/handlers.TestOnlyCanonicalIDsPass"}, checks: func(e *world) []check {
		policy := e.readmePolicy("per-user")
		arn := func(path string) string {
			return "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1/" + path
		}
		pipeline := "arn:aws:iam::123456789012:role/pipeline"
		return []check{
			{"the pipeline creates a key for user 2", e.outsider(pipeline, policy, "execute-api:Invoke", arn("POST/admins/2/tokens"), "", nil), iamsim.Allowed, "identity"},
			{"the pipeline creates a key for user 3", e.outsider(pipeline, policy, "execute-api:Invoke", arn("POST/admins/3/tokens"), "", nil), iamsim.ImplicitlyDenied, ""},
			{"the pipeline creates a key for user 22", e.outsider(pipeline, policy, "execute-api:Invoke", arn("POST/admins/22/tokens"), "", nil), iamsim.ImplicitlyDenied, ""},
			{"the pipeline deletes user 2's token", e.outsider(pipeline, policy, "execute-api:Invoke", arn("DELETE/admins/2/tokens/9"), "", nil), iamsim.ImplicitlyDenied, ""},
		}
	}},
	{lead: "Whoever may invoke a function is trusted as its caller.", tests: []string{"pkg/handlers.TestProviderTrustsOnlyWhatItCanCheck"}, checks: func(e *world) []check {
		provider, cleanup, rotate := e.arn("AWS::Lambda::Function", "Provider"), e.arn("AWS::Lambda::Function", "CleanupDisable"), e.arn("AWS::Lambda::Function", "Rotate")
		create := e.arn("AWS::Lambda::Function", "Create")
		scp := e.readmePolicy("confine-invocation")
		confined := func(c check) check {
			c.what += ", under the README's SCP"
			c.req.SCPs = []iamsim.Policy{{Name: "confine-invocation", Document: scp}, {Name: "FullAWSAccess", Document: adminPolicy}}
			return c
		}
		route := e.methodARN("POST /admins/{adminId}/tokens")
		return []check{
			{"an administrator invokes the provider", e.outsider(admin, adminPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.Allowed, "admin"},
			{"a role without lambda:InvokeFunction", e.outsider("arn:aws:iam::123456789012:role/reader", readerPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.ImplicitlyDenied, ""},
			{"a role of another account, allowed by its own IAM", e.outsider("arn:aws:iam::999999999999:role/x", adminPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.ImplicitlyDenied, ""},
			{"API Gateway invokes create for its route", e.service("apigateway.amazonaws.com", "lambda:InvokeFunction", create, "Create", map[string]any{"aws:SourceArn": route, "aws:SourceAccount": iamsim.Account}), iamsim.Allowed, "resource policy"},
			{"API Gateway invokes create for another API", e.service("apigateway.amazonaws.com", "lambda:InvokeFunction", create, "Create", map[string]any{"aws:SourceArn": "arn:aws:execute-api:us-east-1:123456789012:otherapi/v1/POST/admins/2/tokens", "aws:SourceAccount": iamsim.Account}), iamsim.ImplicitlyDenied, ""},
			confined(check{"an administrator invokes the provider", e.outsider(admin, adminPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.ExplicitlyDenied, "OnlyNamedCallersInvokeLmtokens"}),
			confined(check{"the platform role invokes the provider", e.outsider("arn:aws:iam::123456789012:role/platform-ops", adminPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.Allowed, "identity"}),
			confined(check{"the CDK deploy role invokes the provider", e.outsider("arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1", adminPolicy, "lambda:InvokeFunction", provider, "Provider", nil), iamsim.Allowed, "identity"}),
			confined(check{"the disable schedule invokes its cleanup", e.as("CleanupDisableSchedule", "lambda:InvokeFunction", cleanup, "CleanupDisable", nil), iamsim.Allowed, e.policy("CleanupDisableSchedule")}),
			confined(check{"Secrets Manager rotates a stored key", e.service("secretsmanager.amazonaws.com", "lambda:InvokeFunction", rotate, "Rotate", map[string]any{"aws:SourceArn": e.secret("logicmonitor/api-tokens/2/9"), "aws:SourceAccount": iamsim.Account}), iamsim.Allowed, "resource policy"}),
		}
	}},
	{lead: "Secrets Manager starts the rotation function only for lmtokens' secrets.", tests: []string{"pkg/handlers.TestRotationContract"}, checks: func(e *world) []check {
		rotate := e.arn("AWS::Lambda::Function", "Rotate")
		from := func(secret, account string) iamsim.Request {
			return e.service("secretsmanager.amazonaws.com", "lambda:InvokeFunction", rotate, "Rotate", map[string]any{"aws:SourceArn": secret, "aws:SourceAccount": account})
		}
		key := e.secret("logicmonitor/api-tokens/2/9")
		rotation := func(fn string) map[string]any { return map[string]any{"secretsmanager:RotationLambdaARN": fn} }
		return []check{
			{"a stored key", from(key, iamsim.Account), iamsim.Allowed, e.id("AWS::Lambda::Permission", "RotateSecretsManagerRotatesKeys")},
			{"a registered portal's credentials", from(e.secret("lmtokens/portals/acme"), iamsim.Account), iamsim.Allowed, e.id("AWS::Lambda::Permission", "RotateSecretsManagerRotatesPortals")},
			{"the credentials secret", from(e.secret("lmtokens/logicmonitor-credentials"), iamsim.Account), iamsim.Allowed, e.id("AWS::Lambda::Permission", "RotateSecretsManagerRotatesCredentials")},
			{"another environment's credentials", from(e.secret("lmtokens/logicmonitor-credentials-dev"), iamsim.Account), iamsim.ImplicitlyDenied, ""},
			{"another application's secret", from(e.secret("payments/db"), iamsim.Account), iamsim.ImplicitlyDenied, ""},
			{"a secret of another account", from(strings.Replace(key, iamsim.Account, "999999999999", 1), "999999999999"), iamsim.ImplicitlyDenied, ""},
			{"create starts a key's rotation with the rotation function", e.as("Create", "secretsmanager:RotateSecret", key, "", rotation(rotate)), iamsim.Allowed, "RotateStoredKeys"},
			{"create starts it with another function", e.as("Create", "secretsmanager:RotateSecret", key, "", rotation("arn:aws:lambda:us-east-1:123456789012:function:other")), iamsim.ImplicitlyDenied, ""},
			{"create takes over a key another function rotates", e.as("Create", "secretsmanager:RotateSecret", key, "", map[string]any{
				"secretsmanager:RotationLambdaARN": rotate, "secretsmanager:resource/AllowRotationLambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:other"}), iamsim.ImplicitlyDenied, ""},
			{"create starts it on a key lmtokens already rotates", e.as("Create", "secretsmanager:RotateSecret", key, "", map[string]any{
				"secretsmanager:RotationLambdaARN": rotate, "secretsmanager:resource/AllowRotationLambdaArn": rotate}), iamsim.Allowed, "RotateStoredKeys"},
		}
	}},
	{lead: "Alarms reach a person.", tests: []string{"infra.TestAlarmsAndOutputs", "infra.TestOperatorsAreTold"}, checks: func(e *world) []check {
		topic, key := e.arn("AWS::SNS::Topic", "Alarms"), e.arn("AWS::KMS::Key", "AlarmsKey")
		var out []check
		for _, id := range e.t.OfType("AWS::CloudWatch::Alarm") {
			from := map[string]any{"aws:SourceArn": e.t.ARN(id), "aws:SourceAccount": iamsim.Account}
			out = append(out,
				check{"alarm " + e.t.Name(id) + " publishes", e.service("cloudwatch.amazonaws.com", "sns:Publish", topic, "Alarms", from), iamsim.Allowed, "CloudWatchAlarmsPublish"},
				check{"alarm " + e.t.Name(id) + " encrypts its message", e.service("cloudwatch.amazonaws.com", "kms:GenerateDataKey", key, "AlarmsKey", from), iamsim.Allowed, "CloudWatchAlarmsUseIt"},
			)
		}
		other := map[string]any{"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:999999999999:alarm:lmtokens-x", "aws:SourceAccount": "999999999999"}
		return append(out,
			check{"another account's alarm publishes", e.service("cloudwatch.amazonaws.com", "sns:Publish", topic, "Alarms", other), iamsim.ImplicitlyDenied, ""},
			check{"another account's alarm uses the key", e.service("cloudwatch.amazonaws.com", "kms:GenerateDataKey", key, "AlarmsKey", other), iamsim.ImplicitlyDenied, ""},
			check{"a publish without TLS", e.outsider(admin, adminPolicy, "sns:Publish", topic, "Alarms", map[string]any{"aws:SecureTransport": "false"}), iamsim.ExplicitlyDenied, "AllowPublishThroughSSLOnly"},
		)
	}},
	{lead: "Cleanup warnings come only from the warnings rule.", tests: []string{"infra.TestEventBus"}, checks: func(e *world) []check {
		topic, key, rule := e.arn("AWS::SNS::Topic", "Warnings"), e.arn("AWS::KMS::Key", "WarningsKey"), e.arn("AWS::Events::Rule", "WarningsRule")
		ours := map[string]any{"aws:SourceArn": rule, "aws:SourceAccount": iamsim.Account}
		theirs := map[string]any{"aws:SourceArn": "arn:aws:events:us-east-1:999999999999:rule/default/x", "aws:SourceAccount": "999999999999"}
		return []check{
			{"the warnings rule publishes", e.service("events.amazonaws.com", "sns:Publish", topic, "Warnings", ours), iamsim.Allowed, "resource policy"},
			{"the warnings rule encrypts", e.service("events.amazonaws.com", "kms:GenerateDataKey", key, "WarningsKey", ours), iamsim.Allowed, "WarningsRuleUsesIt"},
			{"another rule publishes", e.service("events.amazonaws.com", "sns:Publish", topic, "Warnings", theirs), iamsim.ExplicitlyDenied, "OnlyTheWarningsRule"},
			{"another rule encrypts", e.service("events.amazonaws.com", "kms:GenerateDataKey", key, "WarningsKey", theirs), iamsim.ImplicitlyDenied, ""},
		}
	}},
	{lead: "Each schedule invokes its own cleanup function and nothing else.", tests: []string{"infra.TestSchedules"}, checks: func(e *world) []check {
		role, dlq := e.arn("AWS::IAM::Role", "CleanupDisableScheduleRole"), e.arn("AWS::SQS::Queue", "ScheduleDeadLetters")
		schedule := map[string]any{"aws:SourceArn": e.arn("AWS::Scheduler::Schedule", "CleanupDisableSchedule"), "aws:SourceAccount": iamsim.Account}
		assume := func(ctx map[string]any) iamsim.Request {
			r := e.service("scheduler.amazonaws.com", "sts:AssumeRole", role, "", ctx)
			r.ResourcePolicy = e.t.TrustPolicy(e.id("AWS::IAM::Role", "CleanupDisableScheduleRole"))
			return r
		}
		return []check{
			{"Scheduler assumes the schedule role for this account's schedule", assume(schedule), iamsim.Allowed, "resource policy"},
			{"Scheduler assumes it for another account's schedule", assume(map[string]any{"aws:SourceArn": "arn:aws:scheduler:us-east-1:999999999999:schedule/default/x", "aws:SourceAccount": "999999999999"}), iamsim.ImplicitlyDenied, ""},
			{"the role invokes the disable stage", e.as("CleanupDisableSchedule", "lambda:InvokeFunction", e.arn("AWS::Lambda::Function", "CleanupDisable"), "CleanupDisable", nil), iamsim.Allowed, e.policy("CleanupDisableSchedule")},
			{"the role invokes the delete stage", e.as("CleanupDisableSchedule", "lambda:InvokeFunction", e.arn("AWS::Lambda::Function", "CleanupDelete"), "CleanupDelete", nil), iamsim.ImplicitlyDenied, ""},
			{"the role invokes create", e.as("CleanupDisableSchedule", "lambda:InvokeFunction", e.arn("AWS::Lambda::Function", "Create"), "Create", nil), iamsim.ImplicitlyDenied, ""},
			{"the role keeps an undelivered run", e.as("CleanupDisableSchedule", "sqs:SendMessage", dlq, "ScheduleDeadLetters", nil), iamsim.Allowed, e.policy("CleanupDisableSchedule")},
		}
	}},
	{lead: "Only cleanup marks a token as warned.", checks: func(e *world) []check {
		table := e.arn("AWS::DynamoDB::Table", "WarningMarks")
		keys := func(k ...string) map[string]any { return map[string]any{"dynamodb:LeadingKeys": k} }
		return []check{
			{"the disable stage marks a token of its stage", e.as("CleanupDisable", "dynamodb:PutItem", table, "WarningMarks", keys("disable#")), iamsim.Allowed, "OwnStagesWarningMarks"},
			{"the disable stage reads its marks of a registered portal", e.as("CleanupDisable", "dynamodb:Query", table, "WarningMarks", keys("disable#emea")), iamsim.Allowed, "OwnStagesWarningMarks"},
			{"the disable stage marks a token of the delete stage", e.as("CleanupDisable", "dynamodb:PutItem", table, "WarningMarks", keys("delete#")), iamsim.ImplicitlyDenied, ""},
			{"the delete stage removes its own mark", e.as("CleanupDelete", "dynamodb:DeleteItem", table, "WarningMarks", keys("delete#")), iamsim.Allowed, "OwnStagesWarningMarks"},
			{"the delete stage rewrites a mark with UpdateItem", e.as("CleanupDelete", "dynamodb:UpdateItem", table, "WarningMarks", keys("delete#")), iamsim.ImplicitlyDenied, ""},
			{"create marks a token", e.as("Create", "dynamodb:PutItem", table, "WarningMarks", keys("disable#")), iamsim.ExplicitlyDenied, "OnlyCleanupWritesMarks"},
			{"an administrator (Action *) marks a token", e.outsider(admin, adminPolicy, "dynamodb:PutItem", table, "WarningMarks", keys("disable#")), iamsim.ExplicitlyDenied, "OnlyCleanupWritesMarks"},
			{"an administrator writes marks in a batch", e.outsider(admin, adminPolicy, "dynamodb:BatchWriteItem", table, "WarningMarks", keys("disable#")), iamsim.ExplicitlyDenied, "OnlyCleanupWritesMarks"},
			{"an administrator reads the marks", e.outsider(admin, adminPolicy, "dynamodb:Query", table, "WarningMarks", keys("disable#")), iamsim.Allowed, "admin"},
		}
	}, tests: []string{"pkg/handlers.TestWarnedBeforeActedOn"}},
	{lead: "Stored keys keep their recovery window.", tests: []string{"pkg/handlers.TestDeleteSchedulesSecretDeletion"}, checks: func(e *world) []check {
		key, claim, record := e.secret("logicmonitor/api-tokens/2/9"), e.secret("logicmonitor/api-tokens/idempotency/2/ab12"), e.secret("logicmonitor/api-tokens/acme/rotated-out/2/9")
		force := map[string]any{"secretsmanager:ForceDeleteWithoutRecovery": "true"}
		var out []check
		for _, fn := range []string{"Delete", "CleanupDelete", "Provider"} {
			out = append(out,
				check{fn + " force-deletes a stored key", e.as(fn, "secretsmanager:DeleteSecret", key, "", force), iamsim.ExplicitlyDenied, "KeysKeepTheirRecoveryWindow"},
				check{fn + " schedules a stored key's deletion", e.as(fn, "secretsmanager:DeleteSecret", key, "", map[string]any{"secretsmanager:RecoveryWindowInDays": "7"}), iamsim.Allowed, "ScheduleDeletionOfStoredKeys"},
				check{fn + " force-deletes an idempotency claim", e.as(fn, "secretsmanager:DeleteSecret", claim, "", force), iamsim.Allowed, "ScheduleDeletionOfStoredKeys"},
			)
		}
		return append(out,
			check{"rotate force-deletes a stored key", e.as("Rotate", "secretsmanager:DeleteSecret", key, "", force), iamsim.ExplicitlyDenied, "KeysKeepTheirRecoveryWindow"},
			check{"rotate force-deletes a rotated-out record", e.as("Rotate", "secretsmanager:DeleteSecret", record, "", force), iamsim.Allowed, "KeepRotationRecords"},
		)
	}},
	{lead: "Each function may do what its job needs and no more.", tests: []string{"infra.TestLeastPrivilege"}, checks: func(e *world) []check {
		key, creds, portal := e.secret("logicmonitor/api-tokens/2/9"), e.secret("lmtokens/logicmonitor-credentials"), e.secret("lmtokens/portals/acme")
		claim, portalClaim := e.secret("logicmonitor/api-tokens/idempotency/2/ab12"), e.secret("logicmonitor/api-tokens/acme/idempotency/2/ab12")
		record := e.secret("logicmonitor/api-tokens/rotated-out/2/9")
		hubProduct := "arn:aws:securityhub:" + iamsim.Region + ":" + iamsim.Account + ":product/" + iamsim.Account + "/default"
		out := []check{
			{"list reads a stored key", e.as("List", "secretsmanager:GetSecretValue", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"toggle reads a stored key", e.as("Toggle", "secretsmanager:GetSecretValue", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"list reads a registered portal's credentials", e.as("List", "secretsmanager:GetSecretValue", portal, "", nil), iamsim.Allowed, "ReadPortalCredentials"},
			{"create writes a claim", e.as("Create", "secretsmanager:PutSecretValue", claim, "", nil), iamsim.Allowed, "WriteIdempotencyClaims"},
			{"create writes a registered portal's claim", e.as("Create", "secretsmanager:PutSecretValue", portalClaim, "", nil), iamsim.Allowed, "WriteIdempotencyClaims"},
			{"create writes a value into a stored key", e.as("Create", "secretsmanager:PutSecretValue", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"create writes into a portal named xidempotency", e.as("Create", "secretsmanager:PutSecretValue", e.secret("logicmonitor/api-tokens/xidempotency/2/9"), "", nil), iamsim.ImplicitlyDenied, ""},
			{"create makes a rotated-out record", e.as("Create", "secretsmanager:CreateSecret", record, "", nil), iamsim.ExplicitlyDenied, "NoRotationRecords"},
			{"the provider makes a rotated-out record", e.as("Provider", "secretsmanager:CreateSecret", record, "", nil), iamsim.ExplicitlyDenied, "NoRotationRecords"},
			{"create deletes a stored key", e.as("Create", "secretsmanager:DeleteSecret", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"toggle deletes a stored key", e.as("Toggle", "secretsmanager:DeleteSecret", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"the disable stage deletes a stored key", e.as("CleanupDisable", "secretsmanager:DeleteSecret", key, "", nil), iamsim.ImplicitlyDenied, ""},
			{"rotate writes a rotated-out record", e.as("Rotate", "secretsmanager:CreateSecret", record, "", nil), iamsim.Allowed, "KeepRotationRecords"},
			{"rotate moves the credentials' stages", e.as("Rotate", "secretsmanager:UpdateSecretVersionStage", creds, "", nil), iamsim.Allowed, "RotateVersions"},
			{"delete writes the credentials", e.as("Delete", "secretsmanager:PutSecretValue", creds, "", nil), iamsim.ImplicitlyDenied, ""},
			{"the disable stage imports findings to the account's default product", e.as("CleanupDisable", "securityhub:BatchImportFindings", hubProduct, "", nil), iamsim.Allowed, "ImportPostureFindings"},
			{"the disable stage imports findings as another company's product", e.as("CleanupDisable", "securityhub:BatchImportFindings", "arn:aws:securityhub:"+iamsim.Region+":"+iamsim.Account+":product/acme/scanner", "", nil), iamsim.ImplicitlyDenied, ""},
			{"the disable stage imports to another account's product", e.as("CleanupDisable", "securityhub:BatchImportFindings", "arn:aws:securityhub:us-east-1:210987654321:product/210987654321/default", "", nil), iamsim.ImplicitlyDenied, ""},
			{"the disable stage reads findings", e.as("CleanupDisable", "securityhub:GetFindings", "arn:aws:securityhub:us-east-1:"+iamsim.Account+":hub/default", "", nil), iamsim.ImplicitlyDenied, ""},
		}
		for _, fn := range []string{"List", "Create", "Toggle", "Delete", "CleanupDelete", "Provider", "Rotate"} {
			out = append(out, check{fn + " imports findings", e.as(fn, "securityhub:BatchImportFindings", hubProduct, "", nil), iamsim.ImplicitlyDenied, ""})
		}
		for _, fn := range functionIDs() {
			out = append(out, check{fn + " reads the credentials", e.as(fn, "secretsmanager:GetSecretValue", creds, "", nil), iamsim.Allowed, e.policy(fn)})
			own, other := e.arn("AWS::Logs::LogGroup", fn+"Logs"), e.arn("AWS::Logs::LogGroup", "ApiAccessLogs")
			out = append(out,
				check{fn + " writes its own log group", e.as(fn, "logs:PutLogEvents", strings.TrimSuffix(own, "*")+"log-stream:x", "", nil), iamsim.Allowed, e.policy(fn)},
				check{fn + " writes the access log", e.as(fn, "logs:PutLogEvents", strings.TrimSuffix(other, "*")+"log-stream:x", "", nil), iamsim.ImplicitlyDenied, ""},
			)
		}
		return out
	}},
	{lead: "Environments cannot reach each other's keys.", tests: []string{"infra.TestEnvironmentsSideBySide"}, checks: func(e *world) []check {
		dev, devCreds := e.secret("logicmonitor/api-tokens-dev/2/9"), e.secret("lmtokens/logicmonitor-credentials-dev")
		return []check{
			{"delete schedules the deletion of dev's key", e.as("Delete", "secretsmanager:DeleteSecret", dev, "", nil), iamsim.ImplicitlyDenied, ""},
			{"cleanup reads dev's key", e.as("CleanupDelete", "secretsmanager:GetSecretValue", dev, "", nil), iamsim.ImplicitlyDenied, ""},
			{"create reads dev's credentials", e.as("Create", "secretsmanager:GetSecretValue", devCreds, "", nil), iamsim.ImplicitlyDenied, ""},
			{"rotate writes dev's credentials", e.as("Rotate", "secretsmanager:PutSecretValue", devCreds, "", nil), iamsim.ImplicitlyDenied, ""},
			{"create decrypts dev's key", e.as("Create", "kms:Decrypt", e.arn("AWS::KMS::Key", "CreatedKeysKey"), "CreatedKeysKey", viaSM(dev)), iamsim.ImplicitlyDenied, ""},
		}
	}},
	{lead: "Protected users' tokens can only lose power.", tests: []string{"pkg/handlers.TestCreateRefusesProtectedUsers", "pkg/handlers.TestToggleNeverEnablesAProtectedUsersToken"}},
	{lead: "An audit trail that joins.", tests: []string{"pkg/handlers.TestAuditTrailJoins", "infra.TestAccessLogFormat"}},
	{lead: "Logs hold no key and no body.", tests: []string{"pkg/handlers.TestMain", "infra.TestHardening"}},
	{lead: "The blast radius is bounded.", tests: []string{"pkg/handlers.TestCleanupCapAndContinuation", "pkg/handlers.TestTheCapHoldsAcrossPortals", "infra.TestReservedConcurrencyMustFitTheQuota"}},
}

// Outsiders: an administrator of the account, and a pipeline role with the
// grants a key reader needs.
const (
	admin  = "arn:aws:iam::123456789012:role/some-admin"
	reader = "arn:aws:iam::123456789012:role/pipeline"
)

var (
	adminPolicy  = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}}}
	readerPolicy = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": []any{"secretsmanager:GetSecretValue", "kms:Decrypt"}, "Resource": "*"}}}
)

// viaSM is the context of Secrets Manager's call to KMS for a secret.
func viaSM(secretARN string) map[string]any {
	return map[string]any{"kms:ViaService": "secretsmanager." + iamsim.Region + ".amazonaws.com", "kms:EncryptionContext:SecretARN": secretARN, "kms:CallerAccount": iamsim.Account}
}

func functionIDs() []string {
	return []string{"List", "Create", "Toggle", "Delete", "Provider", "Rotate", "CleanupDisable", "CleanupDelete"}
}

// world is the synthesized template, resolved.
type world struct {
	t      *iamsim.Template
	readme string
}

func (e *world) id(typ, prefix string) string { return e.t.Find(typ, prefix) }
func (e *world) arn(typ, prefix string) string {
	return e.t.ARN(e.t.Find(typ, prefix))
}
func (e *world) secret(name string) string {
	return "arn:aws:secretsmanager:" + iamsim.Region + ":" + iamsim.Account + ":secret:" + name + "-AbCdEf"
}

// role is the logical id of a function's role (the one its Role names) or,
// for a schedule, of the role with that name.
func (e *world) role(fn string) string {
	if id, ok := e.t.Construct("AWS::Lambda::Function", fn); ok {
		if att, ok := e.t.Resources[id].Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any); ok {
			return att[0].(string)
		}
	}
	return e.t.Find("AWS::IAM::Role", fn+"Role")
}

// policy is the logical id of the policy attached to a function's role
// (whose statements have no Sid).
func (e *world) policy(fn string) string {
	identity, _ := e.t.IdentityPolicies(e.role(fn))
	for _, p := range identity {
		if e.t.Resources[p.Name].Type == "AWS::IAM::Policy" {
			return p.Name
		}
	}
	panic("no policy attached to the role of " + fn)
}

// as is a request by a function's (or schedule's) role, with the policy of
// the resource with logical id prefix resourceID (none when "").
func (e *world) as(fn, action, resource, resourceID string, ctx map[string]any) iamsim.Request {
	roleID := e.role(fn)
	identity, unknown := e.t.IdentityPolicies(roleID)
	if len(unknown) > 0 {
		panic(fmt.Sprintf("the role of %s has managed policies whose text is unknown: %v", fn, unknown))
	}
	return e.request(e.t.ARN(roleID), identity, action, resource, resourceID, ctx)
}

// outsider is a request by a principal that is not the stack's.
func (e *world) outsider(principal string, policy map[string]any, action, resource, resourceID string, ctx map[string]any) iamsim.Request {
	var identity []iamsim.Policy
	if policy != nil {
		identity = []iamsim.Policy{{Name: "admin", Document: policy}}
		if principal != admin {
			identity[0].Name = "identity"
		}
	}
	return e.request(principal, identity, action, resource, resourceID, ctx)
}

// service is a request by a service principal.
func (e *world) service(principal, action, resource, resourceID string, ctx map[string]any) iamsim.Request {
	return e.request(principal, nil, action, resource, resourceID, ctx)
}

func (e *world) request(principal string, identity []iamsim.Policy, action, resource, resourceID string, ctx map[string]any) iamsim.Request {
	r := iamsim.Request{Principal: principal, Action: action, Resource: resource, Context: ctx, Identity: identity}
	if resourceID != "" {
		id, ok := e.t.Construct("", resourceID)
		if !ok {
			panic("no resource " + resourceID)
		}
		r.ResourcePolicy = e.t.ResourcePolicy(id)
	}
	return r
}

// routes are the API's methods as "METHOD /path/{param}", from the template.
func (e *world) routes() []string {
	paths := map[string]string{}
	var path func(id string) string
	path = func(id string) string {
		if p, ok := paths[id]; ok {
			return p
		}
		r := e.t.Resources[id]
		parent := ""
		if ref, ok := r.Properties["ParentId"].(map[string]any)["Ref"].(string); ok {
			parent = path(ref)
		}
		paths[id] = parent + "/" + r.Properties["PathPart"].(string)
		return paths[id]
	}
	var out []string
	for _, id := range e.t.OfType("AWS::ApiGateway::Method") {
		p := e.t.Resources[id].Properties
		ref, _ := p["ResourceId"].(map[string]any)["Ref"].(string)
		out = append(out, p["HttpMethod"].(string)+" "+path(ref))
	}
	sort.Strings(out)
	return out
}

// methodARN is the ARN API Gateway authorizes for a route, its parameters
// filled in.
func (e *world) methodARN(route string) string {
	method, path, _ := strings.Cut(route, " ")
	path = strings.NewReplacer("{adminId}", "2", "{tokenId}", "9", "{portal}", "acme").Replace(path)
	api := e.t.Find("AWS::ApiGateway::RestApi", "Api")
	return "arn:aws:execute-api:" + iamsim.Region + ":" + iamsim.Account + ":" + strings.ToLower(api) + "/v1/" + method + path
}

// readmePolicy is the JSON block after <!-- policy: name --> in the README.
func (e *world) readmePolicy(name string) map[string]any {
	m := regexp.MustCompile(`(?s)<!-- policy: ` + regexp.QuoteMeta(name) + ` -->\s*` + "```json\n(.*?)```").FindStringSubmatch(e.readme)
	if m == nil {
		panic("the README has no policy " + name)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(m[1]), &doc); err != nil {
		panic(fmt.Sprintf("README policy %s: %v", name, err))
	}
	if _, ok := doc["Statement"]; !ok {
		doc = map[string]any{"Version": "2012-10-17", "Statement": []any{doc}}
	}
	return doc
}

// Every promise of the README's Security model holds as AWS would evaluate
// the synthesized template.
//
// LMTOKENS_SECURITY_TEMPLATE=<file> checks another template instead (one
// synthesized with the same settings, e.g. from an older commit), whose
// stack is LMTOKENS_SECURITY_STACK (default LMTokens).
func TestSecurityModelAsAWSEvaluatesIt(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	stack := "LMTokens"
	if file := os.Getenv("LMTOKENS_SECURITY_TEMPLATE"); file != "" {
		if raw, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
		if s := os.Getenv("LMTOKENS_SECURITY_STACK"); s != "" {
			stack = s
		}
	} else {
		ts := loadSecurity(t)
		raw, _ = json.Marshal(ts.tpl.ToJSON())
		stack = ts.settings.StackName()
	}
	tpl, err := iamsim.Parse(raw, stack)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: tpl, readme: string(readme)}
	type named struct {
		promise string
		check
	}
	var all []named
	for _, p := range promises {
		if p.checks == nil {
			continue
		}
		func() {
			// A template that lacks what a check needs fails that promise.
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s\n  cannot be checked on this template: %v", p.lead, r)
				}
			}()
			for _, c := range p.checks(w) {
				all = append(all, named{p.lead, c})
			}
		}()
	}
	reqs := make([]iamsim.Request, len(all))
	for i, c := range all {
		reqs[i] = c.req
	}
	results := simulate(t, reqs)
	for i, c := range all {
		r := results[i]
		// The simulator must have seen every condition key passed.
		ok := r.Decision == c.want && len(r.IgnoredContextKeys) == 0
		switch {
		case c.by == "": // an implicit deny rests on no statement
		case c.by == "resource policy":
			ok = ok && anyOfKind(r, "resource", c.want)
		default:
			ok = ok && r.Decided(effectOf(c.want), c.by)
		}
		if !ok {
			t.Errorf("%s\n  %s: %s %s on %s: got %s (ignored keys %v); want %s by %q", c.promise, c.what, c.req.Principal, c.req.Action, c.req.Resource, r, r.IgnoredContextKeys, c.want, c.by)
		}
	}
	t.Logf("%d requests simulated", len(all))
}

// simulate has AWS's evaluator decide reqs (skipped without Node.js,
// except in CI).
func simulate(t *testing.T, reqs []iamsim.Request) []iamsim.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := iamsim.Simulate(ctx, reqs)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func effectOf(decision string) string {
	if decision == iamsim.ExplicitlyDenied {
		return "Deny"
	}
	return "Allow"
}

func anyOfKind(r iamsim.Result, kind, decision string) bool {
	for _, s := range r.Statements {
		if s.Kind == kind && s.Effect == effectOf(decision) {
			return true
		}
	}
	return false
}

func loadSecurity(t *testing.T) *testStack {
	t.Helper()
	if testing.Short() {
		t.Skip("synthesizes the CDK stack")
	}
	ts, err := synthSecurity()
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// The README's Security model and the promises above are the same list, and
// every test a promise names exists.
func TestEverySecurityPromiseHasATest(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?s)\n## Security model\n(.*?)\n## `).FindSubmatch(readme)
	if section == nil {
		t.Fatal("no Security model section in the README")
	}
	var leads []string
	for _, m := range regexp.MustCompile(`(?m)^- \*\*(.+?)\*\*`).FindAllSubmatch(section[1], -1) {
		leads = append(leads, string(m[1]))
	}
	var ours []string
	for _, p := range promises {
		ours = append(ours, p.lead)
		if p.checks == nil && len(p.tests) == 0 {
			t.Errorf("%q has no test", p.lead)
		}
		for _, name := range p.tests {
			dir, fn, _ := strings.Cut(name, ".")
			files, _ := filepath.Glob(filepath.Join("..", dir, "*_test.go"))
			found := false
			for _, f := range files {
				src, _ := os.ReadFile(f)
				found = found || strings.Contains(string(src), "\nfunc "+fn+"(")
			}
			if !found {
				t.Errorf("%q names %s, which does not exist", p.lead, name)
			}
		}
	}
	if strings.Join(leads, "\n") != strings.Join(ours, "\n") {
		t.Errorf("the README's promises:\n  %s\nthe tested ones:\n  %s", strings.Join(leads, "\n  "), strings.Join(ours, "\n  "))
	}
}
