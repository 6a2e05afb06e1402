package infra

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Cleanup engines: one invocation serves every portal (function), or a
// state machine fans the run out, one Map item per portal (stepfunctions).
const (
	EngineFunction      = "function"
	EngineStepFunctions = "stepfunctions"
)

// FunctionArnPlaceholder stands for the cleanup function's ARN in a
// workflow's definition (a DefinitionSubstitution).
const FunctionArnPlaceholder = "${CleanupFunctionArn}"

// retryable are the errors worth trying again: the functions' own
// RateLimited and Upstream (LogicMonitor or AWS trouble, a step still in
// progress), and Lambda's service errors.
var retryable = []string{"RateLimited", "Upstream", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}

// lambdaTask invokes the function fn names with payload, retrying the
// retryable errors attempts times, the first after interval seconds.
func lambdaTask(fn string, payload map[string]any, interval, attempts int) map[string]any {
	return map[string]any{
		"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
		"Parameters": map[string]any{"FunctionName": fn, "Payload": payload},
		"Retry":      []any{map[string]any{"ErrorEquals": retryable, "IntervalSeconds": interval, "MaxAttempts": attempts, "BackoffRate": 2, "JitterStrategy": "FULL"}},
	}
}

// with adds fields to a state and returns it.
func with(state, fields map[string]any) map[string]any {
	maps.Copy(state, fields)
	return state
}

// invoke is a cleanup workflow's call of its cleanup function.
func invoke(payload map[string]any) map[string]any {
	return lambdaTask(FunctionArnPlaceholder, payload, 2, 3)
}

// CleanupWorkflow is the cleanup state machine's definition (Amazon States
// Language): the cleanup function names the portals, a Distributed Map
// runs one item per portal (at most maxConcurrent at once), each item's
// failure caught into its outcome so that one broken portal fails alone,
// and the function reports the run as one Cleanup Run Completed. Every
// step passes the run's {"cleanup": {...}} on, so each applies the same
// narrowing-only policy; states carry portal names and outcomes, never
// token data.
func CleanupWorkflow(maxConcurrent int) map[string]any {
	portals := with(invoke(map[string]any{"cleanup.$": "$.cleanup", "step": "portals"}), map[string]any{
		"ResultSelector": map[string]any{"portals.$": "$.Payload.portals"}, "ResultPath": "$.run", "Next": "EachPortal"})
	item := with(invoke(map[string]any{"cleanup.$": "$.cleanup", "portal.$": "$.portal"}), map[string]any{
		"OutputPath": "$.Payload", "End": true,
		"Catch": []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.caught", "Next": "PortalFailed"}}})
	summary := with(invoke(map[string]any{"cleanup.$": "$.cleanup", "step": "summarize", "portals.$": "$.run.portals", "outcomes.$": "$.outcomes"}), map[string]any{
		"OutputPath": "$.Payload", "End": true})

	return map[string]any{
		"Comment": "lmtokens cleanup fanned out over portals: name them, run one Map item per portal, report the run once",
		"StartAt": "Portals",
		"States": map[string]any{
			"Portals": portals,
			"EachPortal": map[string]any{
				"Type": "Map", "ItemsPath": "$.run.portals",
				"ItemSelector":   map[string]any{"cleanup.$": "$.cleanup", "portal.$": "$$.Map.Item.Value"},
				"MaxConcurrency": maxConcurrent,
				// Every item's failure is caught into its outcome; a child
				// execution that fails for Step Functions' own reasons is
				// tolerated, and the summary counts its portal as failed.
				"ToleratedFailurePercentage": 100,
				"ItemProcessor": map[string]any{
					"ProcessorConfig": map[string]any{"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
					"StartAt":         "Portal",
					"States": map[string]any{
						"Portal": item,
						"PortalFailed": map[string]any{
							"Type": "Pass",
							// The cause stays in the item's execution history: the
							// outcome must stay small however long it is.
							"Parameters": map[string]any{"portal.$": "$.portal", "outcome": "failed", "errorType.$": "$.caught.Error"},
							"End":        true,
						},
					},
				},
				"ResultPath": "$.outcomes",
				"Next":       "Summary",
			},
			"Summary": summary,
		},
	}
}

// cleanupWorkflows makes a state machine per cleanup stage, each invoking
// its own cleanup function and nothing else, logging to its own log group,
// alarmed on failed, timed-out and aborted executions.
func (b *builder) cleanupWorkflows() {
	s := b.s
	for _, w := range []struct{ id, fn, stage string }{{"CleanupDisableWorkflow", "CleanupDisable", "disable"}, {"CleanupDeleteWorkflow", "CleanupDelete", "delete"}} {
		fn := b.out.Functions[w.fn]
		name := s.BaseName() + "-cleanup-" + w.stage
		sm := b.stateMachine(w.id, name, CleanupWorkflow(s.MaxConcurrentPortals), map[string]*string{"CleanupFunctionArn": fn.FunctionArn()})
		// Its one function, and its own child executions (the Distributed
		// Map starts them): named ARNs, since the state machine's own
		// would be a circular reference.
		own := fmt.Sprintf("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:%s", name)
		runs := fmt.Sprintf("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:%s/*", name)
		sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: str("InvokeItsCleanupFunction"), Actions: jsii.Strings("lambda:InvokeFunction"), Resources: &[]*string{fn.FunctionArn()},
		}))
		sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: str("RunItsOwnMapItems"), Actions: jsii.Strings("states:StartExecution"), Resources: &[]*string{awscdk.Fn_Sub(str(own), nil)},
		}))
		sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: str("WatchItsOwnMapItems"), Actions: jsii.Strings("states:DescribeExecution", "states:StopExecution"), Resources: &[]*string{awscdk.Fn_Sub(str(runs), nil)},
		}))
		b.workflows[w.fn] = sm
		five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(num(5))}
		b.alarm(w.id+"Failed", awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: str("FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)"), Period: awscdk.Duration_Minutes(num(5)), Label: str(w.id + " executions failed, timed out or aborted"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"failed": sm.MetricFailed(five), "timedOut": sm.MetricTimedOut(five), "aborted": sm.MetricAborted(five)},
		}), "lmtokens "+w.stage+" cleanup state machine: an execution failed, timed out or was aborted. Its log group and the execution's history name the step; redrive the execution (StartExecution is not needed: RedriveExecution resumes the failed items)")
	}
}

