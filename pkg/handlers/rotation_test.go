package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

const rotateARN = "arn:aws:lambda:us-east-1:123456789012:function:lmtokens-rotate"

// startRotators starts n rotation binaries. With invokedBySM, the local
// Secrets Manager runs every rotation through the first, step by step, as
// AWS invokes a rotation function; without, the test invokes the steps.
// Every key any version of any secret held is checked against the logs.
func (e *env) startRotators(t *testing.T, n int, invokedBySM bool, extraEnv ...string) []*lambdaruntime.Function {
	t.Helper()
	fns := make([]*lambdaruntime.Function, n)
	for i := range fns {
		fns[i] = e.startBinaryTimeout(t, "rotate", 60*time.Second, extraEnv...)
	}
	if invokedBySM {
		e.sm.Rotator = func(ctx context.Context, arn string, st localsecrets.RotationStep) error {
			if arn != rotateARN {
				return fmt.Errorf("no function %s", arn)
			}
			raw, _ := json.Marshal(st)
			res, err := fns[0].Invoke(ctx, raw)
			if err != nil {
				return err
			}
			if res.Failed() {
				return fmt.Errorf("%s: %s", res.ErrorType, res.ErrorMessage)
			}
			return nil
		}
	}
	t.Cleanup(func() { rememberStoredKeys(e.sm) })
	return fns
}

// rememberStoredKeys adds every key stored in any version of any secret to
// the keys TestMain looks for in the logs: rotated-out and abandoned tokens
// are gone from the portal by the end.
func rememberStoredKeys(sm *localsecrets.Server) {
	secretsSeen.Lock()
	defer secretsSeen.Unlock()
	for _, s := range sm.Secrets() {
		for _, v := range s.Versions {
			var k struct{ AccessKey, BearerToken string }
			if json.Unmarshal([]byte(v), &k) == nil {
				secretsSeen.keys = append(secretsSeen.keys, k.AccessKey, k.BearerToken)
			}
		}
	}
}

func (e *env) startCreateWithRotation(t *testing.T) *lambdaruntime.Function {
	return e.startBinary(t, "create", "ROTATION_FUNCTION_ARN="+rotateARN)
}

func rotateStep(t *testing.T, f *lambdaruntime.Function, secret, version, step string) lambdaruntime.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	raw, _ := json.Marshal(handlers.RotationStep{SecretID: secret, ClientRequestToken: version, Step: step})
	res, err := f.Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// createKey creates a token of user admin through the create binary.
func createKey(t *testing.T, create *lambdaruntime.Function, admin int64, body string) tokens.CreateOutput {
	t.Helper()
	r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens", ids(admin, 0), nil, body, nil))
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	var out tokens.CreateOutput
	r.into(t, &out)
	return out
}

// startRotation asks the create binary to rotate a token's key now and
// returns the version the new key goes to.
func startRotation(t *testing.T, create *lambdaruntime.Function, admin, token int64) string {
	t.Helper()
	r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(admin, token), nil, "", nil))
	if r.Status != 202 {
		t.Fatalf("rotate: %d %s", r.Status, r.Raw)
	}
	var out tokens.RotateOutput
	r.into(t, &out)
	if out.VersionID == "" {
		t.Fatalf("rotate answered no version: %s", r.Raw)
	}
	return out.VersionID
}

// rotationUnderWay starts one rotation binary, whose steps the test
// invokes itself, and the create binary; makes a key for user admin with
// note, and starts its rotation. It returns the functions, the key, its
// secret as it was, and the rotation's version.
func (e *env) rotationUnderWay(t *testing.T, admin int64, note string) (rot, create *lambdaruntime.Function, out tokens.CreateOutput, before localsecrets.Secret, version string) {
	t.Helper()
	rot = e.startRotators(t, 1, false)[0]
	create = e.startCreateWithRotation(t)
	body, _ := json.Marshal(map[string]string{"note": note})
	out = createKey(t, create, admin, string(body))
	before, _ = e.sm.Get(out.Secret.Name)
	return rot, create, out, before, startRotation(t, create, admin, out.ID)
}

// storedKey parses a version of a key's secret ("" for AWSCURRENT).
func (e *env) storedKey(t *testing.T, name, version string) secrets.StoredKey {
	t.Helper()
	sec, ok := e.sm.Get(name)
	if !ok {
		t.Fatalf("no secret %s", name)
	}
	value := sec.Value
	if version != "" {
		value = sec.Versions[version]
	}
	k, err := secrets.ParseStoredKey(value)
	if err != nil {
		t.Fatalf("%s version %q: %v", name, version, err)
	}
	return k
}

func hasStage(sec localsecrets.Secret, version, stage string) bool {
	for _, s := range sec.Stages[version] {
		if s == stage {
			return true
		}
	}
	return false
}

// liveTokens returns user admin's tokens made after lastID.
func (e *env) liveTokens(admin, lastID int64) []lmsandbox.Token {
	var out []lmsandbox.Token
	for _, t := range e.portal.Tokens() {
		if t.AdminID == admin && t.ID > lastID {
			out = append(out, t)
		}
	}
	return out
}

