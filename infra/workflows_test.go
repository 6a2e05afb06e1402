package infra

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/doccheck"
	"github.com/lmtokens/lmtokens/pkg/local/iamsim"
	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

// With cleanupEngine stepfunctions the schedules start a state machine per
// stage, whose definition is CleanupWorkflow with that stage's function;
// as AWS evaluates it, each schedule may start its own state machine only,
// and each state machine may invoke its own cleanup function only (and run
// its own Map items); a failed, timed-out or aborted execution alarms.
func TestCleanupEngineStepFunctions(t *testing.T) {
	s := DefaultSettings()
	s.CleanupEngine, s.MaxConcurrentPortals, s.Tracing, s.PipelineWorkflow = EngineStepFunctions, 25, true, true
	tpl := synthesizeResolved(t, s)
	var machines []string
	for _, id := range tpl.OfType("AWS::StepFunctions::StateMachine") {
		if strings.HasPrefix(id, "Cleanup") {
			machines = append(machines, id)
		}
	}
	if len(machines) != 2 {
		t.Fatalf("%d state machines, want one per stage", len(machines))
	}
	want, _ := json.Marshal(CleanupWorkflow(25))
	fnOf := map[string]string{}
	for _, id := range machines {
		p := tpl.Resources[id].Properties
		def := tpl.Resolve(p["DefinitionString"])
		text, _ := def.(string)
		stage := "Disable"
		if strings.Contains(id, "Delete") {
			stage = "Delete"
		}
		fn := tpl.ARN(tpl.Find("AWS::Lambda::Function", "Cleanup"+stage))
		fnOf[id] = "Cleanup" + stage
		subs, _ := tpl.Resolve(p["DefinitionSubstitutions"]).(map[string]any)
		if text != string(want) || subs["CleanupFunctionArn"] != fn {
			t.Errorf("%s: its definition is not CleanupWorkflow with the %s function (%v):\n%s", id, stage, subs, text)
		}
		if p["TracingConfiguration"] == nil || p["LoggingConfiguration"] == nil {
			t.Errorf("%s: tracing %v, logging %v", id, p["TracingConfiguration"], p["LoggingConfiguration"])
		}
	}
	alarms := 0
	for _, id := range tpl.OfType("AWS::CloudWatch::Alarm") {
		if strings.Contains(id, "WorkflowFailed") {
			alarms++
			if !strings.Contains(string(mustJSON(tpl.Resources[id].Properties)), "ExecutionsAborted") {
				t.Errorf("%s does not count aborted executions", id)
			}
		}
	}
	if alarms != 2 {
		t.Errorf("%d alarms on the state machines, want 2", alarms)
	}

	// As AWS evaluates it.
	type check struct {
		what string
		req  iamsim.Request
		want string
	}
	as := func(roleID, action, resource string) iamsim.Request {
		identity, _ := tpl.IdentityPolicies(roleID)
		return iamsim.Request{Principal: tpl.ARN(roleID), Identity: identity, Action: action, Resource: resource}
	}
	var checks []check
	for _, id := range machines {
		role := tpl.Resources[id].Properties["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		own, other := fnOf[id], "CleanupDelete"
		if own == "CleanupDelete" {
			other = "CleanupDisable"
		}
		name := tpl.Resources[id].Properties["StateMachineName"].(string)
		smARN := "arn:aws:states:" + iamsim.Region + ":" + iamsim.Account + ":stateMachine:" + name
		checks = append(checks,
			check{id + " invokes its cleanup function", as(role, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", own))), iamsim.Allowed},
			check{id + " invokes the other stage's", as(role, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", other))), iamsim.ImplicitlyDenied},
			check{id + " invokes create", as(role, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", "Create"))), iamsim.ImplicitlyDenied},
			check{id + " starts its own Map items", as(role, "states:StartExecution", smARN), iamsim.Allowed},
			check{id + " starts another state machine", as(role, "states:StartExecution", "arn:aws:states:"+iamsim.Region+":"+iamsim.Account+":stateMachine:other"), iamsim.ImplicitlyDenied},
		)
		for _, sch := range []string{"CleanupDisableSchedule", "CleanupDeleteSchedule"} {
			want := iamsim.ImplicitlyDenied
			if strings.Contains(sch, strings.TrimPrefix(own, "Cleanup")) {
				want = iamsim.Allowed
			}
			schRole := tpl.Find("AWS::IAM::Role", sch+"Role")
			checks = append(checks,
				check{sch + " starts " + id, as(schRole, "states:StartExecution", smARN), want},
				check{sch + " invokes the cleanup function itself", as(schRole, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", own))), iamsim.ImplicitlyDenied},
			)
		}
	}
	// The example workflow: create, and its own events on the bus.
	pipeline := tpl.Find("AWS::StepFunctions::StateMachine", "PipelineTokenWorkflow")
	prole := tpl.Resources[pipeline].Properties["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
	bus := tpl.ARN(tpl.Find("AWS::Events::EventBus", "Events"))
	putAs := func(sources ...string) iamsim.Request {
		r := as(prole, "events:PutEvents", bus)
		r.Context = map[string]any{"events:source": sources}
		if id, ok := tpl.Construct("", "Events"); ok {
			r.ResourcePolicy = tpl.ResourcePolicy(id)
		}
		return r
	}
	checks = append(checks,
		check{"the example workflow invokes create", as(prole, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", "Create"))), iamsim.Allowed},
		check{"the example workflow invokes delete", as(prole, "lambda:InvokeFunction", tpl.ARN(tpl.Find("AWS::Lambda::Function", "Delete"))), iamsim.ImplicitlyDenied},
		check{"the example workflow puts its own events", putAs(PipelineSource), iamsim.Allowed},
		check{"the example workflow speaks as lmtokens", putAs("lmtokens"), iamsim.ExplicitlyDenied},
		check{"the example workflow hides another source among its own", putAs(PipelineSource, "payments"), iamsim.ImplicitlyDenied},
	)
	reqs := make([]iamsim.Request, len(checks))
	for i, c := range checks {
		reqs[i] = c.req
	}
	results := simulate(t, reqs)
	for i, c := range checks {
		if results[i].Decision != c.want {
			t.Errorf("%s: %s, want %s", c.what, results[i], c.want)
		}
	}

	// The default engine makes no state machine.
	if d, err := synthDefaults(); err != nil || len(d.ofType("AWS::StepFunctions::StateMachine")) != 0 {
		t.Errorf("the default engine made state machines (%v)", err)
	}
	bad := DefaultSettings()
	bad.CleanupEngine = "lambda"
	if bad.Validate() == nil {
		t.Error("cleanupEngine lambda accepted")
	}
	bad = DefaultSettings()
	bad.MaxConcurrentPortals = 0
	if bad.Validate() == nil {
		t.Error("maxConcurrentPortals 0 accepted")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// The cleanup workflow's definition is committed beside the stack
// (make docs rewrites it) and is valid Amazon States Language as
// asl-validator, at the version package-lock.json pins, judges it. The
// tests that drive the function binaries with its items' input read it.
func TestWorkflowDefinitionsAreValid(t *testing.T) {
	for file, def := range map[string]any{CleanupWorkflowFile: CleanupWorkflow(DefaultSettings().MaxConcurrentPortals), PipelineWorkflowFile: PipelineTokenWorkflow()} {
		b, _ := json.MarshalIndent(def, "", "  ")
		if err := doccheck.Generated(file, "", "", string(b)+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := npmtools.Run(ctx, ".", "asl-validator", "--json-path", CleanupWorkflowFile, "--json-path", PipelineWorkflowFile)
	if errors.Is(err, npmtools.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil || strings.Count(string(out), "is valid") != 2 {
		t.Fatalf("asl-validator: %v\n%s", err, out)
	}
}
