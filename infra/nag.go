package infra

import (
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// CheckWithNag adds every cdk-nag rule pack to the app: AWS Solutions,
// HIPAA Security, NIST 800-53 rev 4 and rev 5, PCI DSS 3.2.1, and
// Serverless. A finding is an error at synth unless a suppression with its
// reason covers it.
func CheckWithNag(app awscdk.App, verbose bool) {
	props := &cdknag.NagPackProps{Verbose: jsii.Bool(verbose)}
	for _, pack := range []awscdk.IAspect{
		cdknag.NewAwsSolutionsChecks(props), cdknag.NewHIPAASecurityChecks(props), cdknag.NewNIST80053R4Checks(props),
		cdknag.NewNIST80053R5Checks(props), cdknag.NewPCIDSS321Checks(props), cdknag.NewServerlessChecks(props),
	} {
		awscdk.Aspects_Of(app).Add(pack, nil)
	}
}

// NagRulePrefixes are the rule-id prefixes of those packs.
var NagRulePrefixes = []string{"AwsSolutions-", "HIPAA.Security-", "NIST.800.53.R4-", "NIST.800.53.R5-", "PCI.DSS.321-", "Serverless-"}

// suppress records, on scope and what it holds, why each rule does not
// apply (rule: the id without its pack's prefix), for every pack.
func suppressNag(scope constructs.IConstruct, reasons map[string]string) {
	// In a fixed order: the suppressions are metadata, which the API's
	// deployment id hashes, so a random order would redeploy the stage.
	var all []*cdknag.NagPackSuppression
	for _, rule := range slices.Sorted(maps.Keys(reasons)) {
		for _, prefix := range NagRulePrefixes {
			all = append(all, &cdknag.NagPackSuppression{Id: jsii.String(prefix + rule), Reason: jsii.String(reasons[rule])})
		}
	}
	cdknag.NagSuppressions_AddResourceSuppressions(scope, &all, jsii.Bool(true))
}

// Reasons shared by several resources.
const (
	reasonInlinePolicy = "Each policy belongs to one role and holds exactly that function's least privilege, which the stack's tests evaluate with an IAM simulator; a managed policy exists to be shared, which these must not be."
	reasonNoVPC        = "The functions call LogicMonitor's internet API and AWS's public APIs only; a VPC would add NAT gateways and no isolation for those calls. Running them in a VPC would be a change to the stack's code; there is no setting for it."
	reasonDestination  = "Asynchronous invocations that fail for good go to the FailedInvocations queue through an on-failure destination, which also records the error (the successor of a dead-letter queue); synchronous callers get the error themselves."
	reasonConcurrency  = "Reserved concurrency is the reservedConcurrency setting, off by default because any reservation can fail the deploy in an account with a low concurrency quota; infra/README.md says how to turn it on."
	reasonMarksBackup  = "The table holds only cleanup's warning marks (which token was warned, when): point-in-time recovery keeps 35 days of it, and losing it loses no token or key, only delays actions by warnDays while the next run warns again. An AWS Backup plan would add a vault and a role for nothing more."
	reasonIsDLQ        = "This queue is itself a dead-letter queue; a queue behind it would never be read."
	reasonEmail        = "An e-mail subscription's failed deliveries are counted by SNS (NumberOfNotificationsFailed); a queue behind an e-mail address would never be read."
)
