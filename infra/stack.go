package infra

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// StackProps are the stack's props and settings.
type StackProps struct {
	awscdk.StackProps
	Settings Settings
}

// Stack is the synthesized stack and the pieces tests look at.
type Stack struct {
	awscdk.Stack
	API       awsapigateway.RestApi
	Functions map[string]awslambda.Function
}

// function describes one Lambda function of the stack.
type function struct {
	id, binary, description string
	timeout                 float64 // seconds
	memory                  float64
	reserved                float64 // reserved concurrency; 0 = none
	policy                  map[string]any
	env                     map[string]string // the catalog's own settings
}

var retention = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
}

var completeSecretArn = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

// NewStack builds the lmtokens stack. Nothing in it calls AWS at synth time.
func NewStack(scope constructs.Construct, id string, props *StackProps) (*Stack, error) {
	s := props.Settings
	if err := s.Validate(); err != nil {
		return nil, err
	}
	logRetention, ok := retention[s.LogRetentionDays]
	if !ok {
		return nil, fmt.Errorf("logRetentionDays %d is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)", s.LogRetentionDays)
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	out := &Stack{Stack: stack, Functions: map[string]awslambda.Function{}}
	str := jsii.String
	num := func(v float64) *float64 { return jsii.Number(v) }

	// Queues and the alarm topic.
	failures := awssqs.NewQueue(stack, str("FailedInvocations"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true), RetentionPeriod: awscdk.Duration_Days(num(14)),
	})
	scheduleDLQ := awssqs.NewQueue(stack, str("ScheduleDeadLetters"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true), RetentionPeriod: awscdk.Duration_Days(num(14)),
	})
	for _, q := range []awssqs.Queue{failures, scheduleDLQ} {
		cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
			Id: str("AwsSolutions-SQS3"), Reason: str("This queue is itself the dead-letter destination of failed invocations; a queue behind it would never be read."),
		}}, jsii.Bool(false))
	}
	topic := awssns.NewTopic(stack, str("Alarms"), &awssns.TopicProps{
		DisplayName: str("lmtokens alarms"),
		MasterKey:   awskms.Alias_FromAliasName(stack, str("SnsManagedKey"), str("alias/aws/sns")),
		EnforceSSL:  jsii.Bool(true),
	})
	if s.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(str(s.AlarmEmail), nil))
	}
	alarm := func(id string, metric awscloudwatch.IMetric, description string) {
		a := awscloudwatch.NewAlarm(stack, str(id), &awscloudwatch.AlarmProps{
			Metric: metric, Threshold: num(1), EvaluationPeriods: num(1), AlarmDescription: str(description),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
	}

	// Secrets: the credentials secret is the user's; created keys live under the prefix.
	var creds awssecretsmanager.ISecret
	switch {
	case strings.HasPrefix(s.CredentialsSecret, "arn:") && completeSecretArn.MatchString(s.CredentialsSecret):
		creds = awssecretsmanager.Secret_FromSecretAttributes(stack, str("Credentials"), &awssecretsmanager.SecretAttributes{SecretCompleteArn: str(s.CredentialsSecret)})
	case strings.HasPrefix(s.CredentialsSecret, "arn:"):
		creds = awssecretsmanager.Secret_FromSecretAttributes(stack, str("Credentials"), &awssecretsmanager.SecretAttributes{SecretPartialArn: str(s.CredentialsSecret)})
	default:
		creds = awssecretsmanager.Secret_FromSecretNameV2(stack, str("Credentials"), str(s.CredentialsSecret))
	}
	secretArn := func(pattern string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: str("secretsmanager"), Resource: str("secret"), ResourceName: str(pattern), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
	}
	prefixArn := secretArn(s.SecretPrefix + "*")
	claimsArn := secretArn(s.SecretPrefix + "idempotency/*")

	env := map[string]*string{
		// As the user named it: a name, or a full or partial ARN.
		"LM_CREDENTIALS_SECRET":      str(s.CredentialsSecret),
		"TOKEN_SECRET_PREFIX":        str(s.SecretPrefix),
		"TOKEN_SECRET_RECOVERY_DAYS": str(strconv.Itoa(s.RecoveryDays)),
	}
	// The created keys' secrets are encrypted with the stack's own key by
	// default, so reading one needs kms:Decrypt on it as well as
	// GetSecretValue: a role with GetSecretValue on * reads none of them.
	var keyArn *string
	switch {
	case s.KMSKeyArn != "":
		keyArn = str(s.KMSKeyArn)
	case !s.UseAWSManagedKey:
		key := awskms.NewKey(stack, str("CreatedKeysKey"), &awskms.KeyProps{
			Description:       str("lmtokens: encrypts the LogicMonitor keys stored under " + s.SecretPrefix),
			EnableKeyRotation: jsii.Bool(true),
			// Deleting the key would make every stored key unreadable.
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		keyArn = key.KeyArn()
		awscdk.NewCfnOutput(stack, str("CreatedKeysKmsKeyArn"), &awscdk.CfnOutputProps{Value: keyArn,
			Description: str("KMS key of the created keys' secrets: readers need kms:Decrypt on it (via Secrets Manager)")})
	}
	if keyArn != nil {
		env["TOKEN_SECRET_KMS_KEY_ID"] = keyArn
	}
	if len(s.ProtectedRoles) > 0 {
		env["PROTECTED_ROLES"] = str(strings.Join(s.ProtectedRoles, ","))
	} else {
		env["PROTECTED_ROLES"] = str("")
	}
	if len(s.ProtectedAdminIDs) > 0 {
		env["PROTECTED_ADMIN_IDS"] = str(strings.Join(s.ProtectedAdminIDs, ","))
	}
	if s.LMBaseURL != "" {
		env["LM_BASE_URL"] = str(s.LMBaseURL)
	}

	// Every function of the catalog; reserved concurrency keeps the
	// mutating ones from flooding the portal's account-wide rate limit.
	reserved := map[string]float64{"Create": 5, "Toggle": 5, "Delete": 5, "CleanupDisable": 1, "CleanupDelete": 1}
	var fns []function
	for _, c := range catalog.Functions {
		f := function{id: c.ID, binary: c.Binary, description: c.Description, timeout: c.TimeoutSeconds, memory: c.MemoryMB,
			reserved: reserved[c.ID], env: c.Env()}
		switch c.CleanupStage {
		case "disable":
			f.policy = s.DisablePolicy
		case "delete":
			f.policy = s.DeletePolicy
		}
		fns = append(fns, f)
	}
	if s.AllowPolicyWidening {
		env["CLEANUP_ALLOW_WIDENING"] = str("true")
	}
	for _, f := range fns {
		fenv := map[string]*string{}
		for k, v := range env {
			fenv[k] = v
		}
		for k, v := range policyEnv(f.policy) {
			fenv[k] = str(v)
		}
		for k, v := range f.env {
			fenv[k] = str(v)
		}
		logs := awslogs.NewLogGroup(stack, str(f.id+"Logs"), &awslogs.LogGroupProps{Retention: logRetention})
		props := &awslambda.FunctionProps{
			Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:          awslambda.Architecture_ARM_64(),
			Handler:               str("bootstrap"),
			Code:                  awslambda.Code_FromAsset(str(filepath.Join(s.BinDir, f.binary)), nil),
			Description:           str(f.description),
			MemorySize:            num(f.memory),
			Timeout:               awscdk.Duration_Seconds(num(f.timeout)),
			Environment:           &fenv,
			LoggingFormat:         awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2: awslambda.ApplicationLogLevel(s.LogLevel),
			SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
			LogGroup:              logs,
			RetryAttempts:         num(2),
			MaxEventAge:           awscdk.Duration_Hours(num(1)),
			OnFailure:             awslambdadestinations.NewSqsDestination(failures),
		}
		if f.reserved > 0 {
			props.ReservedConcurrentExecutions = num(f.reserved)
		}
		fn := awslambda.NewFunction(stack, str(f.id), props)
		out.Functions[f.id] = fn
		creds.GrantRead(fn, nil)
		switch f.binary {
		case "create":
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("StoreCreatedKeys"),
				Actions:   jsii.Strings("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource", "secretsmanager:DescribeSecret"),
				Resources: &[]*string{prefixArn},
			}))
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("ReadIdempotencyClaims"),
				Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
				Resources: &[]*string{claimsArn},
			}))
			if keyArn != nil {
				// Secrets Manager needs both to create a secret under a
				// customer-managed key; nothing else in the stack gets either.
				fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:        str("EncryptCreatedKeys"),
					Actions:    jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
					Resources:  &[]*string{keyArn},
					Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": fmt.Sprintf("secretsmanager.%s.amazonaws.com", *stack.Region())}},
				}))
			}
		case "delete":
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       str("ScheduleDeletionOfStoredKeys"),
				Actions:   jsii.Strings("secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"),
				Resources: &[]*string{prefixArn},
			}))
		}
		cdknag.NagSuppressions_AddResourceSuppressions(fn, &[]*cdknag.NagPackSuppression{
			{Id: str("AwsSolutions-IAM4"), Reason: str("AWSLambdaBasicExecutionRole only lets the function write its own logs."),
				AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}},
			{Id: str("AwsSolutions-IAM5"), Reason: str("Created keys are one secret per token, named under the configured prefix: the wildcard is that prefix and nothing wider."),
				AppliesTo: &[]any{"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "*",
					"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:" + s.SecretPrefix + "idempotency/*"}},
		}, jsii.Bool(true))
		alarm(f.id+"Errors", fn.MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(num(5))}), "lmtokens "+f.id+" function errors")
		alarm(f.id+"Throttles", fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(num(5))}), "lmtokens "+f.id+" function throttled")
		awscdk.NewCfnOutput(stack, str(f.id+"FunctionArn"), &awscdk.CfnOutputProps{Value: fn.FunctionArn(), Description: str(f.description)})
	}
	alarm("FailedInvocationsQueued", failures.MetricApproximateNumberOfMessagesVisible(nil), "lmtokens asynchronous invocations failed for good")
	alarm("ScheduleDeadLettersQueued", scheduleDLQ.MetricApproximateNumberOfMessagesVisible(nil), "lmtokens schedules could not invoke the cleanup")

	// The HTTP API.
	out.API = newAPI(stack, s, logRetention, out.Functions)
	alarm("Api5xx", out.API.MetricServerError(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(num(5))}), "lmtokens API answered 5xx")

	// The cleanup schedules. Their input is the plain request to run: the
	// policy is the function's own configuration, which input could only
	// narrow.
	for _, sch := range []struct {
		id, expr string
		fn       awslambda.Function
	}{
		{"CleanupDisableSchedule", s.DisableSchedule, out.Functions["CleanupDisable"]},
		{"CleanupDeleteSchedule", s.DeleteSchedule, out.Functions["CleanupDelete"]},
	} {
		role := awsiam.NewRole(stack, str(sch.id+"Role"), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(str("scheduler.amazonaws.com"), nil),
			Description: str("lmtokens: lets EventBridge Scheduler invoke the cleanup"),
		})
		awsscheduler.NewSchedule(stack, str(sch.id), &awsscheduler.ScheduleProps{
			Schedule:    awsscheduler.ScheduleExpression_Expression(str(sch.expr), awscdk.TimeZone_Of(str(s.ScheduleTimezone))),
			Description: str("lmtokens " + sch.id),
			Enabled:     jsii.Bool(s.SchedulesEnabled),
			Target: awsschedulertargets.NewLambdaInvoke(sch.fn, &awsschedulertargets.ScheduleTargetBaseProps{
				Input:           awsscheduler.ScheduleTargetInput_FromObject(map[string]any{"cleanup": map[string]any{}}),
				RetryAttempts:   num(2),
				MaxEventAge:     awscdk.Duration_Hours(num(1)),
				DeadLetterQueue: scheduleDLQ,
				Role:            role,
			}),
		})
		// After the schedule: its target adds the role's policy.
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        str("AwsSolutions-IAM5"),
			Reason:    str("The scheduler target grants invoke on the cleanup function and its versions (<arn>:*), nothing else."),
			AppliesTo: &[]any{map[string]any{"regex": "/^Resource::<Cleanup(Disable|Delete)[0-9A-F]+\\.Arn>:\\*$/g"}},
		}}, jsii.Bool(true))
	}

	awscdk.NewCfnOutput(stack, str("ApiUrl"), &awscdk.CfnOutputProps{Value: out.API.Url(), Description: str("Base URL of the lmtokens API (callers sign with SigV4)")})
	awscdk.NewCfnOutput(stack, str("SecretPrefix"), &awscdk.CfnOutputProps{Value: str(s.SecretPrefix), Description: str("Where created keys are stored")})
	awscdk.NewCfnOutput(stack, str("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: topic.TopicArn()})
	awscdk.NewCfnOutput(stack, str("FailedInvocationsQueueUrl"), &awscdk.CfnOutputProps{Value: failures.QueueUrl()})
	return out, nil
}

// policyEnv turns a cleanup policy into the CLEANUP_* defaults of a function.
func policyEnv(p map[string]any) map[string]string {
	env := map[string]string{}
	keys := map[string]string{"unusedDays": "CLEANUP_UNUSED_DAYS", "dryRun": "CLEANUP_DRY_RUN", "maxActions": "CLEANUP_MAX_ACTIONS", "keepMarker": "CLEANUP_KEEP_MARKER"}
	for k, v := range p {
		if name, ok := keys[k]; ok {
			env[name] = fmt.Sprint(v)
		}
		if k == "protectedAccessIds" {
			if ids, ok := v.([]any); ok {
				var parts []string
				for _, id := range ids {
					parts = append(parts, fmt.Sprint(id))
				}
				env["CLEANUP_PROTECTED_ACCESS_IDS"] = strings.Join(parts, ",")
			}
		}
	}
	return env
}

func newAPI(stack awscdk.Stack, s Settings, logRetention awslogs.RetentionDays, fns map[string]awslambda.Function) awsapigateway.RestApi {
	str := jsii.String
	accessLogs := awslogs.NewLogGroup(stack, str("ApiAccessLogs"), &awslogs.LogGroupProps{Retention: logRetention})
	policy := allowOnly(s.AllowedPrincipals)
	api := awsapigateway.NewRestApi(stack, str("Api"), &awsapigateway.RestApiProps{
		RestApiName:    str("lmtokens"),
		Description:    str("LogicMonitor API tokens: list, create, toggle, delete"),
		EndpointTypes:  &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		CloudWatchRole: jsii.Bool(true),
		Policy:         policy,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            str("v1"),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(str(accessLogFormat)),
			ThrottlingRateLimit:  jsii.Number(s.ThrottleRate),
			ThrottlingBurstLimit: jsii.Number(s.ThrottleBurst),
			MetricsEnabled:       jsii.Bool(true),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled:     jsii.Bool(false), // bodies never reach the execution logs
		},
	})
	validator := api.AddRequestValidator(str("Validator"), &awsapigateway.RequestValidatorOptions{
		// Bodies have no models: the functions validate them strictly.
		ValidateRequestParameters: jsii.Bool(true), ValidateRequestBody: jsii.Bool(true),
	})
	method := func(res awsapigateway.IResource, verb, fn string, params ...string) {
		req := map[string]*bool{}
		for _, p := range params {
			req["method.request.path."+p] = jsii.Bool(true)
		}
		res.AddMethod(str(verb), awsapigateway.NewLambdaIntegration(fns[fn], nil), &awsapigateway.MethodOptions{
			AuthorizationType: awsapigateway.AuthorizationType_IAM,
			RequestValidator:  validator,
			RequestParameters: &req,
		})
	}
	// The catalog's routes, as a resource tree.
	resources := map[string]awsapigateway.IResource{"": api.Root()}
	var resource func(path string) awsapigateway.IResource
	resource = func(path string) awsapigateway.IResource {
		if r, ok := resources[path]; ok {
			return r
		}
		parent, last := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
		r := resource(parent).AddResource(str(last), nil)
		resources[path] = r
		return r
	}
	for _, f := range catalog.Functions {
		for _, r := range f.Routes {
			var params []string
			for _, seg := range strings.Split(r.Path, "/") {
				if strings.HasPrefix(seg, "{") {
					params = append(params, strings.Trim(seg, "{}"))
				}
			}
			method(resource(r.Path), r.Method, f.ID, params...)
		}
	}

	cdknag.NagSuppressions_AddResourceSuppressions(api, &[]*cdknag.NagPackSuppression{
		{Id: str("AwsSolutions-APIG3"), Reason: str("Every method requires SigV4 (AWS_IAM) and the stage is throttled; a WAF web ACL adds cost without a public surface to protect. Attach one if your organisation requires it.")},
		{Id: str("AwsSolutions-COG4"), Reason: str("Callers are AWS principals (platform teams, pipelines, Step Functions) and authenticate with IAM (SigV4), not Cognito users.")},
		{Id: str("AwsSolutions-IAM4"), Reason: str("The API Gateway account role uses the AWS managed policy for pushing logs to CloudWatch, as CDK's cloudWatchRole does."),
			AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}},
	}, jsii.Bool(true))
	return api
}

