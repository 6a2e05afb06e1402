package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Credentials go only to LogicMonitor, through the real list binary: a
// registered portal whose baseUrl is a foreign host, plain http on a
// routable address, or an endpoint that redirects elsewhere is listed by
// GET /portals as refused, with the reason, and its credentials never
// arrive anywhere; the default portal's LM_BASE_URL obeys the same rule.
func TestCredentialsOnlyToLogicMonitor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	var leaked atomic.Int32
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.Write([]byte(`{"total":0,"items":[]}`))
	}))
	defer catcher.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, catcher.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	for name, base := range map[string]string{
		"foreign":  "https://collector.evil.example/santaba/rest",
		"cleartxt": "http://10.1.2.3/santaba/rest",
		"redirect": redirector.URL + "/santaba/rest", // loopback http: allowed here, but it redirects
	} {
		e.sm.Put("lmtokens/portals/"+name, fmt.Sprintf(`{"company":%q,"accessId":"SomeAccessId00000001","accessKey":"Some(Key)=+[0001]","baseUrl":%q}`, name, base))
	}
	list := e.startBinary(t, "list")
	r := binaryHTTP(t, list, rest("GET", "/portals", nil, nil, "", nil))
	var ps tokens.PortalsOutput
	r.into(t, &ps)
	got := map[string]string{}
	for _, p := range ps.Portals {
		got[p.Name] = p.Credentials
	}
	if r.Status != 200 || got["acme"] != "ok" || !strings.Contains(got["foreign"], "refused") || !strings.Contains(got["cleartxt"], "plain http") ||
		!strings.Contains(got["redirect"], "redirect") {
		t.Fatalf("GET /portals: %d %v", r.Status, got)
	}
	for _, name := range []string{"foreign", "cleartxt", "redirect"} {
		res := invokeBinary(t, list, map[string]any{"portal": name})
		if res.ErrorType == "" || !strings.Contains(res.ErrorMessage, "lmtokens/portals/"+name) && !strings.Contains(res.ErrorMessage, fmt.Sprintf("portal %q", name)) {
			t.Errorf("listing portal %s: %+v", name, res)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("credentials reached a foreign endpoint %d times", n)
	}
	// The default portal: plain http on the sandbox is refused unless the
	// deployment allows loopback http (local runs and tests only).
	strict := e.startBinary(t, "list", "LM_ALLOW_HTTP_LOOPBACK=false")
	if res := invokeBinary(t, strict, map[string]any{}); res.ErrorType != handlers.TypeConfiguration || !strings.Contains(res.ErrorMessage, "plain http") {
		t.Fatalf("plain http without LM_ALLOW_HTTP_LOOPBACK: %+v", res)
	}
}