// noOrphans fails if a token made through the API (not seeded) is
// unaccounted for: its key must be the current or pending value of a live
// secret, or the token must have a rotated-out record that will retire it.
func (e *env) noOrphans(t *testing.T) {
	t.Helper()
	held := map[string]bool{}
	records := map[string]bool{}
	for _, sec := range e.sm.Secrets() {
		if sec.Versions == nil || !sec.DeletedDate.IsZero() {
			continue
		}
		if strings.Contains(sec.Name, "/rotated-out/") {
			records[sec.Name[strings.Index(sec.Name, "rotated-out/")+len("rotated-out/"):]] = true
			continue
		}
		for v, value := range sec.Versions {
			if !hasStage(sec, v, secrets.StageCurrent) && !hasStage(sec, v, secrets.StagePending) {
				continue
			}
			var k struct{ AccessKey, BearerToken string }
			if json.Unmarshal([]byte(value), &k) == nil {
				held[k.AccessKey], held[k.BearerToken] = true, true
			}
		}
	}
	for _, tok := range e.portal.Tokens() {
		if tok.CreatedBy == "seed" {
			continue // not made through the API
		}
		if !held[tok.AccessKey] && !records[fmt.Sprintf("%d/%d", tok.AdminID, tok.ID)] {
			t.Errorf("orphaned token %v: its key is in no secret and no record retires it", tokenIDs([]lmsandbox.Token{tok}))
		}
	}
}

// tokenIDs names tokens in a failure message without their keys.
func tokenIDs(toks []lmsandbox.Token) []string {
	var out []string
	for _, t := range toks {
		out = append(out, fmt.Sprintf("%d (%q, status %d)", t.ID, t.Note, t.Status))
	}
	return out
}

func untilPast(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d + 50*time.Millisecond)
	}
}

// A key made with rotationDays rotates end to end through the real
// binaries: Secrets Manager tests the configuration when the schedule is
// set; the rotate route starts a rotation that makes, tests and promotes a
// new token; the old one stays enabled through the grace period, is then
// disabled by the disable stage and deleted by the delete stage; the new
// token and its secret are untouched throughout, and deleting the new token
// later finds its secret by its tags.
func TestRotationEndToEndThroughTheBinaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true, "ROTATION_GRACE=3s", "ROTATION_DELETE_AFTER=2s")
	create := e.startCreateWithRotation(t)

	out := createKey(t, create, 2, `{"note":"ci deploys","rotationDays":30}`)
	if out.Rotation == nil || !out.Rotation.Enabled || out.Rotation.Days != 30 {
		t.Fatalf("rotation of the created key: %+v", out.Rotation)
	}
	name := out.Secret.Name
	if got := e.sm.WaitRotations()[name]; len(got) != 1 || got[0] != nil {
		t.Fatalf("Secrets Manager's configuration test: %v", got)
	}
	if sec, _ := e.sm.Get(name); !sec.RotationEnabled || sec.RotationDays != 30 || sec.RotationLambdaARN != rotateARN || len(sec.Versions) != 1 {
		t.Fatalf("rotation settings: %+v", sec)
	}

	before, _ := e.sm.Get(name)
	version := startRotation(t, create, 2, out.ID)
	if got := e.sm.WaitRotations()[name]; len(got) != 2 || got[1] != nil {
		t.Fatalf("rotation: %v", got)
	}
	sec, _ := e.sm.Get(name)
	cur := e.storedKey(t, name, "")
	if sec.VersionID != version || !hasStage(sec, before.VersionID, secrets.StagePrevious) || cur.TokenID == out.ID || cur.AdminID != 2 || cur.Note != "ci deploys" {
		t.Fatalf("after the rotation: current %s (want %s), stages %v, key of token %d", sec.VersionID, version, sec.Stages, cur.TokenID)
	}
	if sec.Tags[secrets.TagTokenID] != fmt.Sprint(cur.TokenID) || sec.Tags[secrets.TagAccessID] != cur.AccessID {
		t.Fatalf("tags still name the old token: %v", sec.Tags)
	}
	newTok, ok := e.portal.Token(cur.TokenID)
	if !ok || newTok.Status != 2 || newTok.AccessKey != cur.AccessKey || newTok.Note != "ci deploys" {
		t.Fatalf("new token %v", tokenIDs([]lmsandbox.Token{newTok}))
	}
	if old, _ := e.portal.Token(out.ID); old.Status != 2 {
		t.Fatal("the old token was disabled at once: consumers that cached its key break")
	}
	var rotated map[string]any
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.TokenRotated {
			_ = json.Unmarshal(ev.Detail, &rotated)
		}
	}
	if rotated == nil || rotated["tokenId"] != float64(cur.TokenID) || rotated["replaced"].(map[string]any)["tokenId"] != float64(out.ID) {
		t.Fatalf("rotated event %v", rotated)
	}
	record := "logicmonitor/api-tokens/rotated-out/2/" + fmt.Sprint(out.ID)
	recSec, ok := e.sm.Get(record)
	if !ok {
		t.Fatal("no rotated-out record")
	}
	var rec secrets.Retirement
	_ = json.Unmarshal([]byte(recSec.Value), &rec)

	disable := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true")
	del := e.startBinary(t, "delete", "CLEANUP_ENABLED=true")
	// A run that ends before the grace period does leaves the old token
	// enabled (a run that ends later may have started after it: no check).
	if res := invokeBinary(t, disable, scheduledEvent); res.Failed() {
		t.Fatalf("disable stage: %+v", res)
	}
	if old, _ := e.portal.Token(out.ID); old.Status != 2 && time.Now().Before(rec.DisableAt) {
		t.Fatal("disabled within the grace period")
	}
	untilPast(rec.DisableAt)
	res := invokeBinary(t, disable, scheduledEvent)
	if res.Failed() || !strings.Contains(string(res.Payload), `"retired"`) {
		t.Fatalf("disable stage after the grace period: %+v %s", res, res.Payload)
	}
	if old, _ := e.portal.Token(out.ID); old.Status != 1 {
		t.Fatal("the rotated-out token is still enabled after its grace period")
	}
	invokeBinary(t, del, scheduledEvent)
	if _, ok := e.portal.Token(out.ID); !ok && time.Now().Before(rec.DeleteAt) {
		t.Fatal("deleted before its date")
	}
	untilPast(rec.DeleteAt)
	if res := invokeBinary(t, del, scheduledEvent); res.Failed() {
		t.Fatalf("delete stage: %+v", res)
	}
	if _, ok := e.portal.Token(out.ID); ok {
		t.Fatal("the rotated-out token was not deleted")
	}
	if r, ok := e.sm.Get(record); ok && r.Versions != nil {
		t.Fatal("the rotated-out record outlived its token")
	}
	if tok, ok := e.portal.Token(cur.TokenID); !ok || tok.Status != 2 {
		t.Fatal("retiring the old token touched the new one")
	}
	if sec, _ := e.sm.Get(name); !sec.DeletedDate.IsZero() || sec.VersionID != version {
		t.Fatal("retiring the old token touched the secret")
	}
	// The retirement is on the bus, each event valid against its schema.
	retiredBy := map[string]bool{}
	for _, ev := range e.events(t) {
		var d struct {
			TokenID int64  `json:"tokenId"`
			Reason  string `json:"reason"`
		}
		_ = json.Unmarshal(ev.Detail, &d)
		if d.TokenID == out.ID && d.Reason == "rotation" {
			retiredBy[ev.DetailType] = true
		}
	}
	if !retiredBy[lifecycle.TokenUpdated] || !retiredBy[lifecycle.TokenDeleted] {
		t.Fatalf("retirement events %v", retiredBy)
	}

	delAPI := e.startBinary(t, "delete")
	r := binaryHTTP(t, delAPI, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, cur.TokenID), nil, "", nil))
	var gone tokens.DeleteOutput
	r.into(t, &gone)
	if r.Status != 200 || gone.Secret == nil || gone.Secret.Name != name {
		t.Fatalf("deleting the rotated-in token: %d %s", r.Status, r.Raw)
	}
	if sec, _ := e.sm.Get(name); sec.DeletedDate.IsZero() {
		t.Fatal("the rotated-in token's secret was not scheduled for deletion")
	}
	e.noOrphans(t)
}

