package handlers_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecurityhub"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/posture"
)

const hubAccount = "123456789012"

// postureEnv is the disable stage's binary with findings on, reporting to
// a local Security Hub that holds each finding to ASFF's rules.
func (e *env) postureBinary(t *testing.T, hub *localsecurityhub.Server, extra ...string) func() cleanup.Report {
	f := e.startBinary(t, "toggle", append([]string{"CLEANUP_ENABLED=true", "CLEANUP_WARN_DAYS=14", "CLEANUP_MAX_ACTIONS=1",
		"AWS_ENDPOINT_URL_SECURITYHUB=" + hub.URL,
		"SECURITY_HUB_PRODUCT_ARN=arn:aws:securityhub:us-east-1:" + hubAccount + ":product/" + hubAccount + "/default"}, extra...)...)
	return func() cleanup.Report { return runReport(t, f, scheduledEvent) }
}

// hubState is each finding's rule and record state, by id.
func hubState(hub *localsecurityhub.Server) map[string]string {
	out := map[string]string{}
	for id, f := range hub.Findings() {
		out[id] = fmt.Sprint(f["RecordState"])
	}
	return out
}

var callRE = regexp.MustCompile(`^(PATCH|DELETE|POST) /admins/(\d+)/tokens/(\d+)(/rotate)?(?: (.*))?$`)

// fix carries out a finding's remediation as the finding words it: the
// lmtokens call, through the function that serves it.
func (e *env) fix(t *testing.T, call string) {
	t.Helper()
	m := callRE.FindStringSubmatch(call)
	if m == nil {
		t.Fatalf("a finding's call %q is not an lmtokens call", call)
	}
	var admin, token int64
	fmt.Sscan(m[2], &admin)
	fmt.Sscan(m[3], &token)
	fn := map[string]string{"PATCH": "toggle", "DELETE": "delete"}[m[1]]
	if fn == "" {
		t.Fatalf("the test carries out PATCH and DELETE calls, not %q", call)
	}
	r := e.http(fn, rest(m[1], "/admins/{adminId}/tokens/{tokenId}", ids(admin, token), nil, m[5], nil))
	if r.Status != 200 && r.Status != 204 {
		t.Fatalf("%s: %d %s", call, r.Status, r.Raw)
	}
}

