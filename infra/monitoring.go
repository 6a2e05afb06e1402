package infra

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// alarm sends to the topic when metric reaches threshold. Missing data is
// fine unless breaching is said (a heartbeat).
func (b *builder) alarm(id string, metric awscloudwatch.IMetric, description string, opts ...func(*awscloudwatch.AlarmProps)) {
	props := &awscloudwatch.AlarmProps{
		AlarmName: str(b.s.BaseName() + "-" + id), Metric: metric, Threshold: num(1), EvaluationPeriods: num(1),
		AlarmDescription:   str(description),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	}
	for _, o := range opts {
		o(props)
	}
	a := awscloudwatch.NewAlarm(b.stack, str(id), props)
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(b.topic))
	a.AddOkAction(awscloudwatchactions.NewSnsAction(b.topic)) // and when it is resolved
}

// namespace of the metrics lmtokens derives from its log lines.
func (b *builder) namespace() string { return "lmtokens/" + b.s.BaseName() }

// logMetric turns matching log lines of a function into a metric.
func (b *builder) logMetric(fnID, name, pattern, value string) awscloudwatch.Metric {
	f := b.logGroups[fnID].AddMetricFilter(str(fnID+name), &awslogs.MetricFilterOptions{
		FilterPattern: awslogs.FilterPattern_Literal(str(pattern)), MetricNamespace: str(b.namespace()),
		MetricName: str(name + fnID), MetricValue: str(value), DefaultValue: nil,
	})
	return f.Metric(&awscloudwatch.MetricOptions{Statistic: str("Sum"), Period: awscdk.Duration_Minutes(num(5))})
}

