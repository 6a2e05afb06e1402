package lmclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// Credentials go to LogicMonitor only: the endpoint rule, for every form
// of endpoint a deployment or a portal's secret may name.
func TestCredentialsGoOnlyToLogicMonitor(t *testing.T) {
	auth, _ := lmauth.NewLMv1("OperatorAccessId0001", operatorKey)
	allowed := []string{"lm.internal.example", "*.proxy.example"}
	cases := []struct {
		base     string
		loopback bool
		ok       bool
	}{
		{"", false, true}, // https://acme.logicmonitor.com/santaba/rest
		{"https://acme.logicmonitor.com/santaba/rest", false, true},
		{"https://ACME.logicmonitor.com:443/santaba/rest/", false, true},
		{"https://globex.logicmonitor.com/santaba/rest", false, false}, // another company's host
		{"https://acme.logicmonitor.com/elsewhere", false, false},
		{"https://acme.logicmonitor.com:8443/santaba/rest", false, false},
		{"https://acme.logicmonitor.com.evil.example/santaba/rest", false, false},
		{"http://acme.logicmonitor.com/santaba/rest", true, false}, // clear text
		{"https://lm.internal.example/santaba/rest", false, true},
		{"https://eu.proxy.example/santaba/rest", false, true},
		{"https://proxy.example/santaba/rest", false, false}, // *.suffix is for hosts under it
		{"https://evil.example/santaba/rest", false, false},
		{"http://127.0.0.1:8080/santaba/rest", true, true},
		{"http://[::1]:8080/santaba/rest", true, true},
		{"http://127.0.0.1:8080/santaba/rest", false, false}, // loopback only when allowed
		{"http://localhost:8080/santaba/rest", true, false},
		{"http://10.0.0.1/santaba/rest", true, false},
		{"ftp://acme.logicmonitor.com/santaba/rest", false, false},
	}
	for _, c := range cases {
		_, err := lmclient.New(lmclient.Options{Company: "acme", BaseURL: c.base, Auth: auth, AllowedHosts: allowed, AllowHTTPLoopback: c.loopback})
		var ee *logicmonitor.EndpointError
		if c.ok != (err == nil) || err != nil && !errors.As(err, &ee) {
			t.Errorf("%q (loopback %v): %v, want allowed %v", c.base, c.loopback, err, c.ok)
		}
	}
}

// A redirect is never followed: the credentials stay where they were
// sent, and the answer is an upstream error that says why.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte(`{"total":0,"items":[]}`))
	}))
	defer elsewhere.Close()
	for _, status := range []int{301, 302, 307, 308} {
		portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
		}))
		auth, _ := lmauth.NewLMv1("OperatorAccessId0001", operatorKey)
		c, err := lmclient.New(lmclient.Options{BaseURL: portal.URL + "/santaba/rest", Auth: auth, AllowHTTPLoopback: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, call := range []func() error{
			func() error { _, err := c.Tokens.List(context.Background(), 0, logicmonitor.ListOptions{}); return err },
			func() error {
				_, err := c.Tokens.Create(context.Background(), 2, logicmonitor.CreateOptions{})
				return err
			},
		} {
			err := call()
			var lm *logicmonitor.Error
			if !errors.As(err, &lm) || lm.StatusCode != status || !strings.Contains(lm.Message, "redirect") || lm.Indeterminate {
				t.Errorf("HTTP %d: %v", status, err)
			}
		}
		portal.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("a redirect was followed %d times", n)
	}
}
