package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/handlers"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
)

// The fault suite: faults and bad input lose nothing.

func TestFaultSecretsManagerFailsDuringCreate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		op      string
		failure localsecrets.Failure
		times   int
		key     string
	}{
		{"CreateSecret refused", "CreateSecret", localsecrets.Failure{Type: "AccessDeniedException"}, 1, ""},
		{"CreateSecret down through the SDK's retries", "CreateSecret", localsecrets.Failure{Type: "InternalServiceError"}, 3, ""},
		// With an idempotency key the claim is created first (CreateSecret
		// #1), so fail the key's own CreateSecret (#2) after letting one pass.
		{"PutSecretValue refused", "PutSecretValue", localsecrets.Failure{Type: "AccessDeniedException"}, 1, "pipeline-run-7"},
		{"PutSecretValue down", "PutSecretValue", localsecrets.Failure{Type: "InternalServiceError"}, 6, "pipeline-run-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lmsandbox.Config{})
			before := len(e.portal.Tokens())
			e.sm.Fail(c.op, c.times, c.failure)
			hdr := map[string]string{}
			if c.key != "" {
				hdr["Idempotency-Key"] = c.key
			}
			r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"x"}`, hdr))
			if r.Status < 500 || !strings.Contains(r.Raw, "Secrets Manager") || !strings.Contains(r.Raw, "not kept") {
				t.Fatalf("got %d %s", r.Status, r.Raw)
			}
			if n := len(e.portal.Tokens()); n != before {
				t.Fatalf("a token was left in LogicMonitor")
			}
			for _, s := range e.sm.Secrets() {
				if strings.HasPrefix(s.Name, "logicmonitor/api-tokens/2/") {
					t.Fatalf("a key secret was left: %s", s.Name)
				}
			}
			if c.key == "" {
				return
			}
			r = e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{"note":"x"}`, hdr))
			if c.times == 1 {
				// The claim was released: with Secrets Manager back the
				// retry runs and makes one token.
				if r.Status != 201 || len(e.portal.Tokens()) != before+1 {
					t.Fatalf("retry: %d %s", r.Status, r.Raw)
				}
				return
			}
			// Secrets Manager stayed down, so the claim could not be
			// released either: the retry is told to wait, and makes nothing.
			if r.Status != 409 || r.Headers["Retry-After"] == "" || len(e.portal.Tokens()) != before {
				t.Fatalf("retry while the claim is stuck: %d %s", r.Status, r.Raw)
			}
		})
	}
}

func TestFaultTransientLogicMonitorFailuresOnReads(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]lmsandbox.Fault{
		"429 once":     {Status: 429, RetryAfter: 20e6},
		"500 once":     {Status: 500},
		"503 once":     {Status: 503},
		"dropped":      {Drop: true},
		"slow then ok": {Status: 502, Latency: 50e6},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lmsandbox.Config{})
			e.portal.Inject(f)
			r := e.http(handlers.List, rest("GET", "/tokens", nil, nil, "", nil))
			if r.Status != 200 || r.Body["total"] != 1.0 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			// The toggle's read-then-PUT survives the same fault.
			e.portal.Inject(f)
			tok := e.seed(lmsandbox.TokenSpec{AdminID: 2})
			r = e.http(handlers.Toggle, rest("PATCH", "/admins/{adminId}/tokens/{tokenId}", ids(2, tok.ID), nil, `{"note":"n"}`, nil))
			if r.Status != 200 {
				t.Fatalf("toggle: %d %s", r.Status, r.Raw)
			}
		})
	}
}

func TestFaultCreateAfter429MakesExactlyOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lmsandbox.Config{})
	before := len(e.portal.Tokens())
	e.portal.Inject(lmsandbox.Fault{Method: "POST", Status: 429, RetryAfter: 20e6})
	r := e.http(handlers.Create, rest("POST", "/admins/{adminId}/tokens", ids(2, 0), nil, `{}`, nil))
	if r.Status != 201 || len(e.portal.Tokens()) != before+1 || e.portal.CountRequests(http.MethodPost) != 2 {
		t.Fatalf("%d %s; %d tokens made, %d POSTs", r.Status, r.Raw, len(e.portal.Tokens())-before, e.portal.CountRequests(http.MethodPost))
	}
}