// Every step is retried after failing, through the real binary: a lost
// LogicMonitor answer to the POST (the token it made is found and deleted),
// Secrets Manager refusing the pending value (the token is deleted again),
// a repeat after success (nothing new), and a finish whose retagging failed
// after AWSCURRENT moved. One new token is left, holding the secret's key;
// every other one made on the way is gone.
func TestRotationStepsFailAndAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, _, out, before, version := e.rotationUnderWay(t, 2, "grafana")
	name, lastID := out.Secret.Name, out.ID

	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Drop: true, AfterProcessing: true})
	res := rotateStep(t, rot, name, version, tokens.StepCreate)
	if !res.Failed() || !strings.Contains(res.ErrorMessage, "found and deleted") || !strings.Contains(res.ErrorMessage, "retrying is safe") {
		t.Fatalf("createSecret with a lost answer: %+v", res)
	}
	if got := e.liveTokens(2, lastID); len(got) != 0 {
		t.Fatalf("the token whose answer was lost is left: %v", tokenIDs(got))
	}

	e.sm.Fail("PutSecretValue", 1, localsecrets.Failure{Type: "AccessDeniedException", Message: "not allowed", Match: name})
	res = rotateStep(t, rot, name, version, tokens.StepCreate)
	if !res.Failed() || !strings.Contains(res.ErrorMessage, "deleted from LogicMonitor again") {
		t.Fatalf("createSecret whose value was refused: %+v", res)
	}
	if got := e.liveTokens(2, lastID); len(got) != 0 {
		t.Fatalf("a token whose key was refused is left: %v", tokenIDs(got))
	}

	for i, want := range []string{"made", "already created"} {
		if res = rotateStep(t, rot, name, version, tokens.StepCreate); res.Failed() || !strings.Contains(string(res.Payload), want) {
			t.Fatalf("createSecret attempt %d: %+v %s", i, res, res.Payload)
		}
	}
	live := e.liveTokens(2, lastID)
	pending := e.storedKey(t, name, version)
	if len(live) != 1 || live[0].ID != pending.TokenID || live[0].AccessKey != pending.AccessKey {
		t.Fatalf("after the retries: tokens %v, pending key of token %d", tokenIDs(live), pending.TokenID)
	}
	// LogicMonitor unreachable during the test: the step fails without
	// deciding anything, and its retry passes.
	e.portal.Inject(lmsandbox.Fault{Method: "GET", Path: "apitokens", Drop: true, Count: 20})
	if res = rotateStep(t, rot, name, version, tokens.StepTest); res.ErrorType != handlers.TypeUpstream || strings.Contains(res.ErrorMessage, "refused") {
		t.Fatalf("testSecret with LogicMonitor unreachable: %+v", res)
	}
	e.portal.ClearFaults()
	if sec, _ := e.sm.Get(name); !hasStage(sec, version, secrets.StagePending) {
		t.Fatal("an unreachable portal abandoned the rotation")
	}
	if _, ok := e.portal.Token(pending.TokenID); !ok {
		t.Fatal("an unreachable portal got the new token deleted")
	}
	// A 403 is an authenticated answer (a user who may not list tokens):
	// the key works.
	e.portal.Inject(lmsandbox.Fault{Method: "GET", Path: "apitokens", Status: 403})
	if res = rotateStep(t, rot, name, version, tokens.StepTest); res.Failed() {
		t.Fatalf("testSecret answered 403: %+v", res)
	}
	for _, step := range []string{tokens.StepSet, tokens.StepSet, tokens.StepTest, tokens.StepTest} {
		if res = rotateStep(t, rot, name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	if sec, _ := e.sm.Get(name); sec.VersionID != before.VersionID {
		t.Fatal("AWSCURRENT moved before finishSecret")
	}

	e.sm.Fail("TagResource", 1, localsecrets.Failure{Type: "AccessDeniedException", Message: "not allowed", Match: name})
	if res = rotateStep(t, rot, name, version, tokens.StepFinish); !res.Failed() {
		t.Fatalf("finishSecret with retagging refused: %+v", res)
	}
	if res = rotateStep(t, rot, name, version, tokens.StepFinish); res.Failed() || !strings.Contains(string(res.Payload), "already current") {
		t.Fatalf("finishSecret retried: %+v %s", res, res.Payload)
	}
	sec, _ := e.sm.Get(name)
	if sec.VersionID != version || sec.Tags[secrets.TagTokenID] != fmt.Sprint(pending.TokenID) {
		t.Fatalf("after finishing: current %s, tags %v", sec.VersionID, sec.Tags)
	}
	if old, _ := e.portal.Token(out.ID); old.Status != 2 {
		t.Fatal("the old token was touched")
	}
	// Nothing of the rotation's bookkeeping is left but the retirement record.
	for _, s := range e.sm.Secrets() {
		if strings.Contains(s.Name, "idempotency/") && s.Versions != nil {
			t.Errorf("the rotation's claim %s is left", s.Name)
		}
	}
	// A step for a version that is not the secret's is refused.
	if res = rotateStep(t, rot, name, "00000000-0000-0000-0000-000000000000", tokens.StepCreate); res.ErrorType != handlers.TypeValidation {
		t.Fatalf("a step for an unknown version: %+v", res)
	}
	if res = rotateStep(t, rot, "some/other/secret", version, tokens.StepCreate); !res.Failed() {
		t.Fatalf("a step for a secret lmtokens does not own: %+v", res)
	}
	e.noOrphans(t)
}

// A new key LogicMonitor refuses fails the test step: the new token is
// deleted, AWSPENDING taken off so no retry resumes the rotation,
// AWSCURRENT untouched, the failure announced; the next rotation starts
// afresh.
func TestRotationWhoseNewKeyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, create, out, before, version := e.rotationUnderWay(t, 3, "exporter")
	name := out.Secret.Name
	if res := rotateStep(t, rot, name, version, tokens.StepCreate); res.Failed() {
		t.Fatalf("createSecret: %+v", res)
	}
	next := e.storedKey(t, name, version)
	e.portal.Update(next.TokenID, func(t *lmsandbox.Token) { t.Status = 1 }) // refused from now on

	res := rotateStep(t, rot, name, version, tokens.StepTest)
	if res.ErrorType != handlers.TypeUpstream || !strings.Contains(res.ErrorMessage, "refused") || !strings.Contains(res.ErrorMessage, "AWSCURRENT") {
		t.Fatalf("testSecret of a refused key: %+v", res)
	}
	if _, ok := e.portal.Token(next.TokenID); ok {
		t.Fatal("the refused token was left")
	}
	sec, _ := e.sm.Get(name)
	if sec.VersionID != before.VersionID || sec.Value != before.Value || hasStage(sec, version, secrets.StagePending) {
		t.Fatalf("after the failed test: current %s (was %s), stages %v", sec.VersionID, before.VersionID, sec.Stages)
	}
	if res = rotateStep(t, rot, name, version, tokens.StepFinish); res.ErrorType != handlers.TypeValidation || !strings.Contains(res.ErrorMessage, "abandoned") {
		t.Fatalf("finishSecret after the failed test: %+v", res)
	}
	failed := false
	for _, ev := range e.events(t) {
		failed = failed || ev.DetailType == lifecycle.RotationFailed
	}
	if !failed {
		t.Fatal("no Rotation Failed event")
	}
	if old, _ := e.portal.Token(out.ID); old.Status != 2 {
		t.Fatal("the current token was touched")
	}
	startRotation(t, create, 3, out.ID) // not blocked by the abandoned one
	e.noOrphans(t)
}