// CleanupWorkflowFile is the cleanup workflow's definition as committed
// (relative to infra/), with the default maxConcurrentPortals.
const CleanupWorkflowFile = "cleanup-workflow.asl.json"

// PipelineWorkflowFile is the example workflow's definition as committed.
const PipelineWorkflowFile = "pipeline-token-workflow.asl.json"

// The example workflow's placeholders.
const (
	CreateFunctionPlaceholder = "${CreateFunctionArn}"
	EventBusPlaceholder       = "${EventBusName}"
)

// PipelineSource is the source of the example workflow's events: not
// lmtokens, which only lmtokens' functions may speak as.
const PipelineSource = "lmtokens.workflow"

// PipelineTokenWorkflow is the example for other AWS workflows: it makes a
// token for a pipeline's user (idempotent by the execution's name, so a
// retried step makes nothing twice), hands the consumer the secret's ARN
// (an event "Pipeline Token Ready" on the bus, source lmtokens.workflow;
// never the key), waits, and rotates the key. It retries the functions'
// RateLimited and Upstream errors (a rotation still in progress is
// Upstream) and catches the rest into one Fail state naming the cause.
// Input: {"adminId": 2, "note": "...", "rotateAfterSeconds": 2592000}.
func PipelineTokenWorkflow() map[string]any {
	call := func(payload map[string]any) map[string]any {
		return with(lambdaTask(CreateFunctionPlaceholder, payload, 5, 4), map[string]any{
			"Catch": []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.error", "Next": "Failed"}}})
	}
	create := with(call(map[string]any{"adminId.$": "$.adminId", "note.$": "$.note", "idempotencyKey.$": "$$.Execution.Name"}), map[string]any{
		"ResultSelector": map[string]any{"adminId.$": "$.Payload.adminId", "tokenId.$": "$.Payload.id", "secretArn.$": "$.Payload.secret.arn", "secretName.$": "$.Payload.secret.name"},
		"ResultPath":     "$.token", "Next": "HandOver"})
	rotate := with(call(map[string]any{"rotate": map[string]any{"adminId.$": "$.token.adminId", "tokenId.$": "$.token.tokenId"}}), map[string]any{
		"ResultSelector": map[string]any{"versionId.$": "$.Payload.versionId"}, "ResultPath": "$.rotation", "End": true})
	return map[string]any{
		"Comment": "lmtokens example: a token for a pipeline, its secret's ARN handed to the consumer, its key rotated later",
		"StartAt": "CreateToken",
		"States": map[string]any{
			"CreateToken": create,
			"HandOver": map[string]any{
				"Type": "Task", "Resource": "arn:aws:states:::events:putEvents",
				"Parameters": map[string]any{"Entries": []any{map[string]any{
					"EventBusName": EventBusPlaceholder, "Source": PipelineSource, "DetailType": "Pipeline Token Ready",
					"Detail": map[string]any{"adminId.$": "$.token.adminId", "tokenId.$": "$.token.tokenId", "secretArn.$": "$.token.secretArn", "execution.$": "$$.Execution.Id"},
				}}},
				"ResultPath": nil,
				"Retry":      []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}},
				"Next":       "WaitToRotate",
			},
			"WaitToRotate": map[string]any{"Type": "Wait", "SecondsPath": "$.rotateAfterSeconds", "Next": "RotateKey"},
			"RotateKey":    rotate,
			"Failed":       map[string]any{"Type": "Fail", "Error": "PipelineTokenFailed", "CausePath": "$.error.Cause"},
		},
	}
}

