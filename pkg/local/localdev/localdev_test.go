package localdev

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/longtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuilt()
	os.Exit(code)
}

// binaries returns the functions' binaries, built for this machine.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the function binaries")
	}
	dir, err := BuiltFunctions("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func start(t *testing.T) *Stack {
	t.Helper()
	s, err := Start(Options{BinDir: binaries(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestDemoPasses(t *testing.T) {
	longtest.Mark(t)
	s := start(t)
	var out bytes.Buffer
	d := &Demo{Stack: s, Out: &out}
	if err := d.Run(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "all 13 steps behaved as expected") || strings.Contains(text, "\x1b[") || !strings.Contains(text, "promoted to AWSCURRENT") || !strings.Contains(text, "each warned 14 days before") {
		t.Fatalf("output:\n%s", text)
	}
	for _, tok := range s.Portal.Tokens() {
		if strings.Contains(text, tok.AccessKey) {
			t.Fatal("the demo printed a key")
		}
	}
	// The rotated-out and deleted tokens' keys live on only in versions.
	for _, sec := range s.Secrets.Secrets() {
		for _, v := range sec.Versions {
			var k struct{ AccessKey string }
			if json.Unmarshal([]byte(v), &k) == nil && k.AccessKey != "" && strings.Contains(text, k.AccessKey) {
				t.Fatal("the demo printed a stored key")
			}
		}
	}
}

func TestDemoFailsOnAMisbehavingStep(t *testing.T) {
	s := start(t)
	// The portal refuses every create: the demo must stop there, non-zero.
	s.Portal.Inject(lmsandbox.Fault{Method: "POST", Status: 400, Count: 100})
	var out bytes.Buffer
	err := (&Demo{Stack: s, Out: &out}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "create a token") || !strings.Contains(out.String(), "✘") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
}

// Every sample event runs through its function against a fresh sandbox.
func TestSampleEvents(t *testing.T) {
	files, _ := filepath.Glob("../../../events/*.json")
	if len(files) < 20 {
		t.Fatalf("only %d sample events", len(files))
	}
	shapes := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		fn := FunctionForEvent(name)
		shapes[fn+"/"+strings.TrimSuffix(strings.TrimPrefix(name, fn+"-"), ".json")] = true
		t.Run(name, func(t *testing.T) {
			s := start(t)
			ev, _ := os.ReadFile(f)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := s.Invoke(ctx, fn, ev)
			if err != nil || res.Failed() {
				t.Fatalf("%v %s: %s", err, res.ErrorType, res.ErrorMessage)
			}
			// A rotation the event started runs to its end before the
			// stack stops.
			for secret, errs := range s.Secrets.WaitRotations() {
				for _, err := range errs {
					if err != nil {
						t.Fatalf("rotation of %s: %v", secret, err)
					}
				}
			}
			var out map[string]any
			_ = json.Unmarshal(res.Payload, &out)
			if sc, ok := out["statusCode"].(float64); ok && (sc < 200 || sc > 299) {
				t.Fatalf("HTTP %v: %v", sc, out["body"])
			}
			var cfnEvent struct{ RequestId string }
			if json.Unmarshal(ev, &cfnEvent) == nil && cfnEvent.RequestId != "" {
				answer, ok := s.CFNAnswer(cfnEvent.RequestId)
				if !ok || !strings.Contains(string(answer), `"Status":"SUCCESS"`) || !strings.Contains(string(answer), `"PhysicalResourceId":"lmtokens:`) {
					t.Fatalf("CloudFormation answer: %s", answer)
				}
			}
		})
	}
	for _, fn := range []string{catalog.List, catalog.Create, catalog.Toggle, catalog.Delete} {
		for _, shape := range []string{"rest", "httpapi", "direct", "eventbridge"} {
			if !shapes[fn+"/"+shape] {
				t.Errorf("no sample event %s-%s.json", fn, shape)
			}
		}
	}
}

func TestLocalAPIGatewayServesEveryRoute(t *testing.T) {
	s := start(t)
	srv := httptest.NewServer(s.APIGateway())
	defer srv.Close()
	do := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	do("GET", "/tokens?type=bearer", "", 200)
	do("GET", "/admins/2/tokens?size=1", "", 200)
	created := do("POST", "/admins/2/tokens", `{"note":"curl"}`, 201)
	id := fmt.Sprint(created["id"])
	do("PATCH", "/admins/2/tokens/"+id, `{"enabled":false}`, 200)
	do("DELETE", "/admins/2/tokens/"+id, "", 200)
	do("DELETE", "/admins/2/tokens/"+id, "", 404)
	do("GET", "/admins/x/tokens", "", 400)
	do("PUT", "/tokens", "", 405)
	do("GET", "/nowhere", "", 404)
}
