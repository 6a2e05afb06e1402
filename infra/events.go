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
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/events"
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
	// so the warnings topic has a key of its own that EventBridge may use.
	key := awskms.NewKey(b.stack, str("WarningsKey"), &awskms.KeyProps{
		Description: str("lmtokens: encrypts the cleanup warnings topic"), EnableKeyRotation: jsii.Bool(true),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(str("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:GenerateDataKey*", "kms:Decrypt"), Resources: jsii.Strings("*"),
	}), nil)
	topic := awssns.NewTopic(b.stack, str("Warnings"), &awssns.TopicProps{
		DisplayName: str(b.s.BaseName() + " cleanup warnings"), MasterKey: key, EnforceSSL: jsii.Bool(true),
	})
	if b.s.WarningEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(str(b.s.WarningEmail), nil))
	}
	awsevents.NewRule(b.stack, str("WarningsRule"), &awsevents.RuleProps{
		EventBus:    b.bus,
		Description: str("lmtokens cleanup warnings to the warnings topic"),
		EventPattern: &awsevents.EventPattern{
			Source: jsii.Strings(events.Source), DetailType: jsii.Strings(events.TokenWillBeDisabled, events.TokenWillBeDeleted),
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSnsTopic(topic, nil)},
	})
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
