package handlers_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
)

// stateMachine runs the committed cleanup workflow the way Step Functions
// does for what it uses: each Task's Parameters (paths resolved against
// the state's input and the Map's context) become the function's payload,
// a function error is caught as {Error: errorType, Cause: the error's JSON}
// and handed to the Catch's state, ResultSelector, ResultPath and
// OutputPath place the answers. It is the test's reading of the ASL
// specification, applied to the definition the stack deploys.
type stateMachine struct {
	t      *testing.T
	def    map[string]any
	fn     *lambdaruntime.Function
	inputs []string // every payload the function was sent
}

func loadWorkflow(t *testing.T, fn *lambdaruntime.Function) *stateMachine {
	raw, err := os.ReadFile("../../infra/cleanup-workflow.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	return &stateMachine{t: t, def: def, fn: fn}
}

// path resolves a JSONPath of the forms the definition uses: $, $.a.b and
// $$.Map.Item.Value.
func path(p string, input, item any) any {
	if strings.HasPrefix(p, "$$.Map.Item.Value") {
		return item
	}
	v := input
	for _, k := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(p, "$"), "."), ".") {
		if k == "" {
			continue
		}
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// params builds a Parameters (or ItemSelector, ResultSelector) object.
func params(tmpl any, input, item any) any {
	m, ok := tmpl.(map[string]any)
	if !ok {
		return tmpl
	}
	out := map[string]any{}
	for k, v := range m {
		if name, ok := strings.CutSuffix(k, ".$"); ok {
			out[name] = path(v.(string), input, item)
			continue
		}
		out[k] = params(v, input, item)
	}
	return out
}

// place sets value at a ResultPath of the form $.a (or $: the whole).
func place(input any, p string, value any) any {
	if p == "$" || p == "" {
		return value
	}
	m, _ := input.(map[string]any)
	cp := map[string]any{}
	for k, v := range m {
		cp[k] = v
	}
	cp[strings.TrimPrefix(p, "$.")] = value
	return cp
}

// run executes states from start with input (item: the Map item's value).
func (sm *stateMachine) run(states map[string]any, start string, input, item any) any {
	name := start
	for {
		st := states[name].(map[string]any)
		var out any
		switch st["Type"] {
		case "Task":
			payload := params(st["Parameters"], input, item).(map[string]any)["Payload"]
			raw, _ := json.Marshal(payload)
			sm.inputs = append(sm.inputs, string(raw))
			res := invokeBinary(sm.t, sm.fn, json.RawMessage(raw))
			if res.Failed() {
				catch, ok := st["Catch"].([]any)
				if !ok {
					sm.t.Fatalf("state %s failed uncaught: %s: %s", name, res.ErrorType, res.ErrorMessage)
				}
				c := catch[0].(map[string]any)
				cause, _ := json.Marshal(map[string]string{"errorType": res.ErrorType, "errorMessage": res.ErrorMessage})
				input = place(input, c["ResultPath"].(string), map[string]any{"Error": res.ErrorType, "Cause": string(cause)})
				name = c["Next"].(string)
				continue
			}
			var answer any
			_ = json.Unmarshal(res.Payload, &answer)
			result := any(map[string]any{"Payload": answer, "StatusCode": 200})
			if sel, ok := st["ResultSelector"]; ok {
				result = params(sel, result, item)
			}
			out = result
			if rp, ok := st["ResultPath"].(string); ok {
				out = place(input, rp, result)
			}
			if op, ok := st["OutputPath"].(string); ok {
				out = path(op, result, item)
			}
		case "Pass":
			out = params(st["Parameters"], input, item)
		case "Map":
			var results []any
			for _, v := range path(st["ItemsPath"].(string), input, nil).([]any) {
				in := params(st["ItemSelector"], input, v)
				proc := st["ItemProcessor"].(map[string]any)
				results = append(results, sm.run(proc["States"].(map[string]any), proc["StartAt"].(string), in, v))
			}
			out = place(input, st["ResultPath"].(string), results)
		default:
			sm.t.Fatalf("state %s: type %v", name, st["Type"])
		}
		if end, _ := st["End"].(bool); end {
			return out
		}
		input, name = out, st["Next"].(string)
	}
}

// The cleanup state machine, as the stack deploys it, through the real
// disable binary: a schedule's input names the portals, each portal runs as
// its own item with exactly the payload the Map sends (the policy still
// narrowing only, the cap each portal's own), a portal whose credentials
// are broken fails alone into its outcome, and one Cleanup Run Completed
// reports the run. Every payload holds portal names and counts, never
// token data.
func TestCleanupWorkflowThroughTheBinary(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex", "initech")
	e.sm.Put("lmtokens/portals/wayne", `{"company":"wayne","accessId":"x"}`) // no key: broken
	for _, p := range []*lmsandbox.Portal{e.portal.Portal, multi.Portal("globex"), multi.Portal("initech")} {
		for range 3 {
			if _, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fn := e.cleanupFn(t, "toggle", "CLEANUP_MAX_ACTIONS=2")
	sm := loadWorkflow(t, fn)
	out := sm.run(sm.def["States"].(map[string]any), sm.def["StartAt"].(string), map[string]any{"cleanup": map[string]any{}}, nil)

	raw, _ := json.Marshal(out)
	var rep cleanup.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("the run's output is not a report: %s", raw)
	}
	// Each healthy portal acted on its own cap of 2; wayne failed alone.
	if rep.Succeeded != 6 || rep.Outcome != "partial" || len(rep.Portals) != 4 || !strings.Contains(strings.Join(rep.Errors, " "), "wayne: Configuration") {
		t.Fatalf("run: succeeded %d, outcome %s, %d portals, errors %v", rep.Succeeded, rep.Outcome, len(rep.Portals), rep.Errors)
	}
	want := []string{
		`{"cleanup":{},"step":"portals"}`,
		`{"cleanup":{},"portal":"default"}`, `{"cleanup":{},"portal":"globex"}`, `{"cleanup":{},"portal":"initech"}`, `{"cleanup":{},"portal":"wayne"}`,
	}
	for i, w := range want {
		if sm.inputs[i] != w {
			t.Errorf("payload %d: %s, want %s", i, sm.inputs[i], w)
		}
	}
	if last := sm.inputs[len(sm.inputs)-1]; !strings.HasPrefix(last, `{"cleanup":{},"outcomes":[`) || !strings.Contains(last, `"step":"summarize"`) {
		t.Errorf("the summary's payload: %s", last)
	}
	for _, in := range sm.inputs {
		for _, tok := range append(e.portal.Tokens(), multi.Portal("globex").Tokens()...) {
			if strings.Contains(in, tok.AccessKey) || strings.Contains(in, tok.AccessID) {
				t.Fatalf("a state's payload carries token data: %s", in)
			}
		}
	}
	summaries := 0
	for _, ev := range e.events(t) {
		if ev.DetailType == "Cleanup Run Completed" {
			summaries++
			if !strings.Contains(string(ev.Detail), `"wayne"`) {
				t.Errorf("the summary does not name the failed portal: %s", ev.Detail)
			}
		}
	}
	if summaries != 1 {
		t.Errorf("%d Cleanup Run Completed events, want the run's one", summaries)
	}

	// A widening spec is refused at the first step, before any item.
	res := invokeBinary(t, fn, json.RawMessage(`{"cleanup":{"unusedDays":1},"step":"portals"}`))
	if res.ErrorType != "ValidationError" {
		t.Fatalf("a widening spec: %+v", res)
	}
	// Steps that mix shapes are refused.
	for _, bad := range []string{`{"cleanup":{},"step":"portals","portal":"globex"}`, `{"cleanup":{},"step":"explode"}`, `{"cleanup":{},"portal":"nosuch"}`} {
		if res := invokeBinary(t, fn, json.RawMessage(bad)); !res.Failed() {
			t.Errorf("%s: %s", bad, res.Payload)
		}
	}
}