// Twelve create binaries are asked to rotate one key at once: one starts
// it, the others answer 409. Then twelve rotation binaries run its
// createSecret at once, and LogicMonitor loses its answer to the first
// POST: after a retry exactly one new token exists, holding the pending
// value, and the rotation completes.
func TestConcurrentRotationsOfOneSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	creates := make([]*lambdaruntime.Function, instances)
	for i := range creates {
		creates[i] = e.startCreateWithRotation(t)
	}
	out := createKey(t, creates[0], 2, `{"note":"shared"}`)
	name := out.Secret.Name
	answers := invokeAtOnce(t, creates, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(2, out.ID), nil, "", nil))
	started, version := 0, ""
	for _, a := range answers {
		switch a.Status {
		case 202:
			started++
			version, _ = a.Body["versionId"].(string)
		case 409:
		default:
			t.Fatalf("rotate: %d %s", a.Status, a.Raw)
		}
	}
	if started != 1 {
		t.Fatalf("%d rotations started, want 1", started)
	}

	rots := e.startRotators(t, instances, false)
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Drop: true, AfterProcessing: true})
	results := make([]lambdaruntime.Result, len(rots))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, f := range rots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			raw, _ := json.Marshal(handlers.RotationStep{SecretID: name, ClientRequestToken: version, Step: tokens.StepCreate})
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			results[i], _ = f.Invoke(ctx, raw)
		}()
	}
	close(gate)
	wg.Wait()
	made := 0
	for _, r := range results {
		if !r.Failed() && strings.Contains(string(r.Payload), "made") {
			made++
		}
	}
	if made > 1 {
		t.Fatalf("%d concurrent createSecret steps made a token", made)
	}
	// Secrets Manager retries the step until it succeeds.
	var res lambdaruntime.Result
	for i := 0; i < 3; i++ {
		if res = rotateStep(t, rots[0], name, version, tokens.StepCreate); !res.Failed() {
			break
		}
	}
	if res.Failed() {
		t.Fatalf("createSecret retried: %+v", res)
	}
	live := e.liveTokens(2, out.ID)
	pending := e.storedKey(t, name, version)
	if len(live) != 1 || live[0].ID != pending.TokenID {
		t.Fatalf("after concurrent createSecret steps: new tokens %v, pending holds %d", tokenIDs(live), pending.TokenID)
	}
	for _, step := range []string{tokens.StepSet, tokens.StepTest, tokens.StepFinish} {
		if res = rotateStep(t, rots[len(rots)-1], name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	if sec, _ := e.sm.Get(name); sec.VersionID != version {
		t.Fatal("the rotation did not complete")
	}
	e.noOrphans(t)
}

// The credentials secret rotates while three list binaries serve requests
// without pause: the new key is made for the service user and promoted, the
// old one keeps working through the grace period, and once the disable
// stage retires it each instance pays at most one 401, which it answers by
// reading the rotated secret. No request fails.
func TestCredentialsRotateWhileFunctionsAreBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true, "ROTATION_GRACE=1s")
	lists := make([]*lambdaruntime.Function, 3)
	for i := range lists {
		lists[i] = e.startBinary(t, "list")
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, _ := json.Marshal(rest("GET", "/tokens", nil, map[string]string{"size": "5"}, "", nil))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res, err := f.Invoke(ctx, raw)
				cancel()
				var resp struct {
					StatusCode int `json:"statusCode"`
				}
				if err == nil {
					_ = json.Unmarshal(res.Payload, &resp)
				}
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	ctx := context.Background()
	if _, err := e.api.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(credsSecret), RotationLambdaARN: aws.String(rotateARN)}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[credsSecret]; len(got) != 1 || got[0] != nil {
		t.Fatalf("credentials rotation: %v", got)
	}
	sec, _ := e.sm.Get(credsSecret)
	var creds struct {
		Company, AccessID, AccessKey string
		AdminID, TokenID             int64
	}
	_ = json.Unmarshal([]byte(sec.Value), &creds)
	if creds.AccessID == operatorID || creds.Company != "acme" || creds.AdminID != 1 || creds.TokenID == 0 {
		t.Fatalf("rotated credentials: access id %s, user %d, token %d", creds.AccessID, creds.AdminID, creds.TokenID)
	}
	var oldID int64
	for _, tok := range e.portal.Tokens() {
		if tok.AccessID == operatorID {
			oldID = tok.ID
			if tok.Status != 2 {
				t.Fatal("the old credentials were disabled at once")
			}
		}
	}
	if tok, ok := e.portal.Token(creds.TokenID); !ok || tok.AdminID != 1 || tok.Note != "lmtokens service" || tok.AccessKey != creds.AccessKey {
		t.Fatalf("the service user's new token %v", tokenIDs([]lmsandbox.Token{tok}))
	}
	time.Sleep(1100 * time.Millisecond) // the grace period
	disable := e.startBinary(t, "toggle", "CLEANUP_ENABLED=true")
	if res := invokeBinary(t, disable, scheduledEvent); res.Failed() {
		t.Fatalf("disable stage: %+v", res)
	}
	if tok, _ := e.portal.Token(oldID); tok.Status != 1 {
		t.Fatal("the rotated-out credentials were not retired")
	}
	time.Sleep(700 * time.Millisecond) // the busy functions meet the retired key
	close(stop)
	wg.Wait()
	refused := 0
	for _, r := range e.portal.Requests() {
		if r.Status == 401 {
			refused++
		}
	}
	if statuses[200] == 0 || len(statuses) != 1 || refused > len(lists) {
		t.Fatalf("answers while rotating %v; 401s from the portal: %d (at most one per instance)", statuses, refused)
	}
	e.noOrphans(t)
}