// pipelineWorkflow deploys the example (pipelineWorkflow true): it may
// invoke the create function and put its own events (source
// lmtokens.workflow) on the bus, nothing else.
func (b *builder) pipelineWorkflow() {
	name := b.s.BaseName() + "-pipeline-token"
	create := b.out.Functions["Create"]
	sm := b.stateMachine("PipelineTokenWorkflow", name, PipelineTokenWorkflow(), map[string]*string{"CreateFunctionArn": create.FunctionArn(), "EventBusName": b.bus.EventBusName()})
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("InvokeCreate"), Actions: jsii.Strings("lambda:InvokeFunction"), Resources: &[]*string{create.FunctionArn()},
	}))
	sm.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("PutItsOwnEvents"), Actions: jsii.Strings("events:PutEvents"), Resources: &[]*string{b.bus.EventBusArn()},
		// Every entry's source is its own (events:source is multivalued:
		// one per entry; Null keeps an entry-less request out).
		Conditions: &map[string]any{"ForAllValues:StringEquals": map[string]any{"events:source": []string{PipelineSource}}, "Null": map[string]any{"events:source": "false"}},
	}))
	awscdk.NewCfnOutput(b.stack, str("PipelineTokenWorkflowArn"), &awscdk.CfnOutputProps{Value: sm.StateMachineArn(), Description: str("The example workflow: a token for a pipeline, rotated later")})
}

// stateMachine makes a standard state machine from a definition with
// substitutions, logging to its own log group (never the executions'
// data), traced when the stack is.
func (b *builder) stateMachine(id, name string, def map[string]any, subs map[string]*string) awsstepfunctions.StateMachine {
	text, _ := json.Marshal(def)
	logs := awslogs.NewLogGroup(b.stack, str(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName: str("/aws/vendedlogs/states/" + name), Retention: b.logRetention, EncryptionKey: b.logsKey, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	sm := awsstepfunctions.NewStateMachine(b.stack, str(id), &awsstepfunctions.StateMachineProps{
		StateMachineName:        str(name),
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(str(string(text))),
		DefinitionSubstitutions: &subs,
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		Logs:                    &awsstepfunctions.LogOptions{Destination: logs, Level: awsstepfunctions.LogLevel_ALL, IncludeExecutionData: jsii.Bool(false)},
		TracingEnabled:          jsii.Bool(b.s.Tracing),
		Timeout:                 awscdk.Duration_Hours(num(6)),
	})
	suppressNag(sm, map[string]string{"IAMNoInlinePolicy": reasonInlinePolicy})
	cdknag.NagSuppressions_AddResourceSuppressions(sm, &[]*cdknag.NagPackSuppression{{
		Id:     str("AwsSolutions-IAM5"),
		Reason: str("Step Functions' log delivery actions take no resource (Resource *); a Map's child executions' ARNs end in /* because each is named at run time."),
	}}, jsii.Bool(true))
	if !b.s.Tracing {
		cdknag.NagSuppressions_AddResourceSuppressions(sm, &[]*cdknag.NagPackSuppression{{
			Id: str("AwsSolutions-SF2"), Reason: str("X-Ray tracing follows the stack's tracing setting (off by default, as for the functions)."),
		}}, jsii.Bool(true))
	}
	return sm
}
