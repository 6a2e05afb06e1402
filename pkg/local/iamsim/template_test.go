package iamsim

import (
	"reflect"
	"testing"
)

// Intrinsic functions resolve as CloudFormation would in Account/Region.
func TestResolve(t *testing.T) {
	tpl, err := Parse([]byte(`{
	  "Conditions": {"InUS": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}},
	  "Resources": {
	    "Fn1": {"Type": "AWS::Lambda::Function", "Properties": {}},
	    "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "lmtokens"}},
	    "Rule": {"Type": "AWS::Events::Rule", "Properties": {"Name": "w", "EventBusName": {"Ref": "Bus"}}},
	    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
	    "Key": {"Type": "AWS::KMS::Key", "Properties": {}}
	  }}`), "Stack")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ in, want any }{
		"join":    {map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":x:", map[string]any{"Ref": "AWS::AccountId"}}}}, "arn:aws:x:123456789012"},
		"getatt":  {map[string]any{"Fn::GetAtt": []any{"Fn1", "Arn"}}, "arn:aws:lambda:us-east-1:123456789012:function:Stack-Fn1-AbCdEf123456"},
		"dotted":  {map[string]any{"Fn::GetAtt": "Key.Arn"}, "arn:aws:kms:us-east-1:123456789012:key/key"},
		"topic":   {map[string]any{"Ref": "Topic"}, "arn:aws:sns:us-east-1:123456789012:Stack-Topic-AbCdEf123456"},
		"rule":    {map[string]any{"Fn::GetAtt": []any{"Rule", "Arn"}}, "arn:aws:events:us-east-1:123456789012:rule/lmtokens/w"},
		"sub":     {map[string]any{"Fn::Sub": "${AWS::Region}/${Bus}/${Fn1.Arn}/${x}"}, "us-east-1/lmtokens/arn:aws:lambda:us-east-1:123456789012:function:Stack-Fn1-AbCdEf123456/${x}"},
		"subvar":  {map[string]any{"Fn::Sub": []any{"a-${v}", map[string]any{"v": map[string]any{"Ref": "AWS::StackName"}}}}, "a-Stack"},
		"if":      {map[string]any{"Fn::If": []any{"InUS", "yes", "no"}}, "yes"},
		"select":  {map[string]any{"Fn::Select": []any{1.0, map[string]any{"Fn::Split": []any{"/", "a/b/c"}}}}, "b"},
		"novalue": {[]any{"a", map[string]any{"Ref": "AWS::NoValue"}}, []any{"a"}},
	} {
		if got := tpl.Resolve(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

// A function permission becomes the statement Lambda's GetPolicy shows.
func TestPermissionStatement(t *testing.T) {
	st := permissionStatement("P", map[string]any{"Principal": "secretsmanager.amazonaws.com", "Action": "lambda:InvokeFunction", "SourceAccount": "1", "SourceArn": "arn:x"}, "arn:fn")
	want := map[string]any{"Sid": "P", "Effect": "Allow", "Principal": map[string]any{"Service": "secretsmanager.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": "arn:fn",
		"Condition": map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": "arn:x"}, "StringEquals": map[string]any{"AWS:SourceAccount": "1"}}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("%v", st)
	}
	if st := permissionStatement("P", map[string]any{"Principal": "210987654321", "Action": "lambda:InvokeFunction"}, "arn:fn"); !reflect.DeepEqual(st["Principal"], map[string]any{"AWS": "arn:aws:iam::210987654321:root"}) {
		t.Errorf("%v", st)
	}
}
