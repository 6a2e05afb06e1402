package doctor_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lmtokens/lmtokens/pkg/local/doctor"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localevents"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
)

// world is a portal, a Secrets Manager and a bus for the doctor to look at.
type world struct {
	portal *lmsandbox.Server
	sm     *localsecrets.Server
	eb     *localevents.Server
	env    map[string]string
}

const (
	serviceID  = "ServiceAccessId00001"
	serviceKey = "Service(Key)=+[0001]~^"
	readerID   = "ReaderAccessId000001"
	readerKey  = "Reader(Key)=+[0002]~^"
)

func newWorld(t *testing.T, variance bool) *world {
	t.Helper()
	w := &world{portal: lmsandbox.NewServer(lmsandbox.Config{Variance: variance}), sm: localsecrets.Start(), eb: localevents.Start()}
	t.Cleanup(func() { w.portal.Close(); w.sm.Close(); w.eb.Close() })
	w.portal.AddAdmin(lmsandbox.Admin{ID: 1, Username: "lmtokens@example.com", Roles: []string{"administrator"}})
	w.portal.AddAdmin(lmsandbox.Admin{ID: 2, Username: "ci@example.com"})
	w.portal.AddAdmin(lmsandbox.Admin{ID: 3, Username: "auditor@example.com", Roles: []string{lmsandbox.ReadOnlyRole}})
	for _, spec := range []lmsandbox.TokenSpec{
		{AdminID: 1, AccessID: serviceID, AccessKey: serviceKey, Note: "lmtokens service"},
		{AdminID: 3, AccessID: readerID, AccessKey: readerKey, Note: "auditor"},
		{AdminID: 2, Note: "ci"}, {AdminID: 2, Type: "bearer", Note: "traces"},
	} {
		if _, err := w.portal.AddToken(spec); err != nil {
			t.Fatal(err)
		}
	}
	w.creds(serviceID, serviceKey, "")
	w.eb.Buses = []string{"lmtokens"}
	w.env = map[string]string{"LM_CREDENTIALS_SECRET": "lmtokens/credentials", "LM_BASE_URL": w.portal.URL, "LM_ALLOW_HTTP_LOOPBACK": "true",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": w.sm.URL, "AWS_ENDPOINT_URL_EVENTBRIDGE": w.eb.URL, "EVENT_BUS_NAME": "lmtokens"}
	return w
}

func (w *world) creds(id, key, extra string) {
	w.sm.Put("lmtokens/credentials", fmt.Sprintf(`{"company":"acme","accessId":%q,"accessKey":%q%s}`, id, key, extra))
}

func (w *world) run(t *testing.T, write bool, testUser int64) doctor.Report {
	t.Helper()
	rep := doctor.Run(context.Background(), doctor.Options{
		Getenv: func(k string) string { return w.env[k] }, Write: write, TestUser: testUser,
		AWS: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local", "")},
	})
	var out bytes.Buffer
	rep.Write(&out)
	for _, k := range []string{serviceKey, readerKey} {
		if strings.Contains(out.String(), k) {
			t.Fatal("the doctor printed a key")
		}
	}
	for _, tok := range w.portal.Tokens() {
		if strings.Contains(out.String(), tok.AccessKey) {
			t.Fatal("the doctor printed a key")
		}
	}
	t.Log("\n" + out.String())
	return rep
}

func result(rep doctor.Report, name string) doctor.Check {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	return doctor.Check{}
}

// Against a healthy sandbox, in both of its modes, nothing blocks; with
// WRITE=1 it makes and deletes one disabled token and leaves nothing.
func TestDoctorPassesAgainstTheSandbox(t *testing.T) {
	for _, variance := range []bool{false, true} {
		w := newWorld(t, variance)
		before := len(w.portal.Tokens())
		rep := w.run(t, true, 2)
		if rep.Failed() {
			t.Fatalf("variance %v: %+v", variance, rep.Checks)
		}
		for _, name := range []string{"signed request", "own token", "may manage tokens", "create and delete", "filter on id", "rate-limit headers", "event bus"} {
			if c := result(rep, name); c.Result != doctor.Pass {
				t.Errorf("variance %v: %s: %+v", variance, name, c)
			}
		}
		if variance && !strings.Contains(result(rep, "LMv1 tokens").Seen, `"api"`) {
			t.Errorf("the record type values seen are not reported: %+v", result(rep, "LMv1 tokens"))
		}
		if len(w.portal.Tokens()) != before {
			t.Fatal("the doctor left a token behind")
		}
		if n := w.portal.CountRequests("POST") + w.portal.CountRequests("DELETE"); n != 2 {
			t.Fatalf("%d changes, want the one create and its delete", n)
		}
		// Without WRITE it changes nothing.
		w.portal.ResetRequests()
		w.run(t, false, 0)
		for _, r := range w.portal.Requests() {
			if r.Method != "GET" {
				t.Fatalf("a read-only doctor sent %s %s", r.Method, r.Path)
			}
		}
	}
}

// Each misconfiguration fails usefully: the check that names it fails, as
// a blocker, with what was seen.
func TestDoctorNamesWhatIsWrong(t *testing.T) {
	cases := map[string]struct {
		setup func(*world)
		check string
		says  string
	}{
		"wrong key":                     {func(w *world) { w.creds(serviceID, "not-the-key", "") }, "signed request", "HTTP 401"},
		"a user without the right role": {func(w *world) { w.creds(readerID, readerKey, "") }, "may manage tokens", "can read tokens but not"},
		"an http endpoint":              {func(w *world) { w.env["LM_BASE_URL"] = "http://lm.example.com/santaba/rest" }, "endpoint", "plain http"},
		"a foreign host":                {func(w *world) { w.env["LM_BASE_URL"] = "https://collector.example.com/santaba/rest" }, "endpoint", "neither"},
		"a missing secret":              {func(w *world) { w.env["LM_CREDENTIALS_SECRET"] = "lmtokens/nowhere" }, "credentials secret", "does not exist"},
		"mistyped ids":                  {func(w *world) { w.creds(serviceID, serviceKey, `,"adminId":2,"tokenId":3`) }, "own token", "names adminId 2"},
		"a missing bus":                 {func(w *world) { w.env["EVENT_BUS_NAME"] = "nowhere" }, "event bus", "does not exist"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, false)
			c.setup(w)
			rep := w.run(t, false, 0)
			got := result(rep, c.check)
			if got.Result != doctor.Fail || !strings.Contains(got.Seen, c.says) {
				t.Fatalf("%s: %+v", c.check, got)
			}
			if got.Blocker != rep.Failed() {
				t.Fatalf("blocker %v, run failed %v", got.Blocker, rep.Failed())
			}
		})
	}
	// WRITE=1 as a read-only user: refused, nothing made.
	w := newWorld(t, false)
	w.creds(readerID, readerKey, "")
	before := len(w.portal.Tokens())
	if got := result(w.run(t, true, 2), "create and delete"); got.Result != doctor.Fail || !strings.Contains(got.Seen, "refused") || len(w.portal.Tokens()) != before {
		t.Fatalf("WRITE=1 by a read-only user: %+v", got)
	}
	// WRITE=1 whose delete fails: the token to delete by hand is named.
	w = newWorld(t, false)
	w.portal.Inject(lmsandbox.Fault{Method: "DELETE", Status: 500, Count: 10})
	got := result(w.run(t, true, 2), "create and delete")
	if got.Result != doctor.Fail || !strings.Contains(got.Seen, "by hand") {
		t.Fatalf("WRITE=1 whose delete fails: %+v", got)
	}
}
