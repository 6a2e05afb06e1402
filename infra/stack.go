// Package infra is lmtokens' CDK stack: the functions of the catalog, the
// REST API in front of the API functions, the cleanup schedules, the
// rotation function Secrets Manager invokes (and the credentials' rotation
// schedule), the key that protects stored keys, least-privilege access to
// Secrets Manager, and what tells operators when something is wrong.
package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
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

var retention = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
}

// builder holds what the parts of the stack share while it is built.
type builder struct {
	stack        awscdk.Stack
	s            Settings
	out          *Stack
	logRetention awslogs.RetentionDays
	topic        awssns.Topic
	failures     awssqs.Queue // failed asynchronous invocations
	scheduleDLQ  awssqs.Queue // schedule deliveries that failed
	keyArn       *string      // the created keys' KMS key, if any
	key          awskms.Key   // the same, when the stack made it
	logGroups    map[string]awslogs.LogGroup
	logsKey      awskms.Key // encrypts every log group of the stack
	bus          awsevents.IEventBus
	// marks is the warnings' marks table; markWriters the roles that may
	// write it.
	marks       awsdynamodb.Table
	markWriters []*string
	// warningsTopic receives the cleanup warnings; warningsDLQ what
	// EventBridge could not deliver to it.
	warningsTopic awssns.Topic
	warningsDLQ   awssqs.Queue
	// workflows are the cleanup state machines by function id
	// (cleanupEngine stepfunctions).
	workflows map[string]awsstepfunctions.StateMachine
}

var str = jsii.String

func num(v float64) *float64 { return jsii.Number(v) }

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
	if s.BinDir == "" {
		return nil, fmt.Errorf("no binaries: the app builds them into a directory first (binDir)")
	}
	stackProps := props.StackProps
	if s.TerminationProtection {
		stackProps.TerminationProtection = jsii.Bool(true)
	}
	stack := awscdk.NewStack(scope, str(id), &stackProps)
	// CloudFormation's schema for dashboards has no Tags (cfn-lint E3002),
	// though the CDK would add them.
	untagged := &awscdk.TagProps{ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard")}
	awscdk.Tags_Of(stack).Add(str("project"), str("lmtokens"), untagged)
	awscdk.Tags_Of(stack).Add(str("env"), str(s.EnvName()), untagged)
	b := &builder{stack: stack, s: s, out: &Stack{Stack: stack, Functions: map[string]awslambda.Function{}}, logRetention: logRetention, logGroups: map[string]awslogs.LogGroup{},
		workflows: map[string]awsstepfunctions.StateMachine{}}

	b.makeLogsKey()
	b.queuesAndTopic()
	b.createdKeysKey()
	b.eventBus()
	b.marksTable()
	if err := b.functions(); err != nil {
		return nil, err
	}
	b.marksPolicy()
	b.keyUsers()
	b.busPolicy()
	b.out.API = b.api()
	if s.CleanupEngine == EngineStepFunctions {
		b.cleanupWorkflows()
	}
	if s.PipelineWorkflow {
		b.pipelineWorkflow()
	}
	b.schedules()
	b.monitoring()

	awscdk.NewCfnOutput(stack, str("ApiUrl"), &awscdk.CfnOutputProps{Value: b.out.API.Url(), Description: str("Base URL of the lmtokens API (callers sign with SigV4)")})
	awscdk.NewCfnOutput(stack, str("SecretPrefix"), &awscdk.CfnOutputProps{Value: str(s.SecretPrefix), Description: str("Where created keys are stored")})
	awscdk.NewCfnOutput(stack, str("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: b.topic.TopicArn()})
	awscdk.NewCfnOutput(stack, str("FailedInvocationsQueueUrl"), &awscdk.CfnOutputProps{Value: b.failures.QueueUrl()})
	return b.out, nil
}

// queuesAndTopic makes the dead-letter queues and the alarm topic.
func (b *builder) queuesAndTopic() {
	queue := func(id string) awssqs.Queue {
		q := awssqs.NewQueue(b.stack, str(id), &awssqs.QueueProps{
			Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true), RetentionPeriod: awscdk.Duration_Days(num(14)),
		})
		suppressNag(q, map[string]string{"SQS3": reasonIsDLQ, "SQSRedrivePolicy": reasonIsDLQ})
		return q
	}
	b.failures, b.scheduleDLQ = queue("FailedInvocations"), queue("ScheduleDeadLetters")
	// CloudWatch publishes an alarm as cloudwatch.amazonaws.com, which
	// cannot use the AWS-managed SNS key: the topic has a key of its own
	// whose policy lets CloudWatch use it, and a policy that lets
	// CloudWatch publish, both for this stack's alarms only.
	alarms := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()},
		"ArnLike": map[string]any{"aws:SourceArn": b.stack.FormatArn(&awscdk.ArnComponents{
			Service: str("cloudwatch"), Resource: str("alarm"), ResourceName: str(b.s.BaseName() + "-*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}
	cloudwatch := awsiam.NewServicePrincipal(str("cloudwatch.amazonaws.com"), nil)
	key := awskms.NewKey(b.stack, str("AlarmsKey"), &awskms.KeyProps{Description: str("lmtokens: encrypts the alarm topic"), EnableKeyRotation: jsii.Bool(true)})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("CloudWatchAlarmsUseIt"), Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions: jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"), Resources: jsii.Strings("*"), Conditions: &alarms,
	}), nil)
	b.topic = awssns.NewTopic(b.stack, str("Alarms"), &awssns.TopicProps{
		DisplayName: str(b.s.BaseName() + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	b.topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("CloudWatchAlarmsPublish"), Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions: jsii.Strings("sns:Publish"), Resources: &[]*string{b.topic.TopicArn()}, Conditions: &alarms,
	}))
	if b.s.AlarmEmail != "" {
		b.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(str(b.s.AlarmEmail), nil))
		suppressNag(b.topic, map[string]string{"SNSRedrivePolicy": reasonEmail})
	}
}

// makeLogsKey makes the key of the stack's log groups: the lines hold no key (a tested
// promise), but they do hold who did what to which token. CloudWatch Logs
// may use it for this account's log groups of this region only.
func (b *builder) makeLogsKey() {
	b.logsKey = awskms.NewKey(b.stack, str("LogsKey"), &awskms.KeyProps{Description: str("lmtokens: encrypts the stack's log groups"), EnableKeyRotation: jsii.Bool(true)})
	b.logsKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        str("CloudWatchLogsUseIt"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(str("logs."+*b.stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": b.stack.FormatArn(&awscdk.ArnComponents{
			Service: str("logs"), Resource: str("log-group"), ResourceName: str("*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})}},
	}), nil)
}

// logGroup makes one of the stack's log groups: its retention, its key.
func (b *builder) logGroup(id string) awslogs.LogGroup {
	return awslogs.NewLogGroup(b.stack, str(id), &awslogs.LogGroupProps{Retention: b.logRetention, EncryptionKey: b.logsKey})
}
