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
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
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
	logGroups    map[string]awslogs.LogGroup
	bus          awsevents.IEventBus
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
	awscdk.Tags_Of(stack).Add(str("project"), str("lmtokens"), nil)
	awscdk.Tags_Of(stack).Add(str("env"), str(s.EnvName()), nil)
	b := &builder{stack: stack, s: s, out: &Stack{Stack: stack, Functions: map[string]awslambda.Function{}}, logRetention: logRetention, logGroups: map[string]awslogs.LogGroup{}}

	b.queuesAndTopic()
	b.createdKeysKey()
	b.eventBus()
	if err := b.functions(); err != nil {
		return nil, err
	}
	b.out.API = b.api()
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
		cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
			Id: str("AwsSolutions-SQS3"), Reason: str("This queue is itself the dead-letter destination of failed invocations; a queue behind it would never be read."),
		}}, jsii.Bool(false))
		return q
	}
	b.failures, b.scheduleDLQ = queue("FailedInvocations"), queue("ScheduleDeadLetters")
	b.topic = awssns.NewTopic(b.stack, str("Alarms"), &awssns.TopicProps{
		DisplayName: str(b.s.Name("lmtokens") + " alarms"),
		MasterKey:   awskms.Alias_FromAliasName(b.stack, str("SnsManagedKey"), str("alias/aws/sns")),
		EnforceSSL:  jsii.Bool(true),
	})
	if b.s.AlarmEmail != "" {
		b.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(str(b.s.AlarmEmail), nil))
	}
}

// createdKeysKey picks the KMS key of the created keys' secrets. By default
// it is the stack's own, so reading one needs kms:Decrypt on it as well as
// GetSecretValue: a role with GetSecretValue on * reads none of them.
func (b *builder) createdKeysKey() {
	switch {
	case b.s.KMSKeyArn != "":
		b.keyArn = str(b.s.KMSKeyArn)
	case !b.s.UseAWSManagedKey:
		key := awskms.NewKey(b.stack, str("CreatedKeysKey"), &awskms.KeyProps{
			Description:       str("lmtokens: encrypts the LogicMonitor keys stored under " + b.s.SecretPrefix),
			EnableKeyRotation: jsii.Bool(true),
			// Deleting the key would make every stored key unreadable.
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		b.keyArn = key.KeyArn()
		awscdk.NewCfnOutput(b.stack, str("CreatedKeysKmsKeyArn"), &awscdk.CfnOutputProps{Value: b.keyArn,
			Description: str("KMS key of the created keys' secrets: readers need kms:Decrypt on it (via Secrets Manager)")})
	}
}
