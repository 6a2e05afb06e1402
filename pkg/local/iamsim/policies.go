package iamsim

import (
	"fmt"
	"strings"
)

// Policy is a named policy document, resolved.
type Policy struct {
	Name     string         `json:"name"`
	Document map[string]any `json:"policy"`
}

// awsManaged are the AWS-managed policies a CDK stack commonly attaches,
// as AWS publishes them (their text is not in the template).
var awsManaged = map[string]map[string]any{
	"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": []any{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, "Resource": "*"}}},
	"arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs": {"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": []any{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"}, "Resource": "*"}}},
}

// IdentityPolicies are the policies the template attaches to a role (by
// logical id): AWS::IAM::Policy and ManagedPolicy resources naming it, its
// inline Policies, and the AWS-managed policies whose text this package
// holds. Managed policies it does not know are answered in the second
// value: a role that has one cannot be evaluated faithfully.
func (t *Template) IdentityPolicies(roleID string) ([]Policy, []string) {
	var out []Policy
	role := t.Resources[roleID]
	for _, p := range asList(t.Resolve(role.Properties["Policies"])) {
		m := p.(map[string]any)
		out = append(out, Policy{Name: fmt.Sprint(m["PolicyName"]), Document: m["PolicyDocument"].(map[string]any)})
	}
	name := t.Name(roleID)
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range t.OfType(typ) {
			props := t.Resources[id].Properties
			for _, r := range asList(t.Resolve(props["Roles"])) {
				if r == name {
					out = append(out, Policy{Name: id, Document: t.Resolve(props["PolicyDocument"]).(map[string]any)})
				}
			}
		}
	}
	var unknown []string
	for _, arn := range asList(t.Resolve(role.Properties["ManagedPolicyArns"])) {
		if doc, ok := awsManaged[fmt.Sprint(arn)]; ok {
			out = append(out, Policy{Name: fmt.Sprint(arn), Document: doc})
		} else {
			unknown = append(unknown, fmt.Sprint(arn))
		}
	}
	return out, unknown
}

// TrustPolicy is a role's assume-role policy.
func (t *Template) TrustPolicy(roleID string) map[string]any {
	return t.Resolve(t.Resources[roleID].Properties["AssumeRolePolicyDocument"]).(map[string]any)
}

// ResourcePolicy is the policy AWS evaluates for a request on the resource
// with logical id id (nil when it has none): a key's key policy, a
// topic's or queue's policy, an event bus's statements, a function's
// permissions, an API's policy, a table's resource policy.
func (t *Template) ResourcePolicy(id string) map[string]any {
	r := t.Resources[id]
	var statements []any
	add := func(doc any) {
		if m, ok := doc.(map[string]any); ok {
			statements = append(statements, asList(m["Statement"])...)
		}
	}
	switch r.Type {
	case "AWS::KMS::Key":
		add(t.Resolve(r.Properties["KeyPolicy"]))
	case "AWS::ApiGateway::RestApi":
		// API Gateway expands execute-api:/<stage>/<method>/<path> to
		// the API's own ARN.
		add(expandExecuteAPI(t.Resolve(r.Properties["Policy"]), "arn:aws:execute-api:"+Region+":"+Account+":"+t.ref(id).(string)+"/"))
	case "AWS::SecretsManager::Secret":
		for _, pid := range t.OfType("AWS::SecretsManager::ResourcePolicy") {
			p := t.Resources[pid].Properties
			if t.Resolve(p["SecretId"]) == t.ref(id) {
				add(t.Resolve(p["ResourcePolicy"]))
			}
		}
	case "AWS::SNS::Topic", "AWS::SQS::Queue":
		policyType, listKey := "AWS::SNS::TopicPolicy", "Topics"
		if r.Type == "AWS::SQS::Queue" {
			policyType, listKey = "AWS::SQS::QueuePolicy", "Queues"
		}
		for _, pid := range t.OfType(policyType) {
			p := t.Resources[pid].Properties
			for _, target := range asList(t.Resolve(p[listKey])) {
				if target == t.ref(id) {
					add(t.Resolve(p["PolicyDocument"]))
				}
			}
		}
	case "AWS::Events::EventBus":
		for _, pid := range t.OfType("AWS::Events::EventBusPolicy") {
			p := t.Resources[pid].Properties
			if t.Resolve(p["EventBusName"]) != t.Name(id) {
				continue
			}
			if st, ok := p["Statement"]; ok {
				statements = append(statements, t.Resolve(st))
			}
		}
	case "AWS::DynamoDB::Table":
		if rp, ok := r.Properties["ResourcePolicy"].(map[string]any); ok {
			add(t.Resolve(rp["PolicyDocument"]))
		}
	case "AWS::Lambda::Function":
		for _, pid := range t.OfType("AWS::Lambda::Permission") {
			p := t.Resolve(t.Resources[pid].Properties).(map[string]any)
			fn := fmt.Sprint(p["FunctionName"])
			if fn != t.ARN(id) && fn != t.Name(id) {
				continue
			}
			statements = append(statements, permissionStatement(pid, p, t.ARN(id)))
		}
	default:
		return nil
	}
	if len(statements) == 0 {
		return nil
	}
	return map[string]any{"Version": "2012-10-17", "Statement": statements}
}

// permissionStatement is the statement Lambda adds to a function's policy
// for an AWS::Lambda::Permission, as GetPolicy shows it.
func permissionStatement(sid string, p map[string]any, fnARN string) map[string]any {
	principal := fmt.Sprint(p["Principal"])
	var who any = map[string]any{"AWS": principal}
	switch {
	case principal == "*":
		who = "*"
	case strings.HasSuffix(principal, ".amazonaws.com"):
		who = map[string]any{"Service": principal}
	case !strings.HasPrefix(principal, "arn:"):
		who = map[string]any{"AWS": "arn:aws:iam::" + principal + ":root"}
	}
	cond := map[string]any{}
	if v, ok := p["SourceArn"]; ok {
		cond["ArnLike"] = map[string]any{"AWS:SourceArn": v}
	}
	if v, ok := p["SourceAccount"]; ok {
		cond["StringEquals"] = map[string]any{"AWS:SourceAccount": v}
	}
	if v, ok := p["PrincipalOrgID"]; ok {
		eq, _ := cond["StringEquals"].(map[string]any)
		if eq == nil {
			eq = map[string]any{}
			cond["StringEquals"] = eq
		}
		eq["aws:PrincipalOrgID"] = v
	}
	st := map[string]any{"Sid": sid, "Effect": "Allow", "Principal": who, "Action": p["Action"], "Resource": fnARN}
	if len(cond) > 0 {
		st["Condition"] = cond
	}
	return st
}

func expandExecuteAPI(v any, base string) any {
	switch x := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(x, "execute-api:/"); ok {
			return base + rest
		}
	case []any:
		for i := range x {
			x[i] = expandExecuteAPI(x[i], base)
		}
	case map[string]any:
		for k := range x {
			x[k] = expandExecuteAPI(x[k], base)
		}
	}
	return v
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}
