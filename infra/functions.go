package infra

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

var completeSecretArn = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

// functions deploys every function of the catalog with least privilege:
// each reads the credentials secret; create writes under the prefix;
// the delete binaries delete there.
func (b *builder) functions() error {
	s := b.s
	creds := b.credentialsSecret()
	secretArn := b.secretArn
	prefixArn := secretArn(s.SecretPrefix + "*")
	// Idempotency claims and rotated-out records live in these folders,
	// under the default portal's prefix or a registered portal's.
	claimsArns := []*string{secretArn(s.SecretPrefix + "idempotency/*"), secretArn(s.SecretPrefix + "*/idempotency/*")}
	recordsArns := []*string{secretArn(s.SecretPrefix + "rotated-out/*"), secretArn(s.SecretPrefix + "*/rotated-out/*")}
	rotationRecordsArns := append(append([]*string{}, claimsArns...), recordsArns...)
	shared := b.sharedEnv()
	arch := awslambda.Architecture_ARM_64()
	if s.Architecture == "x86_64" {
		arch = awslambda.Architecture_X86_64()
	}
	var rotateFn awslambda.Function
	for _, c := range catalog.Functions {
		env := map[string]*string{}
		for k, v := range shared {
			env[k] = v
		}
		for k, v := range policyEnv(b.policyOf(c)) {
			env[k] = str(v)
		}
		for k, v := range c.Env() {
			env[k] = str(v)
		}
		if c.CleanupStage == "delete" {
			env[settings.CleanupOrphanGrace.Env] = str(strconv.Itoa(24*s.OrphanGraceDays) + "h")
		}
		logs := b.logGroup(c.ID + "Logs")
		b.logGroups[c.ID] = logs
		// A role of its own that writes its own log group and no other
		// (AWSLambdaBasicExecutionRole would let it write any).
		role := awsiam.NewRole(b.stack, str(c.ID+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(str("lambda.amazonaws.com"), nil),
			Description: str("lmtokens " + c.Name + " function"),
		})
		logs.GrantWrite(role)
		props := &awslambda.FunctionProps{
			Role:                  role,
			Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:          arch,
			Handler:               str("bootstrap"),
			Code:                  awslambda.Code_FromAsset(str(filepath.Join(s.BinDir, c.Binary)), nil),
			Description:           str(c.Description),
			MemorySize:            num(c.MemoryMB),
			Timeout:               awscdk.Duration_Seconds(num(c.TimeoutSeconds)),
			Environment:           &env,
			LoggingFormat:         awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2: awslambda.ApplicationLogLevel(s.LogLevel),
			SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
			LogGroup:              logs,
			RetryAttempts:         num(2),
			MaxEventAge:           awscdk.Duration_Hours(num(1)),
			OnFailure:             awslambdadestinations.NewSqsDestination(b.failures),
		}
		if n := s.reservedFor(c); n > 0 {
			props.ReservedConcurrentExecutions = num(float64(n))
		}
		if s.Tracing {
			props.Tracing = awslambda.Tracing_ACTIVE
		}
		fn := awslambda.NewFunction(b.stack, str(c.ID), props)
		b.out.Functions[c.ID] = fn
		creds.GrantRead(fn, nil)
		if emits(c) {
			b.bus.GrantPutEventsTo(fn, nil)
		}
		// Registered portals: their credentials, and the list of them
		// (ListSecrets has no resource-level permissions).
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       str("ReadPortalCredentials"),
			Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
			Resources: &[]*string{secretArn(s.PortalsPrefix + "*")},
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       str("DiscoverPortals"),
			Actions:   jsii.Strings("secretsmanager:ListSecrets"),
			Resources: jsii.Strings("*"),
		}))
		if c.Binary == catalog.Create || c.Binary == catalog.Provider {
			// A new key's secret is created once; new versions are only
			// ever written to idempotency claims, so these roles cannot put
			// another value into a key's secret.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("StoreCreatedKeys"),
				Actions:   jsii.Strings("secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DescribeSecret"),
				Resources: &[]*string{prefixArn},
			}))
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("WriteIdempotencyClaims"),
				Actions:   jsii.Strings("secretsmanager:PutSecretValue"),
				Resources: &claimsArns,
			}))
			// Only the rotation function writes rotated-out records: a
			// record these roles could write would be a claim on a token.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("NoRotationRecords"),
				Effect:    awsiam.Effect_DENY,
				Actions:   jsii.Strings("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource", "secretsmanager:DeleteSecret", "secretsmanager:UpdateSecretVersionStage"),
				Resources: &recordsArns,
			}))
		}
		// Which token a key's secret holds is read from its value (never
		// from its tags alone): every function that acts on a key's secret,
		// or decides who holds a token, reads values under the prefix.
		if readsKeys(c) {
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("ReadStoredKeys"),
				Actions:   jsii.Strings("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"),
				Resources: &[]*string{prefixArn},
			}))
		}
		if b.keyArn != nil && readsKeys(c) {
			// Secrets Manager decrypts a value under a customer-managed key
			// for the reader; create, the provider and rotate also write
			// values. List and toggle get neither.
			actions := []string{"kms:Decrypt"}
			if c.Binary == catalog.Create || c.Binary == catalog.Provider || c.Binary == catalog.Rotate {
				actions = append(actions, "kms:GenerateDataKey")
			}
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        str("UseCreatedKeysKey"),
				Actions:    jsii.Strings(actions...),
				Resources:  &[]*string{b.keyArn},
				Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": fmt.Sprintf("secretsmanager.%s.amazonaws.com", *b.stack.Region())}},
			}))
		}
		if c.Binary == catalog.Rotate {
			rotateFn = fn
			versioned := append([]*string{prefixArn, secretArn(s.PortalsPrefix + "*")}, b.credentialsArns(creds)...)
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("RotateVersions"),
				Actions:   jsii.Strings("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"),
				Resources: &versioned,
			}))
			// Retag a key after its rotation; turn the rotation of a key
			// whose token is gone off.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("RetagRotatedKeys"),
				Actions:   jsii.Strings("secretsmanager:TagResource", "secretsmanager:CancelRotateSecret"),
				Resources: &[]*string{prefixArn},
			}))
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("KeepRotationRecords"),
				Actions:   jsii.Strings("secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:TagResource"),
				Resources: &rotationRecordsArns,
			}))
			// Only Secrets Manager, only for this account, and only for the
			// secrets lmtokens rotates: keys under the prefix, registered
			// portals, the credentials (aws:SourceAccount and an ArnLike
			// aws:SourceArn per scope). The function refuses any other.
			scopes := map[string]*string{"Keys": prefixArn, "Portals": secretArn(s.PortalsPrefix + "*"), "Credentials": b.credentialsArnLike(creds)}
			for _, scope := range []string{"Keys", "Portals", "Credentials"} {
				fn.AddPermission(str("SecretsManagerRotates"+scope), &awslambda.Permission{
					Principal:     awsiam.NewServicePrincipal(str("secretsmanager.amazonaws.com"), nil),
					Action:        str("lambda:InvokeFunction"),
					SourceAccount: b.stack.Account(),
					SourceArn:     scopes[scope],
				})
			}
		}
		if c.CleanupStage != "" {
			b.grantMarks(fn, c.CleanupStage)
		}
		if c.CleanupStage == string(cleanup.StageDisable) && s.PostureFindings {
			// Posture findings go to the account's own default product,
			// the one resource BatchImportFindings is allowed on.
			product := awscdk.Fn_Sub(str("arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"), nil)
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("ImportPostureFindings"),
				Actions:   jsii.Strings("securityhub:BatchImportFindings"),
				Resources: &[]*string{product},
			}))
			fn.AddEnvironment(str(settings.SecurityHubProduct.Env), product, nil)
		}
		if c.CleanupStage == "delete" {
			// The delete stage marks key secrets whose token is gone (and
			// takes the mark off a token found again).
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("MarkOrphanedKeys"),
				Actions:   jsii.Strings("secretsmanager:TagResource", "secretsmanager:UntagResource"),
				Resources: &[]*string{prefixArn},
			}))
		}
		if c.Binary == catalog.Delete || c.Binary == catalog.Provider {
			// Schedule a key's deletion (with its claim; a retired token's
			// record), after cancelling a rotation under way: its pending
			// version loses AWSPENDING.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("ScheduleDeletionOfStoredKeys"),
				Actions:   jsii.Strings("secretsmanager:DeleteSecret", "secretsmanager:UpdateSecretVersionStage"),
				Resources: &[]*string{prefixArn},
			}))
		}
		if c.Binary == catalog.Delete || c.Binary == catalog.Provider || c.Binary == catalog.Rotate {
			// A stored key's secret keeps its recovery window: only claims
			// and records, which hold no key, may go at once.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:          str("KeysKeepTheirRecoveryWindow"),
				Effect:       awsiam.Effect_DENY,
				Actions:      jsii.Strings("secretsmanager:DeleteSecret"),
				NotResources: &rotationRecordsArns,
				Conditions:   &map[string]any{"Bool": map[string]any{"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
			}))
		}
		nagIAM5 := []*cdknag.NagPackSuppression{
			{Id: str("AwsSolutions-IAM5"), Reason: str("Created keys are one secret per token under the configured prefix, and portals one secret each under theirs: each wildcard is that prefix and nothing wider. Resource * is for secretsmanager:ListSecrets (portal discovery) and X-Ray, which take no resource."),
				AppliesTo: &[]any{"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "idempotency/*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "*/idempotency/*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "rotated-out/*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "*/rotated-out/*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.PortalsPrefix + "*", "Resource::*"}},
		}
		cdknag.NagSuppressions_AddResourceSuppressions(role, &nagIAM5, jsii.Bool(true))
		suppressNag(role, map[string]string{"IAMNoInlinePolicy": reasonInlinePolicy})
		suppressNag(fn, map[string]string{"LambdaInsideVPC": reasonNoVPC, "LambdaDLQ": reasonDestination, "LambdaConcurrency": reasonConcurrency})
		awscdk.NewCfnOutput(b.stack, str(c.ID+"FunctionArn"), &awscdk.CfnOutputProps{Value: fn.FunctionArn(), Description: str(c.Description)})
		if c.Binary == catalog.Provider {
			if len(s.ProviderStacks) > 0 {
				// The stacks it serves, and this one (its deployment heartbeat).
				fn.AddEnvironment(str(settings.ProviderStacks.Env), str(strings.Join(append(append([]string{}, s.ProviderStacks...), s.StackName()), ",")), nil)
			}
			// Consumer stacks declare Custom::LogicMonitorApiToken with
			// ServiceToken: !ImportValue <stack>-ServiceToken.
			awscdk.NewCfnOutput(b.stack, str("ServiceToken"), &awscdk.CfnOutputProps{Value: fn.FunctionArn(),
				Description: str("ServiceToken of Custom::LogicMonitorApiToken"), ExportName: str(s.StackName() + "-ServiceToken")})
		}
	}
	b.rotation(rotateFn, creds)
	return nil
}

// secretArn is the ARN pattern of secrets named pattern in this account
// and region.
func (b *builder) secretArn(pattern string) *string {
	return b.stack.FormatArn(&awscdk.ArnComponents{
		Service: str("secretsmanager"), Resource: str("secret"), ResourceName: str(pattern), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// credentialsArns are the ARNs the credentials secret answers to: its
// complete ARN when the setting gives one, else the name's ARN with its
// random suffix matched (a name's ARN without the suffix matches nothing).
func (b *builder) credentialsArns(creds awssecretsmanager.ISecret) []*string {
	return []*string{b.credentialsArnLike(creds)}
}

// emits reports whether a function puts lifecycle events on the bus: every
// one that changes something (list changes nothing).
func emits(c catalog.Function) bool { return c.Binary != catalog.List }

// credentialsArnLike matches the credentials secret's ARN: the complete ARN
// when the setting gives one, else the name's ARN with its random suffix.
func (b *builder) credentialsArnLike(creds awssecretsmanager.ISecret) *string {
	if strings.HasPrefix(b.s.CredentialsSecret, "arn:") && completeSecretArn.MatchString(b.s.CredentialsSecret) {
		return creds.SecretArn()
	}
	return jsii.String(*creds.SecretArn() + "-??????")
}

// rotation wires the rotation function to the functions that start
// rotations, and optionally schedules the credentials secret's rotation.
func (b *builder) rotation(rotateFn awslambda.Function, creds awssecretsmanager.ISecret) {
	s := b.s
	for _, c := range catalog.Functions {
		if c.Binary != catalog.Create && c.Binary != catalog.Provider {
			continue
		}
		fn := b.out.Functions[c.ID]
		fn.AddEnvironment(str(settings.RotationFunction.Env), rotateFn.FunctionArn(), nil)
		// Created keys get their rotation schedule; the rotate route starts
		// a rotation. Only with lmtokens' own rotation function, and only on
		// keys whose rotation is lmtokens' or none yet.
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       str("RotateStoredKeys"),
			Actions:   jsii.Strings("secretsmanager:RotateSecret"),
			Resources: &[]*string{b.secretArn(s.SecretPrefix + "*")},
			Conditions: &map[string]any{
				"ArnEquals":         map[string]any{"secretsmanager:RotationLambdaARN": rotateFn.FunctionArn()},
				"ArnEqualsIfExists": map[string]any{"secretsmanager:resource/AllowRotationLambdaArn": rotateFn.FunctionArn()},
			},
		}))
		if s.RotationDays > 0 {
			fn.AddEnvironment(str(settings.RotationDays.Env), str(strconv.Itoa(s.RotationDays)), nil)
		}
		// The function itself, not its versions: no wildcard.
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       str("PassRotationFunction"),
			Actions:   jsii.Strings("lambda:InvokeFunction"),
			Resources: &[]*string{rotateFn.FunctionArn()},
		}))
	}
	rotateFn.AddEnvironment(str(settings.RotationGrace.Env), str(strconv.Itoa(s.RotationGraceHours)+"h"), nil)
	rotateFn.AddEnvironment(str(settings.RotationDeleteAfter.Env), str(strconv.Itoa(s.RotationDeleteAfterHours)+"h"), nil)
	if s.CredentialsRotationDays > 0 {
		awssecretsmanager.NewCfnRotationSchedule(b.stack, str("CredentialsRotation"), &awssecretsmanager.CfnRotationScheduleProps{
			SecretId:          str(s.CredentialsSecret),
			RotationLambdaArn: rotateFn.FunctionArn(),
			RotationRules:     &awssecretsmanager.CfnRotationSchedule_RotationRulesProperty{AutomaticallyAfterDays: num(float64(s.CredentialsRotationDays))},
		})
	}
}

// credentialsSecret is the user's secret, by name or ARN.
func (b *builder) credentialsSecret() awssecretsmanager.ISecret {
	name := b.s.CredentialsSecret
	switch {
	case strings.HasPrefix(name, "arn:") && completeSecretArn.MatchString(name):
		return awssecretsmanager.Secret_FromSecretAttributes(b.stack, str("Credentials"), &awssecretsmanager.SecretAttributes{SecretCompleteArn: str(name)})
	case strings.HasPrefix(name, "arn:"):
		return awssecretsmanager.Secret_FromSecretAttributes(b.stack, str("Credentials"), &awssecretsmanager.SecretAttributes{SecretPartialArn: str(name)})
	}
	return awssecretsmanager.Secret_FromSecretNameV2(b.stack, str("Credentials"), str(name))
}

// sharedEnv is every function's environment.
func (b *builder) sharedEnv() map[string]*string {
	s := b.s
	env := map[string]*string{
		// As the user named it: a name, or a full or partial ARN.
		settings.CredentialsSecret.Env: str(s.CredentialsSecret),
		settings.SecretPrefix.Env:      str(s.SecretPrefix),
		settings.PortalsPrefix.Env:     str(s.PortalsPrefix),
		settings.RecoveryDays.Env:      str(strconv.Itoa(s.RecoveryDays)),
		settings.ProtectedRoles.Env:    str(strings.Join(s.ProtectedRoles, ",")),
	}
	if s.MaxLifetimeDays > 0 {
		env[settings.MaxLifetimeDays.Env] = str(strconv.Itoa(s.MaxLifetimeDays))
	}
	if b.keyArn != nil {
		env[settings.KMSKeyID.Env] = b.keyArn
	}
	env[settings.EventBus.Env] = b.bus.EventBusName()
	if len(s.ProtectedAdminIDs) > 0 {
		env[settings.ProtectedAdminIDs.Env] = str(strings.Join(s.ProtectedAdminIDs, ","))
	}
	if s.LMBaseURL != "" {
		env[settings.BaseURL.Env] = str(s.LMBaseURL)
	}
	if len(s.LMAllowedHosts) > 0 {
		env[settings.AllowedHosts.Env] = str(strings.Join(s.LMAllowedHosts, ","))
	}
	if s.AllowPolicyWidening {
		env[settings.CleanupAllowWidening.Env] = str("true")
	}
	return env
}

// policyOf is a cleanup function's configured policy (nil for the others).
func (b *builder) policyOf(c catalog.Function) map[string]any {
	switch c.CleanupStage {
	case "disable":
		return b.s.DisablePolicy
	case "delete":
		return b.s.DeletePolicy
	}
	return nil
}

// policyEnv turns a cleanup policy into the CLEANUP_* settings of a
// function: each field sets the variable settings.Policy names for it (a
// list, such as protectedAccessIds, comma-separated).
func policyEnv(p map[string]any) map[string]string {
	env := map[string]string{}
	for _, s := range settings.Policy {
		v, ok := p[s.Context]
		if !ok {
			continue
		}
		if list, isList := v.([]any); isList {
			var parts []string
			for _, x := range list {
				parts = append(parts, fmt.Sprint(x))
			}
			env[s.Env] = strings.Join(parts, ",")
			continue
		}
		env[s.Env] = fmt.Sprint(v)
	}
	return env
}
