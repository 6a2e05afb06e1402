package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// cleanupSchedules pairs each cleanup function with its schedule.
func (b *builder) cleanupSchedules() []struct{ id, fn, expr string } {
	return []struct{ id, fn, expr string }{
		{"CleanupDisableSchedule", "CleanupDisable", b.s.DisableSchedule},
		{"CleanupDeleteSchedule", "CleanupDelete", b.s.DeleteSchedule},
	}
}

// schedules invokes the cleanup functions. Their input is the plain request
// to run: the policy is the function's own configuration, which input
// could only narrow.
func (b *builder) schedules() {
	for _, sch := range b.cleanupSchedules() {
		// Only this account's schedules may use the role (confused deputy).
		role := awsiam.NewRole(b.stack, str(sch.id+"Role"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(str("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()},
				"ArnLike": map[string]any{"aws:SourceArn": b.stack.FormatArn(&awscdk.ArnComponents{
					Service: str("scheduler"), Resource: str("schedule"), ResourceName: str("default/*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
				})},
			}}),
			Description: str("lmtokens: lets EventBridge Scheduler invoke the cleanup"),
		})
		props := &awsschedulertargets.ScheduleTargetBaseProps{
			Input:           awsscheduler.ScheduleTargetInput_FromObject(map[string]any{"cleanup": map[string]any{}}),
			RetryAttempts:   num(2),
			MaxEventAge:     awscdk.Duration_Hours(num(1)),
			DeadLetterQueue: b.scheduleDLQ,
			Role:            role,
		}
		var target awsscheduler.IScheduleTarget = awsschedulertargets.NewLambdaInvoke(b.out.Functions[sch.fn], props)
		if sm, ok := b.workflows[sch.fn]; ok {
			// The state machine alone: states:StartExecution on it.
			target = awsschedulertargets.NewStepFunctionsStartExecution(sm, props)
		}
		awsscheduler.NewSchedule(b.stack, str(sch.id), &awsscheduler.ScheduleProps{
			Schedule:    awsscheduler.ScheduleExpression_Expression(str(sch.expr), awscdk.TimeZone_Of(str(b.s.ScheduleTimezone))),
			Description: str(b.s.BaseName() + " " + sch.id),
			Enabled:     jsii.Bool(b.s.SchedulesEnabled),
			Target:      target,
		})
		suppressNag(role, map[string]string{"IAMNoInlinePolicy": reasonInlinePolicy})
		// After the schedule: its target adds the role's policy.
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        str("AwsSolutions-IAM5"),
			Reason:    str("The scheduler target grants invoke on the cleanup function and its versions (<arn>:*), nothing else."),
			AppliesTo: &[]any{map[string]any{"regex": "/^Resource::<Cleanup(Disable|Delete)[0-9A-F]+\\.Arn>:\\*$/g"}},
		}}, jsii.Bool(true))
	}
}