// Each posture rule is raised as an ASFF finding by the disable stage's
// binary, carries the token's ids and never a key, is left alone while
// it lasts, and is archived by the first run after its fix — the fix
// being the lmtokens call the finding names.
func TestPostureFindingsThroughBinaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	hub := localsecurityhub.Start(hubAccount, "us-east-1")
	t.Cleanup(hub.Close)
	// The portal caps lifetimes at 300 days.
	e.sm.Put(credsSecret, fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q,"maxLifetimeDays":300}`, operatorID, operatorKey))
	e.portal.AddAdmin(lmsandbox.Admin{ID: 4, Username: "lmsupport"})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 5, Username: "left@example.com"})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 6, Username: "also-left@example.com"})
	seeded := map[string]lmsandbox.Token{
		"unused":        e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 200, LastUsedDaysAgo: 150}),
		"over-lifetime": e.seed(lmsandbox.TokenSpec{AdminID: 3, CreatedDaysAgo: 320, LastUsedDaysAgo: 1}),
		"old":           e.seed(lmsandbox.TokenSpec{AdminID: 3, CreatedDaysAgo: 400, LastUsedDaysAgo: 1}),
		"administrator": e.seed(lmsandbox.TokenSpec{AdminID: 1, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}),
		"lmsupport":     e.seed(lmsandbox.TokenSpec{AdminID: 4, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}),
		"suspended-a":   e.seed(lmsandbox.TokenSpec{AdminID: 5, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}),
		"suspended-b":   e.seed(lmsandbox.TokenSpec{AdminID: 6, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}),
		"healthy":       e.seed(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}),
	}
	e.portal.SetAdminStatus(5, "suspended")
	e.portal.SetAdminStatus(6, "suspended")
	// A token lmtokens made, whose key secret someone then deleted.
	created := e.http("create", rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"made by lmtokens"}`, nil))
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	madeID, madeSecret := int64(created.Body["id"].(float64)), created.Body["secret"].(map[string]any)["name"].(string)
	if _, err := e.api.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(madeSecret), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}

	run := e.postureBinary(t, hub)
	rep := run()
	if rep.Findings == nil || rep.Findings.Raised == 0 || rep.Findings.Raised != rep.Findings.Active || rep.Findings.Calls != 1 || rep.Findings.Refused != 0 {
		t.Fatalf("first run's findings: %+v; errors %v", rep.Findings, rep.Errors)
	}
	id := func(portalToken lmsandbox.Token, r posture.Rule) string {
		return posture.FindingID("", tokensToken(portalToken), r)
	}
	made := lmsandbox.Token{ID: madeID, AdminID: 2}
	// One of the two tokens of inactive owners was disabled (the cap is
	// one action); the other is a finding until a run disables it.
	var waiting lmsandbox.Token
	for _, k := range []string{"suspended-a", "suspended-b"} {
		if tok, _ := e.portal.Token(seeded[k].ID); tok.Status == 2 {
			waiting = seeded[k]
		}
	}
	want := map[string]lmsandbox.Token{
		id(seeded["unused"], posture.Unused):                 seeded["unused"],
		id(seeded["over-lifetime"], posture.OverMaxLifetime): seeded["over-lifetime"],
		id(seeded["old"], posture.NotRotated):                seeded["old"],
		id(seeded["old"], posture.OverMaxLifetime):           seeded["old"],
		id(seeded["administrator"], posture.AdminOwner):      seeded["administrator"],
		id(seeded["lmsupport"], posture.SupportOwner):        seeded["lmsupport"],
		id(waiting, posture.OwnerSuspended):                  waiting,
		id(made, posture.KeyMissing):                         made,
	}
	state := hubState(hub)
	for fid := range want {
		if state[fid] != "ACTIVE" {
			t.Errorf("finding %s: %q, want ACTIVE (all: %v)", fid, state[fid], state)
		}
	}
	for fid := range state {
		if strings.HasPrefix(fid, fmt.Sprintf("lmtokens/default/2/%d/", seeded["healthy"].ID)) {
			t.Errorf("a healthy token has a finding: %s", fid)
		}
	}
	findings := hub.Findings()
	for fid, tok := range want {
		f := findings[fid]
		res := f["Resources"].([]any)[0].(map[string]any)
		other := res["Details"].(map[string]any)["Other"].(map[string]any)
		if other["tokenId"] != fmt.Sprint(tok.ID) || other["adminId"] != fmt.Sprint(tok.AdminID) || f["Remediation"] == nil {
			t.Errorf("finding %s names %v, remediation %v", fid, other, f["Remediation"])
		}
	}
	// No finding carries a key: none of the portal's keys (the one
	// lmtokens made among them) is anywhere in what Security Hub holds.
	raw := string(hub.Raw())
	for _, tok := range e.portal.Tokens() {
		if strings.Contains(raw, tok.AccessKey) {
			t.Fatalf("a finding carries token %d's key", tok.ID)
		}
	}
	if strings.Contains(raw, operatorKey) {
		t.Fatal("a finding carries the functions' own key")
	}

	// A second run finds the same and imports only what changed: the
	// waiting inactive owner's token, disabled now, is archived.
	rep = run()
	if rep.Findings.Raised != 0 || rep.Findings.Archived != 1 || rep.Findings.Calls != 1 {
		t.Fatalf("second run: %+v; errors %v; actions %+v; skipped %v remaining %d", rep.Findings, rep.Errors, rep.Actions, rep.Skipped, rep.Remaining)
	}
	if s := hubState(hub)[id(waiting, posture.OwnerSuspended)]; s != "ARCHIVED" {
		t.Fatalf("the disabled token's finding is %q", s)
	}
	// Each other finding's own call fixes it: the next run archives them.
	for fid := range want {
		f := findings[fid]
		if fid == id(waiting, posture.OwnerSuspended) || (strings.HasSuffix(fid, "/not-rotated")) {
			continue
		}
		call := f["ProductFields"].(map[string]any)["lmtokens/call"].(string)
		if tok, ok := e.portal.Token(want[fid].ID); ok && tok.Status == 2 {
			e.fix(t, call)
		}
	}
	rep = run()
	if rep.Findings.Raised != 0 || rep.Findings.Archived != len(want)-1 {
		t.Fatalf("after the fixes: %+v; errors %v", rep.Findings, rep.Errors)
	}
	state = hubState(hub)
	for fid := range want {
		if state[fid] != "ARCHIVED" {
			t.Errorf("finding %s after its fix: %q", fid, state[fid])
		}
	}
	// The functions' own token is an administrator's, but no finding
	// advises deleting it: that would stop lmtokens.
	service, _ := e.portal.Token(1)
	if self := posture.FindingID("", tokensToken(service), posture.AdminOwner); state[self] != "" {
		t.Errorf("the functions' own token has a finding: %s %q", self, state[self])
	}
	// Nothing left to say: a run imports nothing.
	if rep = run(); rep.Findings.Calls != 0 || rep.Findings.Active != 0 {
		t.Fatalf("a quiet run: %+v", rep.Findings)
	}
	// Each run's summary event carries its findings' counts, as its schema
	// says (e.events validates every event and looks in each for a key).
	withFindings := 0
	for _, ev := range e.events(t) {
		if ev.DetailType == "Cleanup Run Completed" && strings.Contains(string(ev.Detail), `"securityHubCalls"`) {
			withFindings++
		}
	}
	if withFindings != 4 {
		t.Errorf("%d run summaries carry their findings, want the 4 runs'", withFindings)
	}
}

