package handlers_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdev"
)

// stateMachine runs the committed cleanup workflow the way Step Functions
// does for what it uses: each Task's Parameters (paths resolved against
// the state's input and the Map's context) become the function's payload,
// a function error is caught as {Error: errorType, Cause: the error's JSON}
// and handed to the Catch's state, ResultSelector, ResultPath and
// OutputPath place the answers. It is the test's reading of the ASL
// specification, applied to the definition the stack deploys.
type stateMachine struct {
	t   *testing.T
	def map[string]any
	// fns are the functions by the placeholder the definition names them
	// with.
	fns    map[string]*lambdaruntime.Function
	inputs []string         // every payload a function was sent
	events []map[string]any // every event entry a putEvents task put
	failed map[string]any   // the Fail state's error and cause, if reached
}

func loadWorkflow(t *testing.T, file string, fns map[string]*lambdaruntime.Function) *stateMachine {
	raw, err := os.ReadFile("../../infra/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	return &stateMachine{t: t, def: def, fns: fns}
}

// start runs the whole workflow on input.
func (sm *stateMachine) start(input any) any {
	return sm.run(sm.def["States"].(map[string]any), sm.def["StartAt"].(string), input, nil)
}

// executionName is the test's execution's name ($$.Execution.Name).
const executionName = "pipeline-run-0001"

// path resolves a JSONPath of the forms the definitions use: $, $.a.b,
// $$.Map.Item.Value and $$.Execution.Name or .Id.
func path(p string, input, item any) any {
	switch {
	case strings.HasPrefix(p, "$$.Map.Item.Value"):
		return item
	case p == "$$.Execution.Name":
		return executionName
	case p == "$$.Execution.Id":
		return "arn:aws:states:us-east-1:123456789012:execution:lmtokens-pipeline-token:" + executionName
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
	if list, ok := tmpl.([]any); ok {
		out := make([]any, len(list))
		for i, v := range list {
			out[i] = params(v, input, item)
		}
		return out
	}
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
			p := params(st["Parameters"], input, item).(map[string]any)
			if st["Resource"] == "arn:aws:states:::events:putEvents" {
				for _, e := range p["Entries"].([]any) {
					sm.events = append(sm.events, e.(map[string]any))
				}
				out = input
				if rp, set := st["ResultPath"]; !set || rp != nil {
					sm.t.Fatalf("state %s keeps putEvents' answer", name)
				}
				break
			}
			raw, _ := json.Marshal(p["Payload"])
			sm.inputs = append(sm.inputs, string(raw))
			fn := sm.fns[p["FunctionName"].(string)]
			if fn == nil {
				sm.t.Fatalf("state %s invokes %v, which the test does not run", name, p["FunctionName"])
			}
			res := invokeBinary(sm.t, fn, json.RawMessage(raw))
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
		case "Wait":
			out = input // the test does not wait
		case "Fail":
			sm.failed = map[string]any{"Error": st["Error"], "Cause": path(st["CausePath"].(string), input, item)}
			return nil
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
	sm := loadWorkflow(t, "cleanup-workflow.asl.json", map[string]*lambdaruntime.Function{"${CleanupFunctionArn}": fn})
	out := sm.start(map[string]any{"cleanup": map[string]any{}})

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
	// Each change an item made is announced under the item's portal.
	portalOf := map[string]string{}
	for name, p := range map[string]*lmsandbox.Portal{"": e.portal.Portal, "globex": multi.Portal("globex"), "initech": multi.Portal("initech")} {
		for _, tok := range p.Tokens() {
			portalOf[tok.AccessID] = name
		}
	}
	changes := 0
	for _, ev := range e.events(t) {
		var d struct {
			Portal   string `json:"portal"`
			AccessID string `json:"accessId"`
		}
		if ev.DetailType != "API Token Updated" || json.Unmarshal(ev.Detail, &d) != nil {
			continue
		}
		changes++
		if want, ok := portalOf[d.AccessID]; !ok || d.Portal != want {
			t.Errorf("a change to a token of portal %q is announced as portal %q", want, d.Portal)
		}
	}
	if changes != 6 {
		t.Errorf("%d changes announced, want 6", changes)
	}

	// A widening spec is refused at the first step, before any item.
	res := invokeBinary(t, fn, json.RawMessage(`{"cleanup":{"unusedDays":1},"step":"portals"}`))
	if res.ErrorType != "ValidationError" {
		t.Fatalf("a widening spec: %+v", res)
	}
	// Steps that mix shapes are refused.
	for _, bad := range []string{`{"cleanup":{},"step":"portals","portal":"globex"}`, `{"cleanup":{},"step":"explode"}`, `{"cleanup":{},"portal":"nosuch"}`, `{"cleanup":{},"portal":""}`} {
		if res := invokeBinary(t, fn, json.RawMessage(bad)); !res.Failed() {
			t.Errorf("%s: %s", bad, res.Payload)
		}
	}
}

// The example workflow for other AWS workflows, as committed, through the
// real create and rotate binaries: it makes a token for the pipeline's
// user, hands the consumer the secret's ARN in an event (never the key),
// and rotates the key; run again under the same execution name it makes
// nothing twice; a request the function refuses ends in its Fail state
// naming the cause.
func TestPipelineWorkflowThroughTheBinaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true)
	create := e.startCreateWithRotation(t)
	fns := map[string]*lambdaruntime.Function{"${CreateFunctionArn}": create}
	before := len(e.portal.Tokens())

	sm := loadWorkflow(t, "pipeline-token-workflow.asl.json", fns)
	out, _ := sm.start(map[string]any{"adminId": 2, "note": "deploys of app X", "rotateAfterSeconds": 0}).(map[string]any)
	if sm.failed != nil || out == nil {
		t.Fatalf("the workflow failed: %v", sm.failed)
	}
	tok := out["token"].(map[string]any)
	secret := fmt.Sprint(tok["secretName"])
	if len(sm.events) != 1 || sm.events[0]["Source"] != "lmtokens.workflow" || sm.events[0]["DetailType"] != "Pipeline Token Ready" ||
		sm.events[0]["Detail"].(map[string]any)["secretArn"] != tok["secretArn"] || !strings.HasPrefix(fmt.Sprint(tok["secretArn"]), "arn:aws:secretsmanager:") {
		t.Fatalf("the hand-over: %+v (token %+v)", sm.events, tok)
	}
	for _, p := range e.portal.Tokens() {
		raw, _ := json.Marshal(sm.events)
		if strings.Contains(string(raw), p.AccessKey) {
			t.Fatal("the hand-over carries a key")
		}
	}
	if v, _ := out["rotation"].(map[string]any)["versionId"].(string); v == "" {
		t.Fatalf("the rotation's answer: %+v", out["rotation"])
	}
	if errs := e.sm.WaitRotations()[secret]; len(errs) == 0 || errs[len(errs)-1] != nil {
		t.Fatalf("the rotation of %s: %v", secret, errs)
	}
	sec, _ := e.sm.Get(secret)
	if held := fmt.Sprint(tokenIDOf(t, sec.Value)); held == fmt.Sprint(tok["tokenId"]) {
		t.Fatalf("%s still holds token %s after the rotation", secret, held)
	}

	// The same execution again (a redrive, a retried start): nothing new.
	again := loadWorkflow(t, "pipeline-token-workflow.asl.json", fns)
	out2, _ := again.start(map[string]any{"adminId": 2, "note": "deploys of app X", "rotateAfterSeconds": 0}).(map[string]any)
	if again.failed != nil && !strings.Contains(fmt.Sprint(again.failed), "rotat") {
		t.Fatalf("the same execution again: %v", again.failed)
	}
	if out2 != nil && out2["token"].(map[string]any)["tokenId"] != tok["tokenId"] {
		t.Fatalf("the same execution made another token: %+v", out2["token"])
	}
	if made := len(e.portal.Tokens()) - before; made > 3 {
		t.Fatalf("%d tokens made (one, its rotation's, and at most one more rotation)", made)
	}

	// A user that does not exist: the function's NotFound is caught.
	bad := loadWorkflow(t, "pipeline-token-workflow.asl.json", fns)
	bad.start(map[string]any{"adminId": 999, "note": "nobody", "rotateAfterSeconds": 0})
	if bad.failed == nil || bad.failed["Error"] != "PipelineTokenFailed" || !strings.Contains(fmt.Sprint(bad.failed["Cause"]), "NotFound") {
		t.Fatalf("a refused create: %+v", bad.failed)
	}
}