// inProcessRotation runs rotations through svc's rotation handler, in this
// process (for the contract tests that do not need the binary).
func (e *env) inProcessRotation(svc *handlers.Service) {
	rotate := svc.Rotator()
	e.sm.Rotator = func(ctx context.Context, arn string, st localsecrets.RotationStep) error {
		raw, _ := json.Marshal(st)
		_, err := rotate(ctx, raw)
		return err
	}
}

// The rotation contract at the API: what create and the rotate route take
// and refuse, in every shape, and that deleting a rotated-out token by hand
// leaves the secret that now holds the new key alone.
func TestRotationContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	cfg := e.cfg
	cfg.Rotation = tokens.RotationConfig{FunctionARN: rotateARN, Grace: time.Hour, DeleteAfter: time.Hour}
	svc := e.service(cfg)
	e.inProcessRotation(svc)

	for _, body := range []string{`{"rotationDays":0}`, `{"rotationDays":366}`, `{"rotationDays":"30"}`} {
		if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, body, nil)); r.Status != 400 {
			t.Errorf("create %s: %d %s", body, r.Status, r.Raw)
		}
	}
	// Without a rotation function, rotation cannot be asked for.
	if r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"rotationDays":30}`, nil)); r.Status != 400 || !strings.Contains(r.Raw, "not deployed") {
		t.Fatalf("rotationDays without a rotation function: %d %s", r.Status, r.Raw)
	}
	if r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(2, 5), nil, "", nil)); r.Status != 400 || !strings.Contains(r.Raw, "ROTATION_FUNCTION_ARN") {
		t.Fatalf("rotate without a rotation function: %d %s", r.Status, r.Raw)
	}
	if len(e.liveTokens(2, 0)) != 0 {
		t.Fatal("a refused request made a token")
	}

	// Direct and EventBridge creates take rotationDays too.
	out, err := e.invokeWith(svc, handlers.Create, map[string]any{"adminId": 2, "note": "direct", "rotationDays": 7})
	if err != nil || toMap(t, out)["rotation"].(map[string]any)["days"] != 7.0 {
		t.Fatalf("direct create with rotationDays: %v %v", out, err)
	}
	out, err = e.invokeWith(svc, handlers.Create, map[string]any{"source": "ops", "detail-type": "CreateToken", "detail": map[string]any{"adminId": 3, "note": "bus", "rotationDays": 90}})
	if err != nil || toMap(t, out)["rotation"].(map[string]any)["enabled"] != true {
		t.Fatalf("EventBridge create with rotationDays: %v %v", out, err)
	}
	e.sm.WaitRotations()
	created := toMap(t, out)
	tokenID := int64(created["id"].(float64))
	name := created["secret"].(map[string]any)["name"].(string)

	// Unknown tokens and tokens without a stored key are 404.
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, 999), nil, "", nil)); r.Status != 404 {
		t.Fatalf("rotate an unknown token: %d %s", r.Status, r.Raw)
	}
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, tokenID), nil, `{"now":true}`, nil)); r.Status != 400 {
		t.Fatalf("rotate with a body: %d %s", r.Status, r.Raw)
	}
	_, err = e.invokeWith(svc, handlers.Create, map[string]any{"rotate": map[string]any{"adminId": 3}})
	fnError(t, err, handlers.TypeValidation, "tokenId")

	// A direct rotation, then the old token deleted by hand before it
	// retires: the secret holding the new key stays, and the new key's
	// token is untouched.
	out, err = e.invokeWith(svc, handlers.Create, map[string]any{"rotate": map[string]any{"adminId": 3, "tokenId": tokenID}})
	if err != nil || toMap(t, out)["versionId"] == "" {
		t.Fatalf("direct rotate: %v %v", out, err)
	}
	if got := e.sm.WaitRotations()[name]; got[len(got)-1] != nil {
		t.Fatalf("rotation: %v", got)
	}
	cur := e.storedKey(t, name, "")
	r := e.httpWith(svc, handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(3, tokenID), nil, "", nil))
	if r.Status != 200 || r.Body["secret"] != nil {
		t.Fatalf("deleting the rotated-out token: %d %s", r.Status, r.Raw)
	}
	if sec, _ := e.sm.Get(name); !sec.DeletedDate.IsZero() {
		t.Fatal("deleting the rotated-out token scheduled the deletion of the secret that holds the new key")
	}
	if tok, ok := e.portal.Token(cur.TokenID); !ok || tok.Status != 2 {
		t.Fatal("the new token was touched")
	}
	// The old token's id no longer rotates; the new one's does.
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, tokenID), nil, "", nil)); r.Status != 404 {
		t.Fatalf("rotate a rotated-out token: %d %s", r.Status, r.Raw)
	}
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/portals/{portal}/admins/{adminId}/tokens/{tokenId}/rotate", map[string]string{"portal": "nowhere", "adminId": "3", "tokenId": fmt.Sprint(cur.TokenID)}, nil, "", nil)); r.Status != 404 {
		t.Fatalf("rotate on an unregistered portal: %d %s", r.Status, r.Raw)
	}
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, cur.TokenID), nil, "", nil)); r.Status != 202 {
		t.Fatalf("rotate the rotated-in token: %d %s", r.Status, r.Raw)
	}
	// A second rotation: a third token, and a record for each replaced one.
	if got := e.sm.WaitRotations()[name]; got[len(got)-1] != nil {
		t.Fatalf("second rotation: %v", got)
	}
	third := e.storedKey(t, name, "")
	if third.TokenID == cur.TokenID || third.TokenID == tokenID {
		t.Fatalf("the second rotation holds token %d", third.TokenID)
	}
	for _, replaced := range []int64{tokenID, cur.TokenID} {
		if _, ok := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/rotated-out/3/%d", replaced)); !ok {
			t.Fatalf("no rotated-out record of token %d", replaced)
		}
	}

	// A disabled token does not rotate: its replacement would be enabled.
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"status":1,"rotationDays":30}`, nil)); r.Status != 400 || !strings.Contains(r.Raw, "disabled") {
		t.Fatalf("a disabled token with rotationDays: %d %s", r.Status, r.Raw)
	}
	latest := third
	e.portal.Update(latest.TokenID, func(t *lmsandbox.Token) { t.Status = 1 })
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, latest.TokenID), nil, "", nil)); r.Status != 409 || !strings.Contains(r.Raw, "disabled") {
		t.Fatalf("rotate a disabled token: %d %s", r.Status, r.Raw)
	}
	// Disabled between the start and createSecret: the step refuses and
	// makes nothing (the re-check is the step's own).
	before := len(e.portal.Tokens())
	_, err = svc.Rotator()(context.Background(), []byte(`{"SecretId":"`+name+`","ClientRequestToken":"11111111-2222-3333-4444-555555555555","Step":"createSecret"}`))
	if err == nil || len(e.portal.Tokens()) != before {
		t.Fatalf("createSecret for an unknown version or a disabled token: %v", err)
	}
	if err := e.sm.Pend(name, rotateARN, "11111111-2222-3333-4444-555555555555", ""); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Rotator()(context.Background(), []byte(`{"SecretId":"`+name+`","ClientRequestToken":"11111111-2222-3333-4444-555555555555","Step":"createSecret"}`))
	fnError(t, err, handlers.TypeValidation, "disabled")
	if len(e.portal.Tokens()) != before {
		t.Fatal("createSecret made a token to replace a disabled one")
	}
	// Deleted by hand in LogicMonitor: nothing to rotate.
	e.portal.Update(latest.TokenID, func(t *lmsandbox.Token) { t.Status = 2 })
	if r := e.httpWith(svc, handlers.Delete, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(3, latest.TokenID), nil, "", nil)); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.httpWith(svc, handlers.Create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, latest.TokenID), nil, "", nil)); r.Status != 404 {
		t.Fatalf("rotate a deleted token: %d %s", r.Status, r.Raw)
	}
	// Secrets Manager's event carries a RotationToken, passed back on
	// PutSecretValue; a wrong one is refused there.
	out, err = e.invokeWith(svc, handlers.Create, map[string]any{"adminId": 2, "note": "with a rotation token"})
	if err != nil {
		t.Fatal(err)
	}
	fresh := toMap(t, out)["secret"].(map[string]any)["name"].(string)
	if err := e.sm.Pend(fresh, rotateARN, "22222222-2222-3333-4444-555555555555", "rotation-token-1"); err != nil {
		t.Fatal(err)
	}
	step := func(rotationToken string) error {
		_, err := svc.Rotator()(context.Background(), []byte(`{"SecretId":"`+fresh+`","ClientRequestToken":"22222222-2222-3333-4444-555555555555","Step":"createSecret","RotationToken":"`+rotationToken+`"}`))
		return err
	}
	before = len(e.portal.Tokens())
	if err := step("rotation-token-0"); err == nil || len(e.portal.Tokens()) != before {
		t.Fatalf("createSecret with a RotationToken Secrets Manager did not issue: %v (tokens %d, were %d)", err, len(e.portal.Tokens()), before)
	}
	if err := step("rotation-token-1"); err != nil {
		t.Fatalf("createSecret with the rotation's RotationToken: %v", err)
	}
	// A bearer key rotates to a bearer key, tested as a bearer token.
	out, err = e.invokeWith(svc, handlers.Create, map[string]any{"adminId": 3, "note": "bearer", "type": "bearer"})
	if err != nil {
		t.Fatal(err)
	}
	bearer := toMap(t, out)
	bearerName := bearer["secret"].(map[string]any)["name"].(string)
	if _, err := e.invokeWith(svc, handlers.Create, map[string]any{"rotate": map[string]any{"adminId": 3, "tokenId": bearer["id"]}}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[bearerName]; len(got) != 1 || got[0] != nil {
		t.Fatalf("bearer rotation: %v", got)
	}
	nb := e.storedKey(t, bearerName, "")
	if tok, ok := e.portal.Token(nb.TokenID); !ok || nb.Type != "bearer" || tok.Type != "bearer" || tok.AccessKey != nb.AccessKey || nb.TokenID == int64(bearer["id"].(float64)) {
		t.Fatalf("bearer key after rotation: token %d type %s", nb.TokenID, nb.Type)
	}
	// Input that is not a rotation step is refused as such.
	_, err = svc.Rotator()(context.Background(), []byte(`{"SecretId":"x","ClientRequestToken":"y","Step":"createSecret","Extra":1}`))
	fnError(t, err, handlers.TypeValidation, "SecretId")
}