// monitoring: alarms on every function, the queues and the API; the cleanup
// report turned into metrics; a heartbeat per cleanup stage; a dashboard.
func (b *builder) monitoring() {
	five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(num(5))}
	var invocations, errors, requests, remaining []awscloudwatch.IMetric
	for _, c := range catalog.Functions {
		fn := b.out.Functions[c.ID]
		var failed awscloudwatch.IMetric = fn.MetricErrors(five)
		if len(c.Routes) > 0 {
			// An HTTP answer of 5xx is a successful invocation to Lambda:
			// the function's own log line counts it.
			answered5xx := b.logMetric(c.ID, "ServerErrors", `{ $.msg = "invocation failed" && $.status >= 500 }`, "1")
			failed = awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression: str("FILL(errors, 0) + FILL(answered5xx, 0)"), Period: awscdk.Duration_Minutes(num(5)), Label: str(c.ID + " errors and 5xx answers"),
				UsingMetrics: &map[string]awscloudwatch.IMetric{"errors": fn.MetricErrors(five), "answered5xx": answered5xx},
			})
		}
		b.alarm(c.ID+"Errors", failed, "lmtokens "+c.ID+" function failed an invocation or answered 5xx: read its log group for the \"invocation failed\" line")
		b.alarm(c.ID+"Throttles", fn.MetricThrottles(five), "lmtokens "+c.ID+" function throttled: its reserved concurrency is too low for the load")
		invocations = append(invocations, fn.MetricInvocations(five))
		errors = append(errors, fn.MetricErrors(five))
		requests = append(requests, b.logMetric(c.ID, "LogicMonitorRequests", `{ $.lmRequests >= 0 }`, "$.lmRequests"))
		remaining = append(remaining, b.logMetric(c.ID, "RateLimitRemaining", `{ $.rateRemaining >= 0 }`, "$.rateRemaining").With(&awscloudwatch.MetricOptions{Statistic: str("Minimum")}))
	}
	b.alarm("FailedInvocationsQueued", b.failures.MetricApproximateNumberOfMessagesVisible(nil), "lmtokens asynchronous invocations failed for good: read the messages in the FailedInvocations queue")
	b.alarm("ScheduleDeadLettersQueued", b.scheduleDLQ.MetricApproximateNumberOfMessagesVisible(nil), "lmtokens schedules could not invoke a cleanup function: check the schedule role and the function")
	b.alarm("Api5xx", b.out.API.MetricServerError(five), "lmtokens API answered 5xx: the access log and the function logs name the cause")
	b.alarm("ProviderFailed", b.logMetric("Provider", "CustomResourceFailures",
		`{ $.msg = "custom resource answered FAILED" || $.msg = "custom resource answer not delivered" || $.msg = "custom resource event refused" }`, "1"),
		"a Custom::LogicMonitorApiToken request failed, was not answered, or was refused: the provider's log line names the stack, the resource and the reason")
	b.alarm("WarningsNotDelivered", b.warningsDLQ.MetricApproximateNumberOfMessagesVisible(nil), "lmtokens cleanup warnings could not be delivered to the warnings topic: the UndeliveredWarnings queue holds them")
	b.alarm("WarningNotificationsFailed", b.warningsTopic.MetricNumberOfNotificationsFailed(five), "the warnings topic could not notify a subscriber: check its subscriptions")
	b.alarm("EventsNotDelivered", b.eventsNotDelivered(), "lmtokens could not put lifecycle events on the bus: each is in the log (\"msg\":\"event not delivered\") in full; check the bus and the functions' events:PutEvents grant")

	// A deployment counts as a heartbeat: the provider logs "stack
	// deployed" when CloudFormation creates or updates the stack's own
	// Custom::LmtokensDeployment, so a stack just deployed does not alarm
	// before its schedules had a chance to run.
	deployed := b.logMetric("Provider", "StackDeployed", `{ $.msg = "stack deployed" }`, "1")
	awscdk.NewCustomResource(b.stack, str("Deployment"), &awscdk.CustomResourceProps{
		ServiceToken: b.out.Functions["Provider"].FunctionArn(), ResourceType: str(catalog.DeploymentType),
	}).Node().AddDependency(b.logGroups["Provider"].Node().FindChild(str("ProviderStackDeployed")))

	var actions, notOK []awscloudwatch.IMetric
	for _, sch := range b.cleanupSchedules() {
		fn := b.out.Functions[sch.fn]
		bad := b.logMetric(sch.fn, "CleanupRunsNotOk", `{ $.msg = "cleanup report" && ($.report.outcome = "partial" || $.report.outcome = "failed") }`, "1")
		tokenErrors := b.logMetric(sch.fn, "CleanupTokenErrors", `{ $.msg = "cleanup report" && $.report.failed > 0 }`, "$.report.failed")
		actions = append(actions, b.logMetric(sch.fn, "CleanupActions", `{ $.msg = "cleanup report" }`, "$.report.succeeded"))
		notOK = append(notOK, bad, tokenErrors)
		b.alarm(sch.fn+"NotOk", bad, "lmtokens "+sch.fn+" run ended partial or failed: its report (\"msg\":\"cleanup report\") lists the errors")
		// The heartbeat: a run that succeeded within the schedule's period.
		// Missing data breaches, so a disabled schedule or a role broken
		// before the invocation raises it too.
		days := heartbeatDays(sch.expr)
		ok := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:    str("FILL(inv, 0) - FILL(err, 0) + FILL(dep, 0)"),
			UsingMetrics:  &map[string]awscloudwatch.IMetric{"inv": fn.MetricInvocations(nil), "err": fn.MetricErrors(nil), "dep": deployed.With(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Days(num(1))})},
			Period:        awscdk.Duration_Days(num(1)),
			Label:         str("successful runs"),
			SearchAccount: nil,
		})
		b.alarm(sch.fn+"Heartbeat", ok, "lmtokens "+sch.fn+" has not run successfully for "+strconv.Itoa(days)+" day(s): check that its schedule is enabled, its role can invoke it, and its recent errors", func(p *awscloudwatch.AlarmProps) {
			p.ComparisonOperator = awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD
			p.EvaluationPeriods, p.DatapointsToAlarm = num(float64(days)), num(float64(days))
			p.TreatMissingData = awscloudwatch.TreatMissingData_BREACHING
		})
	}

	graph := func(title string, metrics []awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: str(title), Left: &metrics, Width: num(12)})
	}
	queues := []awscloudwatch.IMetric{b.failures.MetricApproximateNumberOfMessagesVisible(nil), b.scheduleDLQ.MetricApproximateNumberOfMessagesVisible(nil)}
	awscloudwatch.NewDashboard(b.stack, str("Dashboard"), &awscloudwatch.DashboardProps{
		// Dashboard names are global to the account: the region joins them.
		DashboardName: str(b.s.BaseName() + "-" + *b.stack.Region()),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{graph("Invocations", invocations), graph("Errors", errors)},
			{graph("LogicMonitor requests", requests), graph("Remaining rate limit (lowest)", remaining)},
			{graph("Cleanup actions per run", actions), graph("Cleanup runs not ok, per-token errors", notOK)},
			{graph("Dead-letter queues", queues), graph("API 5xx", []awscloudwatch.IMetric{b.out.API.MetricServerError(five)})},
		},
	})
}

var weekday = regexp.MustCompile(`^(MON|TUE|WED|THU|FRI|SAT|SUN|[1-7])([,-].*)?$`)

// scheduleDays is a schedule's period in whole days (at least one): a
// weekly cron is seven, rate(n days) is n, anything more frequent is one.
func scheduleDays(expr string) int {
	inner := strings.TrimSuffix(expr[strings.Index(expr, "(")+1:], ")")
	switch {
	case strings.HasPrefix(expr, "rate("):
		f := strings.Fields(inner)
		n, _ := strconv.Atoi(f[0])
		if len(f) == 2 && strings.HasPrefix(f[1], "day") && n > 1 {
			return n
		}
	case strings.HasPrefix(expr, "cron("):
		f := strings.Fields(inner)
		if len(f) == 6 && weekday.MatchString(strings.ToUpper(f[4])) {
			return 7
		}
	case strings.HasPrefix(expr, "at("):
		return 7
	}
	return 1
}

// heartbeatDays is how many days may pass without a run before the
// heartbeat alarm fires: one period of the schedule and a day of slack,
// within CloudWatch's seven-day limit on an alarm's window.
func heartbeatDays(expr string) int {
	return min(scheduleDays(expr)+1, 7)
}