// seedStale adds n enabled tokens of user 2 unused for 300 days.
func (e *env) seedStale(n int) []lmsandbox.Token {
	var stale []lmsandbox.Token
	for range n {
		stale = append(stale, e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300}))
	}
	return stale
}

// tokenIDOf reads the token id a key's secret value names.
func tokenIDOf(t *testing.T, value string) int64 {
	var v struct {
		TokenID int64 `json:"tokenId"`
	}
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		t.Fatal(err)
	}
	return v.TokenID
}

// A Map item as a hostile world runs it, with the policy's warnings (the
// marks are what lets one run alone act on a token): a token kept between
// the item's listing and its action is left alone; two binaries running
// the same portal's item at once (two executions overlapping) disable
// each token once; an item run again after its answer was lost (Step
// Functions' retry) acts on nothing more. Every disabled token has exactly
// one event, and the outcomes' counts add up to what was done.
func TestMapItemsUnderAHostileWorld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	stale := e.seedStale(8)
	a, b := e.cleanupFn(t, "toggle", warn14), e.cleanupFn(t, "toggle", warn14)
	item := json.RawMessage(`{"cleanup":{},"portal":"default"}`)
	outcome := func(res lambdaruntime.Result) cleanup.Outcome {
		t.Helper()
		var o cleanup.Outcome
		if res.Failed() || json.Unmarshal(res.Payload, &o) != nil {
			t.Fatalf("item: %s %s %s", res.ErrorType, res.ErrorMessage, res.Payload)
		}
		return o
	}
	both := func() [2]cleanup.Outcome {
		var out [2]cleanup.Outcome
		var wg sync.WaitGroup
		for i, f := range []*lambdaruntime.Function{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); out[i] = outcome(invokeBinary(t, f, item)) }()
		}
		wg.Wait()
		return out
	}

	// Two items at once warn each owner once and act on nothing.
	if w := both(); w[0].Succeeded+w[1].Succeeded != 0 || w[0].Warned+w[1].Warned < len(stale) {
		t.Fatalf("the warning runs: %+v", w)
	}
	e.passDays(14.01)
	// Two items at once, a token kept between the listing and the action.
	kept := stale[0]
	afterListing(e.portal, func(p *lmsandbox.Portal) {
		p.Update(kept.ID, func(t *lmsandbox.Token) { t.Note = "still needed #keep" })
	})
	acted := both()
	if tok, _ := e.portal.Token(kept.ID); tok.Status != 2 {
		t.Fatal("a token kept after the listing was disabled")
	}
	if acted[0].Succeeded+acted[1].Succeeded != len(stale)-1 || acted[0].Failed+acted[1].Failed != 0 {
		t.Fatalf("two items at once: %+v", acted)
	}

	// The answer of a run lost after it acted: the retry finds nothing.
	late := e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300})
	outcome(invokeBinary(t, a, item)) // warns it
	e.passDays(14.01)
	_ = invokeBinary(t, a, item) // disables it; its answer is "lost"
	if retry := outcome(invokeBinary(t, b, item)); retry.Succeeded != 0 || retry.Failed != 0 {
		t.Fatalf("the retry after a lost answer: %+v", retry)
	}
	if tok, _ := e.portal.Token(late.ID); tok.Status != 1 {
		t.Fatal("the late token was not disabled")
	}

	disabled := 0
	for _, tok := range e.portal.Tokens() {
		if tok.Status == 1 {
			disabled++
		}
	}
	events := map[string]int{}
	for _, ev := range e.events(t) {
		if ev.DetailType == "API Token Updated" {
			var d struct {
				TokenID int64 `json:"tokenId"`
			}
			_ = json.Unmarshal(ev.Detail, &d)
			events[fmt.Sprint(d.TokenID)]++
		}
	}
	if disabled != len(stale) || len(events) != len(stale) {
		t.Fatalf("%d disabled and %d with events, want %d (the stale ones but the kept one, and the late one)", disabled, len(events), len(stale))
	}
	for id, n := range events {
		if n != 1 {
			t.Errorf("token %s: %d events", id, n)
		}
	}
}