// A registered portal's keys and its own credentials rotate in that portal:
// the new tokens are made there, the records kept under its prefix, and the
// disable stage retires the old ones there once their grace period is over
// (here none). The default portal is not touched.
func TestRotationInARegisteredPortal(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex")
	globex := multi.Portal("globex")
	cfg := e.cfg
	cfg.Rotation = tokens.RotationConfig{FunctionARN: rotateARN, DeleteAfter: time.Hour}
	svc := e.service(cfg)
	e.inProcessRotation(svc)
	t.Cleanup(func() { rememberStoredKeys(e.sm) })
	acmeBefore := len(e.portal.Tokens())

	r := e.httpWith(svc, handlers.Create, portalRoute("POST", "/portals/{portal}/admins/{adminId}/tokens", "globex", 2, 0, `{"note":"globex ci","rotationDays":60}`, nil))
	var out tokens.CreateOutput
	if r.into(t, &out); r.Status != 201 || out.Rotation == nil || !out.Rotation.Enabled {
		t.Fatalf("create in globex: %d %s", r.Status, r.Raw)
	}
	e.sm.WaitRotations()
	r = e.httpWith(svc, handlers.Create, portalRoute("POST", "/portals/{portal}/admins/{adminId}/tokens/{tokenId}/rotate", "globex", 2, out.ID, "", nil))
	if r.Status != 202 {
		t.Fatalf("rotate in globex: %d %s", r.Status, r.Raw)
	}
	if got := e.sm.WaitRotations()[out.Secret.Name]; got[len(got)-1] != nil {
		t.Fatalf("rotation: %v", got)
	}
	key := e.storedKey(t, out.Secret.Name, "")
	if tok, ok := globex.Token(key.TokenID); !ok || key.TokenID == out.ID || key.Company != "globex" || tok.AccessKey != key.AccessKey {
		t.Fatalf("the new key is not globex's: %+v", key)
	}
	if _, ok := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/globex/rotated-out/2/%d", out.ID)); !ok {
		t.Fatal("no rotated-out record under globex's prefix")
	}

	// Globex's own credentials.
	credsName := "lmtokens/portals/globex"
	before, _ := e.sm.Get(credsName)
	if _, err := e.api.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(credsName), RotationLambdaARN: aws.String(rotateARN)}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[credsName]; len(got) != 1 || got[0] != nil {
		t.Fatalf("globex credentials rotation: %v", got)
	}
	var was, now struct {
		Company, AccessID, BaseURL string
		AdminID, TokenID           int64
	}
	after, _ := e.sm.Get(credsName)
	_ = json.Unmarshal([]byte(before.Value), &was)
	_ = json.Unmarshal([]byte(after.Value), &now)
	if now.Company != "globex" || now.BaseURL != was.BaseURL || now.AccessID == was.AccessID || now.AdminID != 1 {
		t.Fatalf("globex credentials after rotation: %+v (were %+v)", now, was)
	}
	if _, ok := globex.Token(now.TokenID); !ok {
		t.Fatal("globex's new service token is not in globex")
	}
	if len(e.portal.Tokens()) != acmeBefore {
		t.Fatal("rotating globex's keys made tokens in the default portal")
	}

	// No grace here: the disable stage retires both old tokens at once.
	rep := e.cleanup(handlers.Toggle, scheduledEvent)
	retired := map[int64]bool{}
	for _, a := range rep.Retired {
		if a.Done && a.Portal == "globex" {
			retired[a.TokenID] = true
		}
	}
	var oldService lmsandbox.Token
	for _, tok := range globex.Tokens() {
		if tok.AccessID == was.AccessID {
			oldService = tok
		}
	}
	if !retired[out.ID] || !retired[oldService.ID] || oldService.Status != 1 {
		t.Fatalf("retired %v (want %d and the old service token %d): %+v", retired, out.ID, oldService.ID, rep.Retired)
	}
	if tok, _ := globex.Token(now.TokenID); tok.Status != 2 {
		t.Fatal("the new service token was touched")
	}
	// The service, still holding the old credentials, meets one 401 and
	// moves on to the rotated ones.
	if r := e.httpWith(svc, handlers.List, portalRoute("GET", "/portals/{portal}/tokens", "globex", 0, 0, "", nil)); r.Status != 200 {
		t.Fatalf("globex listing after its credentials rotated: %d %s", r.Status, r.Raw)
	}
	e.noOrphans(t)
}

