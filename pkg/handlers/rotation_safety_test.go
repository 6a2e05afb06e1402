package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Rotation and retirement must never lose a consumer's working key, and a
// record someone else wrote must retire nothing. Each case runs the real
// binaries and ends with every consumer's secret holding a key that
// authenticates, nothing a policy protects touched, and nothing orphaned.

// consumersWork fails unless every live key secret of the default portal,
// and the credentials secret, hands out (AWSCURRENT) a key LogicMonitor
// accepts: its token exists, is enabled and has that key.
func (e *env) consumersWork(t *testing.T) {
	t.Helper()
	for _, sec := range e.sm.Secrets() {
		if sec.Versions == nil || !sec.DeletedDate.IsZero() || !strings.HasPrefix(sec.Name, "logicmonitor/api-tokens/") ||
			strings.Contains(sec.Name, "/idempotency/") || strings.Contains(sec.Name, "/rotated-out/") {
			continue
		}
		k, err := secrets.ParseStoredKey(sec.Value)
		if err != nil {
			t.Errorf("secret %s holds no key: %v", sec.Name, err)
			continue
		}
		if tok, ok := e.portal.Token(k.TokenID); !ok || tok.Status != 2 || tok.AccessKey != k.AccessKey {
			t.Errorf("secret %s hands out the key of token %d, which does not authenticate (exists %v, status %d)", sec.Name, k.TokenID, ok, tok.Status)
		}
	}
	sec, _ := e.sm.Get(credsSecret)
	c, err := secrets.ParseCredentials(sec.Value)
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	for _, tok := range e.portal.Tokens() {
		if tok.AccessID == c.AccessID && tok.Status == 2 {
			return
		}
	}
	t.Error("the credentials secret hands out a key that does not authenticate")
}

// forgeRecord writes a rotated-out record as anyone allowed CreateSecret
// under the prefix could, due at once.
func (e *env) forgeRecord(admin, token int64, accessID, secret, version string) {
	past := time.Now().Add(-48 * time.Hour)
	rec, _ := json.Marshal(secrets.Retirement{AdminID: admin, TokenID: token, AccessID: accessID, Secret: secret, FromVersion: version,
		ReplacedBy: token + 1000, RotatedAt: past, DisableAt: past, DeleteAt: past.Add(time.Hour)})
	e.sm.Put(fmt.Sprintf("logicmonitor/api-tokens/rotated-out/%d/%d", admin, token), string(rec))
}