// A registered portal's Map item with the policy's warnings: the warning
// names the item's portal, its mark is kept under that portal, and so the
// item run after the notice period disables the token (a mark kept under
// another portal would leave it warned again forever).
func TestMapItemOfARegisteredPortalWarnsThenActs(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex")
	globex := multi.Portal("globex")
	stale, err := globex.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300})
	if err != nil {
		t.Fatal(err)
	}
	fn := e.cleanupFn(t, "toggle", warn14)
	item := json.RawMessage(`{"cleanup":{},"portal":"globex"}`)
	var o cleanup.Outcome
	if res := invokeBinary(t, fn, item); res.Failed() || json.Unmarshal(res.Payload, &o) != nil || o.Warned != 1 || o.Succeeded != 0 {
		t.Fatalf("the warning run: %+v %s", o, res.Payload)
	}
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenWillBeDisabled && detailOf(t, ev.Detail)["portal"] != "globex" {
			t.Fatalf("the warning does not name its portal: %s", ev.Detail)
		}
	}
	globex.PassTime(time.Duration(14.01 * float64(24*time.Hour)))
	localdev.AgeMarks(e.db, marksTable, time.Duration(14.01*float64(24*time.Hour)))
	if res := invokeBinary(t, fn, item); res.Failed() || json.Unmarshal(res.Payload, &o) != nil || o.Succeeded != 1 {
		t.Fatalf("the run after the notice: %+v %s", o, res.Payload)
	}
	if tok, _ := globex.Token(stale.ID); tok.Status != 1 {
		t.Fatal("the warned token of a registered portal was not disabled after its notice")
	}
}
