package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
)

// eventBus is where the functions put lifecycle events: the environment's
// own bus, or the one eventBusName names. Cleanup warnings are routed to an
// SNS topic (warningEmail subscribes an address).
func (b *builder) eventBus() {
	if b.s.EventBusName != "" {
		b.bus = awsevents.EventBus_FromEventBusName(b.stack, str("Events"), str(b.s.EventBusName))
	} else {
		b.bus = awsevents.NewEventBus(b.stack, str("Events"), &awsevents.EventBusProps{EventBusName: str(b.s.BaseName())})
	}
	awscdk.NewCfnOutput(b.stack, str("EventBusArn"), &awscdk.CfnOutputProps{Value: b.bus.EventBusArn(), Description: str("lmtokens puts its lifecycle events (source lmtokens) here")})

	// EventBridge cannot publish to a topic under the AWS-managed SNS key,
	// so the warnings topic has a key of its own that EventBridge may use,
	// for this stack's warnings rule only.
	// A rule's ARN names its bus, unless that is the default bus.
	busName, ruleName := b.s.EventBusName, b.warningsRuleName()
	if busName == "" {
		busName = b.s.BaseName()
	}
	if busName != "default" {
		ruleName = busName + "/" + ruleName
	}
	ruleArn := b.stack.FormatArn(&awscdk.ArnComponents{Service: str("events"), Resource: str("rule"), ResourceName: str(ruleName), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	fromRule := &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()}, "ArnEquals": map[string]any{"aws:SourceArn": ruleArn}}
	eventbridge := awsiam.NewServicePrincipal(str("events.amazonaws.com"), nil)
	key := awskms.NewKey(b.stack, str("WarningsKey"), &awskms.KeyProps{
		Description: str("lmtokens: encrypts the cleanup warnings topic"), EnableKeyRotation: jsii.Bool(true),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("WarningsRuleUsesIt"), Principals: &[]awsiam.IPrincipal{eventbridge},
		Actions: jsii.Strings("kms:GenerateDataKey*", "kms:Decrypt"), Resources: jsii.Strings("*"), Conditions: fromRule,
	}), nil)
	// The topic refers to the key by ARN: given the key itself, the rule
	// target would add a statement letting events.amazonaws.com use it for
	// any rule of any account.
	topic := awssns.NewTopic(b.stack, str("Warnings"), &awssns.TopicProps{
		DisplayName: str(b.s.BaseName() + " cleanup warnings"), MasterKey: awskms.Key_FromKeyArn(b.stack, str("WarningsKeyRef"), key.KeyArn()), EnforceSSL: jsii.Bool(true),
	})
	// The rule target grants EventBridge sns:Publish; only this stack's
	// warnings rule may use it.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("OnlyTheWarningsRule"), Effect: awsiam.Effect_DENY, Principals: &[]awsiam.IPrincipal{eventbridge},
		Actions: jsii.Strings("sns:Publish"), Resources: &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{"ArnNotEquals": map[string]any{"aws:SourceArn": ruleArn}},
	}))
	if b.s.WarningEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(str(b.s.WarningEmail), nil))
		suppressNag(topic, map[string]string{"SNSRedrivePolicy": reasonEmail})
	}
	// A warning EventBridge cannot deliver is retried for a day, then kept
	// in a dead-letter queue, which alarms.
	b.warningsDLQ = awssqs.NewQueue(b.stack, str("UndeliveredWarnings"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true), RetentionPeriod: awscdk.Duration_Days(num(14)),
	})
	suppressNag(b.warningsDLQ, map[string]string{"SQS3": reasonIsDLQ, "SQSRedrivePolicy": reasonIsDLQ})
	awsevents.NewRule(b.stack, str("WarningsRule"), &awsevents.RuleProps{
		RuleName:    str(b.warningsRuleName()),
		EventBus:    b.bus,
		Description: str("lmtokens cleanup warnings to the warnings topic"),
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings(lifecycle.Source), DetailType: jsii.Strings(lifecycle.TokenWillBeDisabled, lifecycle.TokenWillBeDeleted),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSnsTopic(topic, &awseventstargets.SnsTopicProps{
			RetryAttempts: num(24), MaxEventAge: awscdk.Duration_Hours(num(24)), DeadLetterQueue: b.warningsDLQ,
		})},
	})
	b.warningsTopic = topic
	awscdk.NewCfnOutput(b.stack, str("WarningsTopicArn"), &awscdk.CfnOutputProps{Value: topic.TopicArn(), Description: str("cleanup warnings, before a token is disabled or deleted")})
}

// eventsNotDelivered alarms when any function logged an event it could not
// deliver (the log line holds the event).
func (b *builder) eventsNotDelivered() awscloudwatch.IMetric {
	metrics := map[string]awscloudwatch.IMetric{}
	expr := ""
	for i, c := range catalog.Functions {
		id := "m" + string(rune('a'+i))
		metrics[id] = b.logMetric(c.ID, "EventsNotDelivered", `{ $.msg = "event not delivered" }`, "1")
		if expr != "" {
			expr += " + "
		}
		expr += "FILL(" + id + ", 0)"
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: str(expr), UsingMetrics: &metrics, Period: awscdk.Duration_Minutes(num(5)), Label: str("events not delivered"),
	})
}

// warningsRuleName names the warnings rule (its ARN scopes the topic's and
// the key's policies).
func (b *builder) warningsRuleName() string { return b.s.BaseName() + "-warnings" }

// busPolicy makes the lmtokens events on the bus authentic: every principal
// but the functions' roles is denied events:PutEvents of an entry whose
// source is lmtokens (one call carries up to ten entries: ForAnyValue).
func (b *builder) busPolicy() {
	var roles []string
	for _, c := range catalog.Functions {
		if emits(c) {
			roles = append(roles, *b.out.Functions[c.ID].Role().RoleArn())
		}
	}
	name := b.s.EventBusName
	if name == "" {
		name = *b.bus.EventBusName()
	}
	awsevents.NewCfnEventBusPolicy(b.stack, str("OnlyLmtokensSpeaksAsLmtokens"), &awsevents.CfnEventBusPolicyProps{
		EventBusName: str(name),
		StatementId:  str(b.s.BaseName() + "-source"),
		Statement: map[string]any{
			"Sid": b.s.BaseName() + "-source", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents",
			"Resource": b.bus.EventBusArn(),
			"Condition": map[string]any{
				"ForAnyValue:StringEquals": map[string]any{"events:source": []string{lifecycle.Source}},
				"ArnNotEquals":             map[string]any{"aws:PrincipalArn": roles},
			},
		},
	})
}