// Records nobody rotated out — naming a secret that does not exist, an
// unrelated secret with an invented version, a key secret's current
// version, and a rotated secret's real previous version that holds another
// token — retire nothing: not in the disable stage, not in the delete
// stage, whatever the cap. Each is reported unverified.
func TestForgedRotatedOutRecordsRetireNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.portal.AddAdmin(lmsandbox.Admin{ID: 4, Username: "root@example.com", Roles: []string{"administrator"}})
	victims := map[string]lmsandbox.Token{
		"kept":      e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "break-glass #keep", CreatedDaysAgo: 30, LastUsedDaysAgo: 0}),
		"protected": e.seed(lmsandbox.TokenSpec{AdminID: 3, AccessID: "ProtectedAccessId001", CreatedDaysAgo: 30, LastUsedDaysAgo: 0}),
		"admin":     e.seed(lmsandbox.TokenSpec{AdminID: 4, Note: "root", CreatedDaysAgo: 30, LastUsedDaysAgo: 0}),
	}
	// A pipeline key lmtokens made and rotated: its secret's previous
	// version is real, and holds the pipeline's first token.
	rot, create, out, before, version := e.rotationUnderWay(t, 2, "pipeline")
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest, tokens.StepFinish} {
		if res := rotateStep(t, rot, out.Secret.Name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	pipeline := e.storedKey(t, out.Secret.Name, "")
	victims["pipeline"], _ = e.portal.Token(pipeline.TokenID)
	other := createKey(t, create, 3, `{"note":"exporter"}`)
	otherSec, _ := e.sm.Get(other.Secret.Name)
	victims["other"], _ = e.portal.Token(other.ID)

	e.forgeRecord(2, victims["kept"].ID, victims["kept"].AccessID, "logicmonitor/api-tokens/2/999999", "00000000-0000-0000-0000-000000000001")
	e.forgeRecord(3, victims["protected"].ID, victims["protected"].AccessID, credsSecret, "11111111-0000-0000-0000-000000000001")
	e.forgeRecord(3, victims["other"].ID, victims["other"].AccessID, other.Secret.Name, otherSec.VersionID)
	e.forgeRecord(2, victims["pipeline"].ID, victims["pipeline"].AccessID, out.Secret.Name, before.VersionID)
	e.forgeRecord(4, victims["admin"].ID, victims["admin"].AccessID, out.Secret.Name, before.VersionID)
	e.forgeRecord(2, 424242, "NoSuchAccessId000001", "logicmonitor/api-tokens/2/424242", "00000000-0000-0000-0000-000000000002")
	e.sm.Put("logicmonitor/api-tokens/rotated-out/3/434343", "not a record")

	for _, fn := range []string{"toggle", "delete"} {
		f := e.cleanupFn(t, fn, "CLEANUP_MAX_ACTIONS=1", "CLEANUP_PROTECTED_ACCESS_IDS=ProtectedAccessId001")
		rep := runReport(t, f, scheduledEvent)
		// The protected token is spared before any proof; the record that
		// names a current version is one whose rotation never finished; the
		// other three fail the proof.
		why := map[int64]string{victims["protected"].ID: cleanup.SkipProtected, victims["other"].ID: "still AWSCURRENT",
			victims["kept"].ID: "does not exist", victims["pipeline"].ID: "not the record's token", victims["admin"].ID: "neither a key of user 4",
			424242: "does not exist", 434343: "incomplete"}
		if rep.Skipped[cleanup.SkipUnverified] != 5 || len(rep.Retired) != len(why) {
			t.Fatalf("%s stage: %d unverified records, want 5: %+v", fn, rep.Skipped[cleanup.SkipUnverified], rep.Retired)
		}
		for _, a := range rep.Retired {
			if a.Done || !strings.Contains(a.Skipped, why[a.TokenID]) {
				t.Fatalf("%s stage on a forged record of token %d: %+v (want skipped: %s)", fn, a.TokenID, a, why[a.TokenID])
			}
		}
	}
	// Records of tokens that no longer exist retire nothing: the delete
	// stage removed them; the others stay for a person.
	for _, gone := range []string{"2/424242", "3/434343"} {
		if sec, ok := e.sm.Get("logicmonitor/api-tokens/rotated-out/" + gone); ok && sec.Versions != nil {
			t.Errorf("the record of the missing token %s is left", gone)
		}
	}
	if sec, ok := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/rotated-out/2/%d", victims["kept"].ID)); !ok || sec.Versions == nil {
		t.Error("the delete stage removed a forged record whose token exists: it is for a person to see")
	}
	for what, v := range victims {
		if tok, ok := e.portal.Token(v.ID); !ok || tok.Status != 2 {
			t.Errorf("the %s token was touched by a forged record (exists %v, status %d)", what, ok, tok.Status)
		}
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// Between testSecret and finishSecret the new token is deleted (through
// lmtokens' own DELETE), disabled, or loses its key: finishSecret re-checks
// it, abandons the rotation (AWSCURRENT stays on the working key, the new
// token is gone, AWSPENDING is taken off, the failure is announced) and
// no record retires the old token.
func TestFinishRechecksTheNewToken(t *testing.T) {
	t.Parallel()
	cases := map[string]func(e *env, t *testing.T, next secrets.StoredKey){
		"deleted through lmtokens": func(e *env, t *testing.T, next secrets.StoredKey) {
			del := e.startBinary(t, "delete")
			r := binaryHTTP(t, del, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(next.AdminID, next.TokenID), nil, "", nil))
			if r.Status != 200 {
				t.Fatalf("delete: %d %s", r.Status, r.Raw)
			}
		},
		"deleted in LogicMonitor": func(e *env, t *testing.T, next secrets.StoredKey) {
			e.portal.RemoveToken(next.TokenID)
		},
		"disabled": func(e *env, t *testing.T, next secrets.StoredKey) {
			e.portal.Update(next.TokenID, func(tok *lmsandbox.Token) { tok.Status = 1 })
		},
		"key changed": func(e *env, t *testing.T, next secrets.StoredKey) {
			e.portal.Update(next.TokenID, func(tok *lmsandbox.Token) { tok.AccessKey = "Replaced(Key)=+[0001]" })
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lmsandbox.Config{})
			rot, _, out, before, version := e.rotationUnderWay(t, 2, "ci")
			for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest} {
				if res := rotateStep(t, rot, out.Secret.Name, version, step); res.Failed() {
					t.Fatalf("%s: %+v", step, res)
				}
			}
			next := e.storedKey(t, out.Secret.Name, version)
			change(e, t, next)
			res := rotateStep(t, rot, out.Secret.Name, version, tokens.StepFinish)
			if res.ErrorType != handlers.TypeUpstream || !strings.Contains(res.ErrorMessage, "AWSCURRENT is untouched") {
				t.Fatalf("finishSecret after the new token changed: %+v", res)
			}
			sec, _ := e.sm.Get(out.Secret.Name)
			if sec.VersionID != before.VersionID || sec.Value != before.Value || hasStage(sec, version, secrets.StagePending) {
				t.Fatalf("after the abandoned finish: current %s (was %s), stages %v", sec.VersionID, before.VersionID, sec.Stages)
			}
			if tok, ok := e.portal.Token(next.TokenID); ok && tok.AccessKey == next.AccessKey {
				t.Fatal("the abandoned rotation's token is left with its key")
			}
			if _, ok := e.sm.Get(fmt.Sprintf("logicmonitor/api-tokens/rotated-out/2/%d", out.ID)); ok {
				t.Fatal("a record retires the old, working token")
			}
			failed, rotated := 0, 0
			for _, ev := range e.events(t) {
				switch ev.DetailType {
				case lifecycle.RotationFailed:
					failed++
				case lifecycle.TokenRotated:
					rotated++
				}
			}
			if failed != 1 || rotated != 0 {
				t.Fatalf("events: %d failed, %d rotated", failed, rotated)
			}
			if res := rotateStep(t, rot, out.Secret.Name, version, tokens.StepFinish); res.ErrorType != handlers.TypeValidation {
				t.Fatalf("finishSecret retried after it abandoned: %+v", res)
			}
			e.consumersWork(t)
			e.noOrphans(t)
		})
	}
}