// tokensToken is a portal's token as the functions' client names it.
func tokensToken(t lmsandbox.Token) logicmonitor.Token {
	return logicmonitor.Token{ID: t.ID, AdminID: t.AdminID}
}

// Security Hub's answers lost after it acted, and two disable runs at
// once: a finding is never recorded as reported unless Security Hub
// acknowledged it, so a lost answer means the next run sends it again
// (an import is an upsert by id), and concurrent runs agree on the end.
func TestPostureFindingsUnderAHostileWorld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	hub := localsecurityhub.Start(hubAccount, "us-east-1")
	t.Cleanup(hub.Close)
	e.portal.AddAdmin(lmsandbox.Admin{ID: 4, Username: "lmsupport"})
	var support []lmsandbox.Token
	for range 3 {
		support = append(support, e.seed(lmsandbox.TokenSpec{AdminID: 4, CreatedDaysAgo: 5, LastUsedDaysAgo: 1}))
	}
	run := e.postureBinary(t, hub)

	// One lost answer: the batch is sent again within the run.
	hub.LoseAnswers(1)
	rep := run()
	if rep.Findings.Raised != 3 || rep.Findings.Calls != 2 || len(rep.Errors) != 0 {
		t.Fatalf("one lost answer: %+v %v", rep.Findings, rep.Errors)
	}
	// Every answer of a run lost: Security Hub holds the findings, the
	// run says it could not import them, and the next run sends them again.
	e.portal.AddAdmin(lmsandbox.Admin{ID: 7, Username: "ops", Roles: []string{"administrator"}})
	adminTok := e.seed(lmsandbox.TokenSpec{AdminID: 7, CreatedDaysAgo: 5, LastUsedDaysAgo: 1})
	hub.LoseAnswers(3)
	rep = run()
	if rep.Findings.Raised != 1 || rep.Findings.Calls != 3 || rep.Outcome != "partial" || !strings.Contains(strings.Join(rep.Errors, " "), "Security Hub") {
		t.Fatalf("all answers lost: %+v %s %v", rep.Findings, rep.Outcome, rep.Errors)
	}
	fid := posture.FindingID("", tokensToken(adminTok), posture.AdminOwner)
	if hubState(hub)[fid] != "ACTIVE" {
		t.Fatalf("Security Hub acted on the lost calls: %v", hubState(hub))
	}
	rep = run()
	if rep.Findings.Raised != 1 || rep.Findings.Calls != 1 || len(rep.Errors) != 0 {
		t.Fatalf("the run after: %+v %v", rep.Findings, rep.Errors)
	}

	// Two runs at once after every fix: each archives, neither fails, and
	// Security Hub ends with every finding archived.
	for _, tok := range append(support, adminTok) {
		e.fix(t, fmt.Sprintf("DELETE /admins/%d/tokens/%d", tok.AdminID, tok.ID))
	}
	other := e.postureBinary(t, hub)
	reps := make([]cleanup.Report, 2)
	var wg sync.WaitGroup
	for i, r := range []func() cleanup.Report{run, other} {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i] = r() }()
	}
	wg.Wait()
	for i, r := range reps {
		if len(r.Errors) != 0 || r.Findings.Raised != 0 {
			t.Fatalf("run %d of two: %+v %v", i, r.Findings, r.Errors)
		}
	}
	for _, tok := range append(support, adminTok) {
		for id, state := range hubState(hub) {
			if strings.HasPrefix(id, fmt.Sprintf("lmtokens/default/%d/%d/", tok.AdminID, tok.ID)) && state != "ARCHIVED" {
				t.Errorf("%s: %s", id, state)
			}
		}
	}
	if rep = run(); rep.Findings.Archived != 0 || rep.Findings.Calls != 0 {
		t.Fatalf("a run after both: %+v", rep.Findings)
	}
}
