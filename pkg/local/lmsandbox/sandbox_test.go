package lmsandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const key = "K(~^{)=+[ey"

func sign(method, resource, body string, epoch int64) string {
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%s%d%s%s", method, epoch, body, resource)
	return fmt.Sprintf("LMv1 ID1:%s:%d", base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(mac.Sum(nil)))), epoch)
}

func start(t *testing.T, cfg Config) *Server {
	srv := NewServer(cfg)
	t.Cleanup(srv.Close)
	srv.AddAdmin(Admin{ID: 7, Username: "ops"})
	if _, err := srv.AddToken(TokenSpec{AdminID: 7, AccessID: "ID1", AccessKey: key}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// call sends a signed request and decodes the JSON answer.
func call(t *testing.T, srv *Server, method, resource, query, body string, epoch int64, v3 bool) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+resource+query, strings.NewReader(body))
	req.Header.Set("Authorization", sign(method, resource, body, epoch))
	if v3 {
		req.Header.Set("X-Version", "3")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return resp.StatusCode, out, resp.Header
}

func now() int64 { return time.Now().UnixMilli() }

func TestSignatureAndEpochChecked(t *testing.T) {
	srv := start(t, Config{})
	if st, _, _ := call(t, srv, "GET", "/setting/admins/apitokens", "?size=5", "", now(), true); st != 200 {
		t.Fatalf("good signature: %d", st)
	}
	if st, body, _ := call(t, srv, "GET", "/setting/admins/apitokens", "", "", now()-int64(time.Hour/time.Millisecond), true); st != 401 || body["errorCode"] != 1401.0 {
		t.Fatalf("hour-old epoch: %d %v", st, body)
	}
	// The signature covers the body: change it and the portal refuses.
	req, _ := http.NewRequest("POST", srv.URL+"/setting/admins/7/apitokens", strings.NewReader(`{"note":"b"}`))
	req.Header.Set("Authorization", sign("POST", "/setting/admins/7/apitokens", `{"note":"a"}`, now()))
	req.Header.Set("X-Version", "3")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("tampered body: %d", resp.StatusCode)
	}
	if n := len(srv.Tokens()); n != 1 {
		t.Fatalf("a refused request made a token: %d", n)
	}
}

func TestKeysOnlyInCreateAnswer(t *testing.T) {
	srv := start(t, Config{})
	st, created, _ := call(t, srv, "POST", "/setting/admins/7/apitokens", "", `{"note":"x","status":1}`, now(), true)
	if st != 200 || created["accessKey"] == "" || created["status"] != 1.0 {
		t.Fatalf("create: %d %v", st, created)
	}
	k := created["accessKey"].(string)
	if len(k) != 40 {
		t.Fatalf("key of %d characters", len(k))
	}
	_, list, _ := call(t, srv, "GET", "/setting/admins/apitokens", "", "", now(), true)
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), "accessKey") || strings.Contains(string(raw), k) {
		t.Fatalf("list shows a key: %s", raw)
	}
	items := list["items"].([]any)
	tok := items[1].(map[string]any)
	if tok["createdOn"].(float64) < float64(time.Now().Add(-time.Minute).Unix()) || tok["createdOn"].(float64) > float64(time.Now().Unix()+1) {
		t.Fatalf("createdOn is not epoch seconds: %v", tok["createdOn"])
	}
	if tok["lastUsedOn"] != 0.0 {
		t.Fatalf("a new token was used: %v", tok["lastUsedOn"])
	}
}

func TestV1EnvelopeWithoutVersionHeader(t *testing.T) {
	srv := start(t, Config{})
	st, body, _ := call(t, srv, "GET", "/setting/admins/99/apitokens", "", "", now(), false)
	if st != 200 || body["status"] != 404.0 || body["errmsg"] == "" {
		t.Fatalf("v1 error: %d %v", st, body)
	}
	st, body, _ = call(t, srv, "GET", "/setting/admins/apitokens", "", "", now(), false)
	if st != 200 || body["data"] == nil || body["status"] != 200.0 {
		t.Fatalf("v1 success: %d %v", st, body)
	}
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	srv := start(t, Config{RateLimit: 3, RateWindow: time.Second})
	for i := 0; i < 3; i++ {
		st, _, h := call(t, srv, "GET", "/setting/admins/apitokens", "", "", now(), true)
		if st != 200 || h.Get("X-Rate-Limit-Remaining") != fmt.Sprint(2-i) || h.Get("X-Rate-Limit-Limit") != "3" || h.Get("X-Rate-Limit-Window") != "1" {
			t.Fatalf("request %d: %d %v", i, st, h)
		}
	}
	st, _, h := call(t, srv, "GET", "/setting/admins/apitokens", "", "", now(), true)
	if st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", st, h)
	}
	// Limits are per method and endpoint: a POST still goes through.
	if st, _, _ := call(t, srv, "POST", "/setting/admins/7/apitokens", "", `{}`, now(), true); st != 200 {
		t.Fatalf("POST under its own limit: %d", st)
	}
}