// A create for the same user, note and type loses its POST's answer while a
// rotation's new token waits in AWSPENDING: the create's reconciliation
// deletes its own token and never the rotation's, which then finishes.
func TestReconciliationNeverTakesAPendingToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, create, out, _, version := e.rotationUnderWay(t, 2, "deploys")
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest} {
		if res := rotateStep(t, rot, out.Secret.Name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	pending := e.storedKey(t, out.Secret.Name, version)
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", Drop: true, AfterProcessing: true})
	r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"deploys"}`, nil))
	if r.Status != 502 || !strings.Contains(r.Raw, "found and deleted") {
		t.Fatalf("the create with a lost answer: %d %s", r.Status, r.Raw)
	}
	if tok, ok := e.portal.Token(pending.TokenID); !ok || tok.Status != 2 {
		t.Fatal("the create's reconciliation took the rotation's pending token")
	}
	if res := rotateStep(t, rot, out.Secret.Name, version, tokens.StepFinish); res.Failed() {
		t.Fatalf("finishSecret: %+v", res)
	}
	if cur := e.storedKey(t, out.Secret.Name, ""); cur.TokenID != pending.TokenID {
		t.Fatalf("AWSCURRENT holds token %d, want %d", cur.TokenID, pending.TokenID)
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// Tags are an index, never proof. A finish whose retagging fails leaves the
// tags naming the old token: deleting the old token through lmtokens leaves
// the secret (its value holds the new key), and the retried finish mends
// the tags. A tampered tag that names an unrelated stale token makes the
// delete stage report a mismatch instead of scheduling a live pipeline's
// secret. Rotated-in tokens are still found through their tags once
// confirmed.
func TestOwnershipIsReadFromValuesNotTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, create, out, _, version := e.rotationUnderWay(t, 2, "grafana")
	name := out.Secret.Name
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest} {
		if res := rotateStep(t, rot, name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	e.sm.Fail("TagResource", 1, localsecrets.Failure{Type: "AccessDeniedException", Message: "not allowed", Match: name})
	if res := rotateStep(t, rot, name, version, tokens.StepFinish); !res.Failed() {
		t.Fatalf("finishSecret with retagging refused: %+v", res)
	}
	cur := e.storedKey(t, name, "")
	if sec, _ := e.sm.Get(name); sec.Tags[secrets.TagTokenID] != fmt.Sprint(out.ID) || cur.TokenID == out.ID {
		t.Fatalf("setup: tags %v, current token %d", sec.Tags, cur.TokenID)
	}
	del := e.startBinary(t, "delete")
	r := binaryHTTP(t, del, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, out.ID), nil, "", nil))
	if r.Status != 200 || r.Body["secret"] != nil {
		t.Fatalf("deleting the old token: %d %s", r.Status, r.Raw)
	}
	if sec, _ := e.sm.Get(name); !sec.DeletedDate.IsZero() {
		t.Fatal("deleting the old token scheduled the deletion of the secret that holds the new key")
	}
	if res := rotateStep(t, rot, name, version, tokens.StepFinish); res.Failed() {
		t.Fatalf("finishSecret retried: %+v", res)
	}
	if sec, _ := e.sm.Get(name); sec.Tags[secrets.TagTokenID] != fmt.Sprint(cur.TokenID) {
		t.Fatalf("the retried finish did not mend the tags: %v", sec.Tags)
	}

	// A live pipeline's secret gets a tampered tag naming a stale token.
	pipeline := createKey(t, create, 3, `{"note":"pipeline"}`)
	stale := e.seed(lmsandbox.TokenSpec{AdminID: 3, Status: 1, Note: "abandoned", CreatedDaysAgo: 900, LastUsedDaysAgo: 800})
	if _, err := e.api.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(pipeline.Secret.Name),
		Tags: []smtypes.Tag{{Key: aws.String(secrets.TagTokenID), Value: aws.String(fmt.Sprint(stale.ID))}}}); err != nil {
		t.Fatal(err)
	}
	rep := runReport(t, e.cleanupFn(t, "delete"), scheduledEvent)
	found := false
	for _, a := range rep.Actions {
		if a.TokenID == stale.ID {
			found = a.Done && a.Secret == "" && strings.Contains(a.Detail, "left it alone")
		}
	}
	if !found {
		t.Fatalf("the stale token's deletion should name the mismatch: %+v", rep.Actions)
	}
	if sec, _ := e.sm.Get(pipeline.Secret.Name); !sec.DeletedDate.IsZero() {
		t.Fatal("a tampered tag got a live pipeline's secret scheduled for deletion")
	}

	// The rotated-in token is found through its (mended) tags, confirmed by
	// the value: deleting it schedules the secret.
	r = binaryHTTP(t, del, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, cur.TokenID), nil, "", nil))
	var gone tokens.DeleteOutput
	if r.into(t, &gone); r.Status != 200 || gone.Secret == nil || gone.Secret.Name != name {
		t.Fatalf("deleting the rotated-in token: %d %s", r.Status, r.Raw)
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// A stack's Custom::LogicMonitorApiToken stands for the token its secret's
// value holds: a tampered tag naming another token makes its Delete remove
// only its own token.
func TestProviderDeleteFollowsTheValueNotATag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rcv := newReceiver(t)
	send := rcv.sender(t, e.startBinary(t, "provider"))
	props := map[string]any{"AdminId": "2", "Note": "stack token"}
	created := send(cfnEvent(rcv, cfn.RequestCreate, "tamper-1", "", props, nil))
	token := int64(mustAtoi(t, fmt.Sprint(created.Data["TokenId"])))
	bystander := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "someone else's"})
	if _, err := e.api.TagResource(context.Background(), &secretsmanager.TagResourceInput{SecretId: aws.String(fmt.Sprint(created.Data["SecretName"])),
		Tags: []smtypes.Tag{{Key: aws.String(secrets.TagTokenID), Value: aws.String(fmt.Sprint(bystander.ID))}}}); err != nil {
		t.Fatal(err)
	}
	if del := send(cfnEvent(rcv, cfn.RequestDelete, "tamper-2", created.PhysicalResourceID, map[string]any{"AdminId": "2", "Note": "stack token"}, nil)); del.Status != cfn.StatusSuccess {
		t.Fatalf("delete: %+v", del)
	}
	if _, ok := e.portal.Token(token); ok {
		t.Fatal("the stack's own token survived its Delete")
	}
	if _, ok := e.portal.Token(bystander.ID); !ok {
		t.Fatal("the stack's Delete removed a token the stack never made")
	}
	e.noOrphans(t)
}

// A credentials secret that names another token than the one its key
// belongs to (a typo in adminId or tokenId) is a Configuration error that
// names the field, for every function: nothing is listed, rotated or
// cleaned up on its word.
func TestCredentialsIDsAreVerified(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	pipeline := e.seed(lmsandbox.TokenSpec{AdminID: 2, Note: "pipeline", CreatedDaysAgo: 400, LastUsedDaysAgo: 200})
	good, _ := e.sm.Get(credsSecret)
	bad := fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q,"adminId":2,"tokenId":%d}`, operatorID, operatorKey, pipeline.ID)
	e.sm.Put(credsSecret, bad)
	e.startRotators(t, 1, true)

	list := e.startBinary(t, "list")
	res := invokeBinary(t, list, map[string]any{})
	if res.ErrorType != handlers.TypeConfiguration || !strings.Contains(res.ErrorMessage, `"adminId" 2`) || !strings.Contains(res.ErrorMessage, credsSecret) {
		t.Fatalf("list with mistyped ids: %+v", res)
	}
	disable := e.cleanupFn(t, "toggle")
	if res := invokeBinary(t, disable, scheduledEvent); res.ErrorType != handlers.TypeConfiguration {
		t.Fatalf("cleanup with mistyped ids: %+v", res)
	}
	before := len(e.portal.Tokens())
	if _, err := e.api.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(credsSecret), RotationLambdaARN: aws.String(rotateARN)}); err != nil {
		t.Fatal(err)
	}
	if got := e.sm.WaitRotations()[credsSecret]; len(got) != 1 || got[0] == nil || !strings.Contains(got[0].Error(), "adminId") {
		t.Fatalf("rotating credentials with mistyped ids: %v", got)
	}
	if len(e.portal.Tokens()) != before {
		t.Fatal("a rotation made a token on the word of mistyped ids")
	}
	if tok, _ := e.portal.Token(pipeline.ID); tok.Status != 2 {
		t.Fatal("the pipeline token named by mistake was touched")
	}
	// The right ids pass; a bearer secret must name a bearer token.
	var own lmsandbox.Token
	for _, tok := range e.portal.Tokens() {
		if tok.AccessID == operatorID {
			own = tok
		}
	}
	e.sm.Put(credsSecret, fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q,"adminId":1,"tokenId":%d}`, operatorID, operatorKey, own.ID))
	fresh := e.startBinary(t, "list")
	if res := invokeBinary(t, fresh, map[string]any{}); res.Failed() {
		t.Fatalf("list with the right ids: %+v", res)
	}
	bearer := e.seed(lmsandbox.TokenSpec{AdminID: 1, Type: "bearer", Note: "service bearer"})
	e.sm.Put(credsSecret, fmt.Sprintf(`{"company":"acme","bearerToken":%q,"adminId":1,"tokenId":%d}`, bearer.AccessKey, own.ID))
	if res := invokeBinary(t, e.startBinary(t, "list"), map[string]any{}); res.ErrorType != handlers.TypeConfiguration || !strings.Contains(res.ErrorMessage, "no bearer token") {
		t.Fatalf("bearer credentials naming an LMv1 token: %+v", res)
	}
	e.sm.Put(credsSecret, good.Value)
}

// Deleting a token while its key's secret rotates cancels the rotation: its
// new token is deleted with it, AWSPENDING is taken off, the secret is
// scheduled for deletion, and nothing is orphaned, also when the delete
// lands while createSecret is still making the new token.
func TestDeleteDuringARotationCancelsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, create, out, _, version := e.rotationUnderWay(t, 2, "mid-rotation")
	if res := rotateStep(t, rot, out.Secret.Name, version, tokens.StepCreate); res.Failed() {
		t.Fatalf("createSecret: %+v", res)
	}
	pending := e.storedKey(t, out.Secret.Name, version)
	del := e.startBinary(t, "delete")
	r := binaryHTTP(t, del, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(2, out.ID), nil, "", nil))
	var gone tokens.DeleteOutput
	if r.into(t, &gone); r.Status != 200 || gone.Secret == nil || len(gone.Notes) != 1 || !strings.Contains(gone.Notes[0], fmt.Sprintf("new token %d deleted", pending.TokenID)) {
		t.Fatalf("delete mid-rotation: %d %s", r.Status, r.Raw)
	}
	if _, ok := e.portal.Token(pending.TokenID); ok {
		t.Fatal("the cancelled rotation's token is left")
	}
	sec, _ := e.sm.Get(out.Secret.Name)
	if sec.DeletedDate.IsZero() || hasStage(sec, version, secrets.StagePending) {
		t.Fatalf("after the delete: deleted %v, stages %v", sec.DeletedDate, sec.Stages)
	}
	for _, step := range []string{tokens.StepTest, tokens.StepFinish} {
		if res := rotateStep(t, rot, out.Secret.Name, version, step); !res.Failed() {
			t.Fatalf("%s after the delete: %+v", step, res)
		}
	}
	e.noOrphans(t)

	// The delete lands while createSecret's POST is under way: the new
	// token's key reaches a secret being deleted, and the rotation's next
	// step deletes the token.
	out2 := createKey(t, create, 3, `{"note":"racing"}`)
	version2 := startRotation(t, create, 3, out2.ID)
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Path: "apitokens", AfterProcessing: true, Latency: 1500 * time.Millisecond})
	var wg sync.WaitGroup
	var step lambdaruntime.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		step = rotateStep(t, rot, out2.Secret.Name, version2, tokens.StepCreate)
	}()
	time.Sleep(500 * time.Millisecond)
	if r := binaryHTTP(t, del, rest("DELETE", "/admins/{adminId}/tokens/{tokenId}", ids(3, out2.ID), nil, "", nil)); r.Status != 200 {
		t.Fatalf("delete during createSecret: %d %s", r.Status, r.Raw)
	}
	wg.Wait()
	if !step.Failed() {
		// Its key went to the pending version before the secret was
		// scheduled: Secrets Manager's next step cleans up.
		if res := rotateStep(t, rot, out2.Secret.Name, version2, tokens.StepSet); !res.Failed() || !strings.Contains(res.ErrorMessage, "abandoned") {
			t.Fatalf("setSecret on a secret scheduled for deletion: %+v", res)
		}
	}
	if got := e.liveTokens(3, out2.ID); len(got) != 0 {
		t.Fatalf("the rotation's token outlived the delete: %v", tokenIDs(got))
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// API Token Rotated is sent once per version: finishSecret failing after
// AWSCURRENT moved and retried, and six finishes at once, send one.
func TestRotatedIsAnnouncedOncePerVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rots := e.startRotators(t, 6, false)
	create := e.startCreateWithRotation(t)
	count := func(version string) int {
		n := 0
		for _, ev := range e.events(t) {
			var d struct {
				VersionID string `json:"versionId"`
			}
			_ = json.Unmarshal(ev.Detail, &d)
			if ev.DetailType == lifecycle.TokenRotated && d.VersionID == version {
				n++
			}
		}
		return n
	}
	out := createKey(t, create, 2, `{"note":"announced"}`)
	version := startRotation(t, create, 2, out.ID)
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest} {
		if res := rotateStep(t, rots[0], out.Secret.Name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	e.sm.Fail("TagResource", 1, localsecrets.Failure{Type: "AccessDeniedException", Match: out.Secret.Name})
	if res := rotateStep(t, rots[0], out.Secret.Name, version, tokens.StepFinish); !res.Failed() {
		t.Fatalf("finish with a failing retag: %+v", res)
	}
	for i := 0; i < 2; i++ {
		if res := rotateStep(t, rots[0], out.Secret.Name, version, tokens.StepFinish); res.Failed() {
			t.Fatalf("finish retried: %+v", res)
		}
	}
	if n := count(version); n != 1 {
		t.Fatalf("%d API Token Rotated events for a finish retried, want 1", n)
	}

	version = startRotation(t, create, 2, e.storedKey(t, out.Secret.Name, "").TokenID)
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest} {
		if res := rotateStep(t, rots[0], out.Secret.Name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	var wg sync.WaitGroup
	for _, f := range rots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rotateStep(t, f, out.Secret.Name, version, tokens.StepFinish)
		}()
	}
	wg.Wait()
	if n := count(version); n != 1 {
		t.Fatalf("%d API Token Rotated events for six finishes at once, want 1", n)
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// A retirement LogicMonitor refuses is a failure of the run, with the true
// reason, in the report and in Cleanup Run Completed; retirements count
// against the run's cap, which holds across portals.
func TestRetirementFailuresAndTheRunsCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	rot, _, out, _, version := e.rotationUnderWay(t, 2, "refused")
	for _, step := range []string{tokens.StepCreate, tokens.StepSet, tokens.StepTest, tokens.StepFinish} {
		if res := rotateStep(t, rot, out.Secret.Name, version, step); res.Failed() {
			t.Fatalf("%s: %+v", step, res)
		}
	}
	// The test's rotators use the default grace: age the record instead.
	rec := "logicmonitor/api-tokens/rotated-out/2/" + fmt.Sprint(out.ID)
	sec, _ := e.sm.Get(rec)
	var r secrets.Retirement
	_ = json.Unmarshal([]byte(sec.Value), &r)
	r.DisableAt, r.DeleteAt = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	b, _ := json.Marshal(r)
	if _, err := e.api.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(rec), SecretString: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}
	e.portal.Inject(lmsandbox.Fault{Method: "PATCH", Path: fmt.Sprintf("/apitokens/%d", out.ID), Status: 500, Count: 10})
	disable := e.cleanupFn(t, "toggle")
	res := invokeBinary(t, disable, scheduledEvent)
	var rep cleanup.Report
	if err := json.Unmarshal(res.Payload, &rep); err != nil || res.Failed() {
		t.Fatalf("disable stage: %+v", res)
	}
	if rep.Outcome == "ok" || rep.Failed != 1 || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "HTTP 500") || strings.Contains(rep.Errors[0], "credentials") {
		t.Fatalf("a refused retirement: outcome %s, failed %d, errors %v", rep.Outcome, rep.Failed, rep.Errors)
	}
	var summary tokens.CleanupSummary
	for _, ev := range e.events(t) {
		if ev.DetailType == lifecycle.CleanupRunCompleted {
			_ = json.Unmarshal(ev.Detail, &summary)
		}
	}
	if summary.Outcome == "ok" || len(summary.Retired) != 1 || summary.Retired[0].TokenID != out.ID || summary.Retired[0].Error == "" {
		t.Fatalf("Cleanup Run Completed: outcome %s, retired %+v", summary.Outcome, summary.Retired)
	}
	e.portal.ClearFaults()
	rep = runReport(t, disable, scheduledEvent)
	if rep.Outcome != "ok" || rep.Succeeded != 1 {
		t.Fatalf("the retirement retried: %+v", rep)
	}
	e.consumersWork(t)
	e.noOrphans(t)
}

// The cap is the run's, across every portal: three portals with eligible
// tokens and maxActions 4 act on four tokens in all.
func TestTheCapHoldsAcrossPortals(t *testing.T) {
	t.Parallel()
	e, multi := portalsEnv(t, "globex", "initech")
	for _, p := range []*lmsandbox.Portal{e.portal.Portal, multi.Portal("globex"), multi.Portal("initech")} {
		for i := 0; i < 3; i++ {
			if _, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 2, CreatedDaysAgo: 400, LastUsedDaysAgo: 300}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep := runReport(t, e.cleanupFn(t, "toggle", "CLEANUP_MAX_ACTIONS=4"), scheduledEvent)
	if rep.Succeeded != 4 || !rep.CapReached || rep.Remaining != 5 {
		t.Fatalf("succeeded %d (want 4), capReached %v, remaining %d (want 5)", rep.Succeeded, rep.CapReached, rep.Remaining)
	}
}

// Tokens deleted out of band (in the portal's UI) leave key secrets and
// idempotency records: the delete stage finds each one whose token is gone
// (its value confirming which token it holds), marks it, and once the grace
// has passed schedules it and its claim for deletion. A dry run only
// reports. A key whose token is gone fails its rotation once, and its
// rotation is turned off.
func TestOutOfBandDeletesLeaveNothingForever(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.startRotators(t, 1, true)
	create := e.startCreateWithRotation(t)
	var gone []tokens.CreateOutput
	for i := 0; i < 6; i++ {
		headers := map[string]string{}
		if i%2 == 0 {
			headers["Idempotency-Key"] = fmt.Sprintf("oob-%d", i)
		}
		r := binaryHTTP(t, create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"oob"}`, headers))
		var out tokens.CreateOutput
		r.into(t, &out)
		gone = append(gone, out)
	}
	live := createKey(t, create, 3, `{"note":"still here"}`) // enabled: the listing must show it
	paused := createKey(t, create, 3, `{"note":"paused","status":1}`)
	for _, g := range gone {
		e.portal.RemoveToken(g.ID)
	}
	dry := runReport(t, e.cleanupFn(t, "delete", "CLEANUP_DRY_RUN=true", "CLEANUP_ORPHAN_GRACE=2s"), scheduledEvent)
	if len(dry.OrphanedSecrets) != 6 {
		t.Fatalf("dry run: %d orphaned secrets, want 6: %+v", len(dry.OrphanedSecrets), dry.OrphanedSecrets)
	}
	for _, s := range e.sm.Secrets() {
		if _, marked := s.Tags[secrets.TagMissingSince]; marked {
			t.Fatal("a dry run marked a secret")
		}
	}
	del := e.cleanupFn(t, "delete", "CLEANUP_ORPHAN_GRACE=2s")
	for run := 0; run < 2; run++ {
		rep := runReport(t, del, scheduledEvent)
		if len(rep.OrphanedSecrets) != 6 || rep.Outcome != "ok" {
			t.Fatalf("run %d: %+v", run, rep.OrphanedSecrets)
		}
		for _, o := range rep.OrphanedSecrets {
			if o.Scheduled || o.MissingSince.IsZero() {
				t.Fatalf("run %d scheduled or did not date %s within its grace", run, o.Secret)
			}
		}
	}
	time.Sleep(2100 * time.Millisecond)
	rep := runReport(t, del, scheduledEvent)
	scheduled := 0
	for _, o := range rep.OrphanedSecrets {
		if o.Scheduled {
			scheduled++
		}
	}
	if scheduled != 6 {
		t.Fatalf("after the grace: %d scheduled, want 6: %+v", scheduled, rep.OrphanedSecrets)
	}
	for _, s := range e.sm.Secrets() {
		if s.DeletedDate.IsZero() && (strings.Contains(s.Name, "/idempotency/") || strings.HasPrefix(s.Name, "logicmonitor/api-tokens/2/")) {
			t.Errorf("%s is left live", s.Name)
		}
	}
	for _, keep := range []tokens.CreateOutput{live, paused} {
		if sec, _ := e.sm.Get(keep.Secret.Name); !sec.DeletedDate.IsZero() {
			t.Fatalf("the secret of live token %d was scheduled", keep.ID)
		}
	}

	e.portal.Update(paused.ID, func(tok *lmsandbox.Token) { tok.Status = 2 })
	e.consumersWork(t)

	// A key whose token is gone fails its rotation once, then rotates no more.
	rotating := createKey(t, create, 3, `{"note":"rotating","rotationDays":30}`)
	e.sm.WaitRotations()
	e.portal.RemoveToken(rotating.ID)
	if _, err := e.api.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(rotating.Secret.Name)}); err != nil {
		t.Fatal(err)
	}
	got := e.sm.WaitRotations()[rotating.Secret.Name]
	if last := got[len(got)-1]; last == nil || !strings.Contains(last.Error(), "turned off") {
		t.Fatalf("rotating a key whose token is gone: %v", got)
	}
	sec, _ := e.sm.Get(rotating.Secret.Name)
	for v := range sec.Stages {
		if sec.RotationEnabled || hasStage(sec, v, secrets.StagePending) {
			t.Fatalf("the rotation was not turned off: enabled %v, stages %v", sec.RotationEnabled, sec.Stages)
		}
	}
}
