// Package iamsim evaluates a synthesized CloudFormation template's policies
// as AWS would, with an IAM simulator the project did not write
// (@cloud-copilot/iam-simulate, through npmtools): the template is resolved
// to concrete ARNs in one account and region, each role's identity policies
// and each resource's policy are collected, and requests are simulated
// against them.
package iamsim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The account and region a template is resolved in.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Template is a synthesized template resolved in Account and Region.
type Template struct {
	StackName string
	Resources map[string]Resource
	cond      map[string]any
}

// Resource is one resource of the template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Condition  string         `json:"Condition"`
}

// Parse reads a template; stackName is what AWS::StackName resolves to.
func Parse(raw []byte, stackName string) (*Template, error) {
	var doc struct {
		Resources  map[string]Resource `json:"Resources"`
		Conditions map[string]any      `json:"Conditions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("iamsim: template: %w", err)
	}
	return &Template{StackName: stackName, Resources: doc.Resources, cond: doc.Conditions}, nil
}

// arnPatterns give each type's ARN (GetAtt Arn) from its physical name.
var arnPatterns = map[string]string{
	"AWS::IAM::Role":                   "arn:aws:iam::%[2]s:role/%[3]s",
	"AWS::IAM::User":                   "arn:aws:iam::%[2]s:user/%[3]s",
	"AWS::Lambda::Function":            "arn:aws:lambda:%[1]s:%[2]s:function:%[3]s",
	"AWS::KMS::Key":                    "arn:aws:kms:%[1]s:%[2]s:key/%[3]s",
	"AWS::SNS::Topic":                  "arn:aws:sns:%[1]s:%[2]s:%[3]s",
	"AWS::SQS::Queue":                  "arn:aws:sqs:%[1]s:%[2]s:%[3]s",
	"AWS::Events::EventBus":            "arn:aws:events:%[1]s:%[2]s:event-bus/%[3]s",
	"AWS::Events::Rule":                "arn:aws:events:%[1]s:%[2]s:rule/%[3]s",
	"AWS::SecretsManager::Secret":      "arn:aws:secretsmanager:%[1]s:%[2]s:secret:%[3]s-AbCdEf",
	"AWS::Logs::LogGroup":              "arn:aws:logs:%[1]s:%[2]s:log-group:%[3]s:*",
	"AWS::CloudWatch::Alarm":           "arn:aws:cloudwatch:%[1]s:%[2]s:alarm:%[3]s",
	"AWS::Scheduler::Schedule":         "arn:aws:scheduler:%[1]s:%[2]s:schedule/default/%[3]s",
	"AWS::StepFunctions::StateMachine": "arn:aws:states:%[1]s:%[2]s:stateMachine:%[3]s",
	"AWS::DynamoDB::Table":             "arn:aws:dynamodb:%[1]s:%[2]s:table/%[3]s",
}

// nameProps are the properties that name a resource, when set.
var nameProps = []string{"FunctionName", "RoleName", "TopicName", "QueueName", "Name", "AlarmName", "LogGroupName", "TableName", "StateMachineName", "UserName", "StageName"}

// Name is a resource's physical name: its name property, else the name
// CloudFormation generates (<stack>-<logical id>-<random>; a key's id for a
// KMS key), so that a policy written against generated names can be tested.
func (t *Template) Name(id string) string {
	r := t.Resources[id]
	for _, p := range nameProps {
		if v, ok := r.Properties[p]; ok {
			if s, ok := t.Resolve(v).(string); ok {
				return s
			}
		}
	}
	if r.Type == "AWS::KMS::Key" {
		return strings.ToLower(id)
	}
	return t.StackName + "-" + id + "-AbCdEf123456"
}

// ARN is a resource's ARN.
func (t *Template) ARN(id string) string {
	r, ok := t.Resources[id]
	if !ok {
		panic("iamsim: no resource " + id)
	}
	if r.Type == "AWS::Events::Rule" {
		// A rule's ARN names its bus, unless that is the default bus.
		if bus, _ := t.Resolve(r.Properties["EventBusName"]).(string); bus != "" && bus != "default" {
			return fmt.Sprintf("arn:aws:events:%s:%s:rule/%s/%s", Region, Account, bus, t.Name(id))
		}
	}
	pattern, ok := arnPatterns[r.Type]
	if !ok {
		svc := strings.ToLower(strings.Split(r.Type, "::")[1])
		pattern = "arn:aws:" + svc + ":%[1]s:%[2]s:" + strings.ToLower(strings.Split(r.Type, "::")[2]) + "/%[3]s"
	}
	return fmt.Sprintf(pattern, Region, Account, t.Name(id))
}

func (t *Template) ref(id string) any {
	switch id {
	case "AWS::Partition":
		return "aws"
	case "AWS::Region":
		return Region
	case "AWS::AccountId":
		return Account
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::StackName":
		return t.StackName
	case "AWS::StackId":
		return "arn:aws:cloudformation:" + Region + ":" + Account + ":stack/" + t.StackName + "/1b2c3d4e"
	case "AWS::NoValue":
		return noValue{}
	}
	r, ok := t.Resources[id]
	if !ok {
		return "${" + id + "}" // a parameter: left recognizable
	}
	switch r.Type {
	case "AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::StepFunctions::StateMachine":
		return t.ARN(id)
	case "AWS::SQS::Queue":
		return "https://sqs." + Region + ".amazonaws.com/" + Account + "/" + t.Name(id)
	case "AWS::ApiGateway::RestApi":
		return strings.ToLower(id)
	case "AWS::ApiGateway::Stage":
		return t.Name(id)
	}
	return t.Name(id)
}

func (t *Template) getAtt(id, attr string) any {
	switch attr {
	case "Arn", "TopicArn", "ArnForPolicies":
		return t.ARN(id)
	case "QueueName", "Name", "TopicName", "KeyId":
		return t.Name(id)
	case "QueueUrl":
		return t.ref(id)
	case "RootResourceId":
		return strings.ToLower(id) + "-root"
	}
	return id + "." + attr
}

type noValue struct{}

// Resolve replaces every intrinsic function in v with its value.
func (t *Template) Resolve(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if r := t.Resolve(e); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if r, ok := t.intrinsic(k, arg); ok {
					return r
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if r := t.Resolve(e); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	}
	return v
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

func (t *Template) intrinsic(fn string, arg any) (any, bool) {
	switch fn {
	case "Ref":
		return t.ref(arg.(string)), true
	case "Fn::GetAtt":
		switch a := arg.(type) {
		case []any:
			return t.getAtt(a[0].(string), fmt.Sprint(t.Resolve(a[1]))), true
		case string:
			id, attr, _ := strings.Cut(a, ".")
			return t.getAtt(id, attr), true
		}
	case "Fn::Join":
		a := arg.([]any)
		var parts []string
		for _, p := range t.Resolve(a[1]).([]any) {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, a[0].(string)), true
	case "Fn::Select":
		a := arg.([]any)
		i := int(t.Resolve(a[0]).(float64))
		return t.Resolve(a[1]).([]any)[i], true
	case "Fn::Split":
		a := arg.([]any)
		var out []any
		for _, p := range strings.Split(fmt.Sprint(t.Resolve(a[1])), a[0].(string)) {
			out = append(out, p)
		}
		return out, true
	case "Fn::Sub":
		var tpl string
		vars := map[string]any{}
		switch a := arg.(type) {
		case string:
			tpl = a
		case []any:
			tpl = a[0].(string)
			for k, e := range a[1].(map[string]any) {
				vars[k] = t.Resolve(e)
			}
		}
		return subVar.ReplaceAllStringFunc(tpl, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := vars[name]; ok {
				return fmt.Sprint(v)
			}
			if id, attr, ok := strings.Cut(name, "."); ok {
				return fmt.Sprint(t.getAtt(id, attr))
			}
			return fmt.Sprint(t.ref(name))
		}), true
	case "Fn::If":
		a := arg.([]any)
		if t.condition(a[0].(string)) {
			return t.Resolve(a[1]), true
		}
		return t.Resolve(a[2]), true
	case "Fn::Equals", "Fn::Or", "Fn::And", "Fn::Not", "Condition":
		return t.evalCondition(map[string]any{fn: arg}), true
	}
	return nil, false
}

func (t *Template) condition(name string) bool {
	return t.evalCondition(t.cond[name])
}

func (t *Template) evalCondition(c any) bool {
	m, ok := c.(map[string]any)
	if !ok {
		return c == true || c == "true"
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			return t.condition(arg.(string))
		case "Fn::Equals":
			a := arg.([]any)
			return fmt.Sprint(t.Resolve(a[0])) == fmt.Sprint(t.Resolve(a[1]))
		case "Fn::Not":
			return !t.evalCondition(arg.([]any)[0])
		case "Fn::And":
			for _, e := range arg.([]any) {
				if !t.evalCondition(e) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, e := range arg.([]any) {
				if t.evalCondition(e) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// OfType are the logical ids of the resources of a type, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Find is the one logical id of type typ whose id starts with prefix (CDK
// adds a hash); it panics when there is not exactly one.
// Construct returns the logical id of the resource of typ (any type when
// typ is "") that the CDK made for construct id: id itself, or id followed
// by the CDK's hash of its path (8 hexadecimal digits). Unlike Find, a
// longer construct id with the same start ("Create" and "CreateRole") is
// not taken for it.
func (t *Template) Construct(typ, id string) (string, bool) {
	cdkHash := regexp.MustCompile(`^([0-9A-F]{8})?$`)
	var found []string
	for rid, r := range t.Resources {
		if (typ == "" || r.Type == typ) && strings.HasPrefix(rid, id) && cdkHash.MatchString(rid[len(id):]) {
			found = append(found, rid)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

func (t *Template) Find(typ, prefix string) string {
	var found []string
	for _, id := range t.OfType(typ) {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		panic(fmt.Sprintf("iamsim: %d resources of type %s start with %s: %v", len(found), typ, prefix, found))
	}
	return found[0]
}