// A createSecret whose POST answer is lost and whose check for the token it
// made fails too leaves that token to the retry. The replaced token's note
// changes in between: the retry still finds the lost token by the note the
// first attempt used, deletes it, and makes exactly one, with that note.
func TestRotationRetryFindsTheLostTokenAfterANoteChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, _, out, _, version := e.rotationUnderWay(t, 2, "first note")
	name := out.Secret.Name

	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Drop: true, AfterProcessing: true, Then: func(p *lmsandbox.Portal) {
		p.Inject(lmsandbox.Fault{Method: "GET", Path: "apitokens", Status: 500, Count: 50})
	}})
	res := rotateStep(t, rot, name, version, tokens.StepCreate)
	if !res.Failed() || !strings.Contains(res.ErrorMessage, "checking whether it made a token failed") {
		t.Fatalf("createSecret with a lost answer and a failed check: %+v", res)
	}
	if got := e.liveTokens(2, out.ID); len(got) != 1 {
		t.Fatalf("the lost token should be left for the retry, found %d", len(got))
	}
	lost := e.liveTokens(2, out.ID)[0].ID
	e.portal.ClearFaults()
	e.portal.Update(out.ID, func(t *lmsandbox.Token) { t.Note = "renamed meanwhile" })

	if res = rotateStep(t, rot, name, version, tokens.StepCreate); res.Failed() {
		t.Fatalf("createSecret retried: %+v", res)
	}
	live := e.liveTokens(2, out.ID)
	pending := e.storedKey(t, name, version)
	if _, ok := e.portal.Token(lost); ok || len(live) != 1 || live[0].ID != pending.TokenID || live[0].Note != "first note" {
		t.Fatalf("after the retry: lost token %d left %v; new tokens %v; pending holds %d", lost, ok, tokenIDs(live), pending.TokenID)
	}
	e.noOrphans(t)
}