func TestFilterOperators(t *testing.T) {
	tok := map[string]any{"id": 5.0, "note": "CI pipeline [prod]", "status": 2.0, "lastUsedOn": 100.0, "type": "lmv1"}
	cases := map[string]bool{
		`status:2`:                      true,
		`status!:2`:                     false,
		`note~"pipe"`:                   true,
		`note!~"pipe"`:                  false,
		`note:"ci*"`:                    true,
		`note:"*[prod]"`:                true,
		`note:"x"|"CI pipeline [prod]"`: true,
		`lastUsedOn<101,status:2`:       true,
		`lastUsedOn>:100`:               true,
		`lastUsedOn>100`:                false,
		`lastUsedOn<:99||id:5`:          true,
		`lastUsedOn<:99,id:5`:           false,
		`unknownField:1`:                true, // ignored, as the portal does
	}
	for q, want := range cases {
		f, err := parseFilter(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := f.match(tok); got != want {
			t.Errorf("%s: got %v, want %v", q, got, want)
		}
	}
	if _, err := parseFilter(`:x`); err == nil {
		t.Error("a condition without a field was accepted")
	}
}

func TestSeedFromJSON(t *testing.T) {
	p := New(Config{})
	_, err := p.LoadSeed(strings.NewReader(`{"admins":[{"id":3,"username":"a"}],
		"tokens":[{"adminId":3,"note":"old","createdDaysAgo":400,"lastUsedDaysAgo":200},{"adminId":3,"type":"bearer","neverUsed":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	toks := p.Tokens()
	if len(toks) != 2 || toks[1].Type != "bearer" || toks[1].LastUsedOn != 0 || !strings.HasPrefix(toks[1].AccessKey, "lmb_") {
		t.Fatalf("%+v", toks)
	}
	age := time.Since(time.Unix(toks[0].LastUsedOn, 0))
	if age < 199*24*time.Hour || age > 201*24*time.Hour {
		t.Fatalf("lastUsedOn age %v", age)
	}
	if _, err := p.LoadSeed(strings.NewReader(`{"tokens":[{"adminId":9}]}`)); err == nil {
		t.Fatal("a token of an unknown user was seeded")
	}
}

// A listing filtered on one id (the re-check before every change) takes a
// shortcut; it must answer exactly as the scan over every token would.
func TestIDFilterAnswersAsTheScan(t *testing.T) {
	srv := start(t, Config{})
	for i := 0; i < 5; i++ {
		if _, err := srv.AddToken(TokenSpec{AdminID: 7}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(filter string) []float64 {
		_, out, _ := call(t, srv, "GET", "/setting/admins/apitokens", "?size=1000&filter="+filter, "", now(), true)
		got := []float64{}
		for _, it := range out["items"].([]any) {
			id, ok := it.(map[string]any)["id"].(float64)
			if !ok {
				id = -1 // a record without its id
			}
			got = append(got, id)
		}
		return got
	}
	for filter, want := range map[string]string{
		"id:3":          "[3]",
		"id:03":         "[]", // compared as text, as LogicMonitor compares it
		"id:99":         "[]",
		"id:3,status:1": "[]",
		"id:3,status:2": "[3]",
		"id:3||id:4":    "[3 4]",
		`id:"3"|"5"`:    "[3 5]",
		"id:3,id:4":     "[]",
		"status:2,id:6": "[6]",
	} {
		if got := fmt.Sprint(ids(filter)); got != want {
			t.Errorf("filter %s: ids %s, want %s", filter, got, want)
		}
	}
	// A token whose records lack an id ignores the id condition, shortcut or not.
	srv.StripFields(4, "id")
	if got := fmt.Sprint(ids("id:3")); got != "[3 -1]" {
		t.Errorf("with token 4's id stripped, id:3 listed %s, want [3 -1]", got)
	}
}

// A page of plain records (and a record alone) is written by hand (the stand-in's time went to
// encoding/json); it must be the JSON encoding/json writes, escapes,
// roles and text that is not UTF-8 included.
func TestPageIsEncodingJSONs(t *testing.T) {
	p := New(Config{})
	p.AddAdmin(Admin{ID: 2, Username: `u<>&"é`, Roles: []string{"a", `b\`}})
	p.AddAdmin(Admin{ID: 3, Username: "plain"})
	for _, spec := range []TokenSpec{{AdminID: 2, Note: "n\t\"<x>\xff"}, {AdminID: 3}, {AdminID: 2, Note: "#keep"}} {
		if _, err := p.AddToken(spec); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	status, payload := p.list(0, map[string][]string{"size": {"1000"}})
	p.mu.Unlock()
	got := httptest.NewRecorder()
	writeAnswer(got, true, status, payload)
	want, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got.Body.String()) != string(want) {
		t.Fatalf("written by hand:\n%s\nencoding/json:\n%s", got.Body, want)
	}
	if got.Header().Get("Content-Length") != strconv.Itoa(got.Body.Len()) {
		t.Fatalf("Content-Length %q for %d bytes", got.Header().Get("Content-Length"), got.Body.Len())
	}
	// A single record (a change's answer) too.
	one := payload.(tokenPage).items[0]
	got = httptest.NewRecorder()
	writeAnswer(got, true, 200, one)
	if want, _ := json.Marshal(one); strings.TrimSpace(got.Body.String()) != string(want) {
		t.Fatalf("a record written by hand:\n%s\nencoding/json:\n%s", got.Body, want)
	}
}