// accessLogFormat is one JSON line per API request: the real path (IAM
// policies match it), the caller's ARN, and API Gateway's request id, which
// the function's own log line carries too (apiRequestId), so "who created
// token 9" is one join.
const accessLogFormat = `{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",` +
	`"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","path":"$context.path",` +
	`"resourcePath":"$context.resourcePath","caller":"$context.identity.caller","userArn":"$context.identity.userArn",` +
	`"accountId":"$context.identity.accountId","sourceIp":"$context.identity.sourceIp","status":"$context.status",` +
	`"integrationStatus":"$context.integration.status","integrationLatency":"$context.integration.latency",` +
	`"responseLatency":"$context.responseLatency","errorMessage":"$context.error.message"}`

// allowOnly is the API's resource policy when callers are restricted, or nil.
//
// For an IAM-authorized API in the same account a caller whose own IAM
// policy allows execute-api:Invoke gets in even if the resource policy does
// not name it, so an Allow alone restricts nobody. The explicit Deny for
// every principal outside the list is what restricts; the Allow lets the
// listed principals of other accounts in (they also need their own grant).
func allowOnly(principals []string) awsiam.PolicyDocument {
	if len(principals) == 0 {
		return nil
	}
	str := jsii.String
	var allowed []awsiam.IPrincipal
	var arns, accounts []string
	for _, p := range principals {
		if strings.HasPrefix(p, "arn:") {
			allowed = append(allowed, awsiam.NewArnPrincipal(str(p)))
			arns = append(arns, p)
		} else {
			allowed = append(allowed, awsiam.NewAccountPrincipal(str(p)))
			accounts = append(accounts, p)
		}
	}
	// Deny when the caller matches none of the list: outside every listed
	// account AND unlike every listed ARN (conditions of one statement
	// must all hold).
	conditions := map[string]any{}
	if len(arns) > 0 {
		conditions["ArnNotLike"] = map[string]any{"aws:PrincipalArn": arns}
	}
	if len(accounts) > 0 {
		conditions["StringNotEquals"] = map[string]any{"aws:PrincipalAccount": accounts}
	}
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: str("AllowListedPrincipals"), Effect: awsiam.Effect_ALLOW, Principals: &allowed,
			Actions: jsii.Strings("execute-api:Invoke"), Resources: jsii.Strings("execute-api:/*"),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: str("DenyEveryoneElse"), Effect: awsiam.Effect_DENY, Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions: jsii.Strings("execute-api:Invoke"), Resources: jsii.Strings("execute-api:/*"), Conditions: &conditions,
		}),
	}})
}