// A rotation that fails at a step (here LogicMonitor refuses the POST)
// leaves AWSPENDING and blocks the next; Secrets Manager's retry with the
// same version resumes it, through the binary, to the end.
func TestFailedRotationIsResumedBySecretsManager(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true)
	create := e.startCreateWithRotation(t)
	out := createKey(t, create, 3, `{"note":"resumed"}`)
	name := out.Secret.Name
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Status: 400})
	version := startRotation(t, create, 3, out.ID)
	if got := e.sm.WaitRotations()[name]; len(got) != 1 || got[0] == nil || !strings.Contains(got[0].Error(), "createSecret") {
		t.Fatalf("the failed rotation: %v", got)
	}
	if r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens/{tokenId}/rotate", ids(3, out.ID), nil, "", nil)); r.Status != 409 {
		t.Fatalf("rotate while a failed rotation awaits its retry: %d %s", r.Status, r.Raw)
	}
	if got := e.liveTokens(3, out.ID); len(got) != 0 {
		t.Fatalf("the refused POST left %v", tokenIDs(got))
	}
	if _, err := e.api.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(version)}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[name]; len(got) != 2 || got[1] != nil {
		t.Fatalf("the resumed rotation: %v", got)
	}
	sec, _ := e.sm.Get(name)
	live := e.liveTokens(3, out.ID)
	if sec.VersionID != version || len(live) != 1 || e.storedKey(t, name, "").TokenID != live[0].ID {
		t.Fatalf("after resuming: current %s (want %s), new tokens %v", sec.VersionID, version, tokenIDs(live))
	}
	e.noOrphans(t)
}
