package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// api is the REST API in front of the API functions: SigV4 (AWS_IAM) on
// every method, TLS 1.2 at least, throttled, with a JSON access log.
func (b *builder) api() awsapigateway.RestApi {
	s := b.s
	accessLogs := b.logGroup("ApiAccessLogs")
	api := awsapigateway.NewRestApi(b.stack, str("Api"), &awsapigateway.RestApiProps{
		RestApiName:   str(s.BaseName()),
		Description:   str("LogicMonitor API tokens: list, create, toggle, delete"),
		EndpointTypes: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// The region's API Gateway logging role is an account-wide setting:
		// the stack takes it over only when asked to.
		CloudWatchRole: jsii.Bool(s.ManageAPIGatewayAccountRole),
		Policy:         allowOnly(s.AllowedPrincipals),
		// Answers over 1 KiB (an inventory: up to 5 MiB of JSON) are
		// compressed for callers that accept it.
		MinCompressionSize: awscdk.Size_Bytes(num(1024)),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            str("v1"),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(str(accessLogFormat)),
			ThrottlingRateLimit:  jsii.Number(s.ThrottleRate),
			ThrottlingBurstLimit: jsii.Number(s.ThrottleBurst),
			MetricsEnabled:       jsii.Bool(true),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled:     jsii.Bool(false), // bodies never reach the execution logs
			TracingEnabled:       jsii.Bool(s.Tracing),
		},
	})
	// The regional default endpoint still accepts TLS 1.0.
	api.Node().DefaultChild().(awsapigateway.CfnRestApi).AddPropertyOverride(str("SecurityPolicy"), str("TLS_1_2"))

	// The catalog's routes, as a resource tree.
	resources := map[string]awsapigateway.IResource{"": api.Root()}
	var resource func(path string) awsapigateway.IResource
	resource = func(path string) awsapigateway.IResource {
		if r, ok := resources[path]; ok {
			return r
		}
		cut := strings.LastIndex(path, "/")
		r := resource(path[:cut]).AddResource(str(path[cut+1:]), nil)
		resources[path] = r
		return r
	}
	// Every method requires SigV4 and is validated from the API document.
	options := b.validation(api)
	for _, f := range catalog.Functions {
		for _, r := range f.Routes {
			opts, ok := options[r.Method+" "+r.Path]
			if !ok {
				panic(fmt.Sprintf("infra/openapi.json has no %s %s: run make openapi", r.Method, r.Path))
			}
			// No test-invoke permission: API Gateway's test invocations run
			// past AWS_IAM and the resource policy for apigateway:POST holders.
			integration := awsapigateway.NewLambdaIntegration(b.out.Functions[f.ID], &awsapigateway.LambdaIntegrationOptions{AllowTestInvoke: jsii.Bool(false)})
			resource(r.Path).AddMethod(str(r.Method), integration, opts)
		}
	}

	suppress := []*cdknag.NagPackSuppression{
		{Id: str("AwsSolutions-APIG3"), Reason: str("Every method requires SigV4 (AWS_IAM), so API Gateway refuses an unsigned request before any function runs, and the stage is throttled; a WAF web ACL would add cost without adding a check. One can be associated with the stage from outside the stack if your organisation requires it.")},
		{Id: str("AwsSolutions-COG4"), Reason: str("Callers are AWS principals (platform teams, pipelines, Step Functions) and authenticate with IAM (SigV4), not Cognito users.")},
	}
	if s.ManageAPIGatewayAccountRole {
		suppress = append(suppress, &cdknag.NagPackSuppression{Id: str("AwsSolutions-IAM4"), Reason: str("The API Gateway account role uses the AWS managed policy for pushing logs to CloudWatch, as CDK's cloudWatchRole does."),
			AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(api, &suppress, jsii.Bool(true))
	suppressNag(api, map[string]string{
		"APIGWSSLEnabled":               "The integrations are Lambda proxies, which API Gateway invokes through Lambda's signed API; a client certificate authenticates API Gateway to HTTP back ends only.",
		"APIGWCacheEnabledAndEncrypted": "Caching is off on purpose: answers are LogicMonitor's state of the moment and depend on the caller; a cache would serve stale or another caller's data.",
		"APIGWAssociatedWithWAF":        "Every method requires SigV4 (AWS_IAM), so API Gateway refuses an unsigned request before any function runs, and the stage is throttled; a WAF web ACL would add cost without adding a check. One can be associated with the stage from outside the stack if your organisation requires it.",
		"APIGWXrayEnabled":              "X-Ray tracing is the tracing setting, off by default for its cost; turning it on traces the stage and the functions.",
	})
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
