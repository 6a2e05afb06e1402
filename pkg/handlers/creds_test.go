package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

func shortClient() *http.Client { return &http.Client{Timeout: 200 * time.Millisecond} }

func TestCredentialsReadOnceWhileWarm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	for i := 0; i < 50; i++ {
		if _, err := e.invoke(handlers.List, map[string]any{"size": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.sm.Calls("GetSecretValue")); n != 1 || e.svc.CredentialReads() != 1 {
		t.Fatalf("credentials read %d times over 50 invocations", n)
	}
}

func TestRotatedKeyIsPickedUpAfter401(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	if _, err := e.invoke(handlers.List, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	// Rotate: a new token for the service, the old one deleted, the secret updated.
	fresh := e.seed(lmsandbox.TokenSpec{AdminID: 1, AccessID: "RotatedAccessId00002", AccessKey: "Rotated(Key)=+[0002]"})
	_ = fresh
	for _, tok := range e.portal.Tokens() {
		if tok.AccessID == operatorID {
			e.invoke(handlers.Delete, map[string]any{"adminId": 1, "tokenId": tok.ID})
		}
	}
	e.sm.Put(credsSecret, `{"company":"acme","accessId":"RotatedAccessId00002","accessKey":"Rotated(Key)=+[0002]"}`)
	e.portal.ResetRequests()
	if _, err := e.invoke(handlers.List, map[string]any{}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := countOf(e.sm.Calls("GetSecretValue"), credsSecret); n != 2 {
		t.Fatalf("secret read %d times, want 2 (once more after the 401)", n)
	}
	if n := e.portal.CountRequests(""); n != 2 {
		t.Fatalf("%d LogicMonitor requests, want 2 (401, then success)", n)
	}
}

func TestRejectedKeyNoRetryStorm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	e.sm.Put(credsSecret, `{"company":"acme","accessId":"OperatorAccessId0001","accessKey":"wrong-key"}`)
	e.portal.ResetRequests()
	r := e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
	if r.Status != 500 || r.Body["type"] != handlers.TypeConfiguration || !strings.Contains(r.Raw, credsSecret) || !strings.Contains(r.Raw, "rejected") {
		t.Fatalf("rejected key: %d %s", r.Status, r.Raw)
	}
	if strings.Contains(r.Raw, "wrong-key") {
		t.Fatal("the key is in the answer")
	}
	if n := e.portal.CountRequests(""); n > 2 {
		t.Fatalf("%d requests to LogicMonitor for a rejected key", n)
	}
}

func TestBadCredentialsSecretIsAConfigurationError(t *testing.T) {
	e := newEnv(t, lmsandbox.Config{})
	cases := map[string]string{
		"missing":      "",
		"not JSON":     `company=acme`,
		"no company":   `{"accessId":"a","accessKey":"b"}`,
		"bad company":  `{"company":"acme.evil.com/","accessId":"a","accessKey":"b"}`,
		"half a pair":  `{"company":"acme","accessId":"a"}`,
		"extra field":  `{"company":"acme","accessId":"a","accessKey":"b","password":"c"}`,
		"both kinds":   `{"company":"acme","accessId":"a","accessKey":"b","bearerToken":"lmb_x"}`,
		"wrong type":   `{"company":"acme","accessId":5,"accessKey":"b"}`,
		"secret value": `{"company":"acme","accessId":"a","accessKey":"Sup3r-Secret-Value","extra":1}`,
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := e.cfg
			cfg.CredentialsSecret = "lmtokens/creds-" + strings.ReplaceAll(name, " ", "-")
			if value != "" {
				e.sm.Put(cfg.CredentialsSecret, value)
			}
			svc := e.service(cfg)
			r := e.httpWith(svc, handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
			if r.Status != 500 || r.Body["type"] != handlers.TypeConfiguration || !strings.Contains(r.Raw, cfg.CredentialsSecret) {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if strings.Contains(r.Raw, "Sup3r") {
				t.Fatal("the secret's value is in the answer")
			}
			_, err := e.invokeWith(svc, handlers.Create, map[string]any{"adminId": 2})
			fnError(t, err, handlers.TypeConfiguration, cfg.CredentialsSecret)
		})
	}
	// An unset variable is reported on every invocation, not a crash.
	t.Setenv("LM_CREDENTIALS_SECRET", "")
	_, cfgErr := tokens.ConfigFromEnv()
	svc := handlers.New(handlers.Options{ConfigErr: cfgErr, Logger: logging.New(allLogs)})
	for i := 0; i < 2; i++ {
		_, err := e.invokeWith(svc, handlers.Toggle, map[string]any{"adminId": 2, "tokenId": 1, "status": 1})
		fnError(t, err, handlers.TypeConfiguration, "LM_CREDENTIALS_SECRET")
	}
}

func TestBearerCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	tok := e.seed(lmsandbox.TokenSpec{AdminID: 1, Type: "bearer"})
	e.sm.Put("lmtokens/bearer", fmt.Sprintf(`{"company":"acme","bearerToken":%q}`, tok.AccessKey))
	cfg := e.cfg
	cfg.CredentialsSecret = "lmtokens/bearer"
	r := e.httpWith(e.service(cfg), handlers.List, rest("GET", "/tokens", nil, map[string]string{"type": "bearer"}, "", nil))
	if r.Status != 200 || r.Body["total"] != 1.0 {
		t.Fatalf("bearer credentials: %d %s", r.Status, r.Raw)
	}
}

// After the cache's TTL a rotated secret is picked up without any 401.
func TestCredentialsReReadAfterTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	cfg := e.cfg
	cfg.CredentialsTTL = 100 * time.Millisecond
	c := newClock()
	svc := e.serviceOn(cfg, c)
	for i := 0; i < 3; i++ {
		if _, err := e.invokeWith(svc, handlers.List, map[string]any{"size": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.sm.Calls("GetSecretValue")); n != 1 {
		t.Fatalf("%d reads within the TTL", n)
	}
	c.Advance(150 * time.Millisecond)
	if _, err := e.invokeWith(svc, handlers.List, map[string]any{"size": 1}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sm.Calls("GetSecretValue")); n != 2 {
		t.Fatalf("%d reads after the TTL, want 2", n)
	}
}

// countOf counts the calls that named id.
func countOf(calls []string, id string) int {
	n := 0
	for _, c := range calls {
		if c == id {
			n++
		}
	}
	return n
}
