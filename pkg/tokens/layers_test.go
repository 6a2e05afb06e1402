package tokens_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/lmtokens/lmtokens/"

// deps lists what a package links, as `go list -deps` resolves it.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		m[strings.TrimPrefix(d, module)] = true
	}
	return m
}

// TestDependenciesPointInward holds the layers: function mains →
// transports (pkg/handlers, pkg/apievent) → domain (pkg/tokens, with
// cleanup's rules in pkg/cleanup and key keeping in pkg/secrets) → ports
// (logicmonitor.Portal, secrets.API, lifecycle.API, cleanup.MarkStore,
// posture.Reporter and posture.LedgerStore) ← adapters (pkg/lmclient over
// HTTP, pkg/awssecrets over the AWS SDK, pkg/awsevents for EventBridge,
// pkg/marktable for DynamoDB, pkg/securityhub for Security Hub). The
// composition root (handlers.NewFromEnv) is the one place that joins them.
func TestDependenciesPointInward(t *testing.T) {
	transports := []string{"pkg/handlers", "pkg/apievent",
		"github.com/aws/aws-lambda-go/events", "github.com/aws/aws-lambda-go/cfn",
		"github.com/aws/aws-lambda-go/lambda", "github.com/aws/aws-lambda-go/lambda/messages"}
	adapters := []string{"pkg/lmclient", "pkg/awssecrets", "pkg/awsevents", "pkg/marktable", "pkg/securityhub", "pkg/awsjson", "pkg/awsenv"}
	ports := []string{"pkg/logicmonitor", "pkg/secrets", "pkg/lifecycle", "pkg/cleanup", "pkg/posture"}
	// No I/O below the transports but through a port: neither an AWS SDK
	// package nor an HTTP client.
	io := func(d map[string]bool) []string {
		var out []string
		for p := range d {
			if strings.HasPrefix(p, "github.com/aws/aws-sdk-go-v2") || strings.HasPrefix(p, "github.com/aws/smithy-go") || p == "net/http" {
				out = append(out, p)
			}
		}
		return out
	}
	for _, c := range []struct {
		pkg      string
		mustNot  []string
		whyNotOK string
	}{
		{"pkg/tokens", append(append([]string{}, transports...), adapters...), "the domain calls ports; the composition root plugs the adapters in"},
		{"pkg/cleanup", append(append([]string{"pkg/tokens", "pkg/secrets", "pkg/lifecycle"}, transports...), adapters...),
			"cleanup's rules know neither the domain service nor AWS"},
		{"pkg/posture", append(append([]string{"pkg/tokens", "pkg/secrets", "pkg/lifecycle"}, transports...), adapters...),
			"posture's rules know neither the domain service nor AWS"},
	} {
		d := deps(t, c.pkg)
		for _, bad := range c.mustNot {
			if d[bad] {
				t.Errorf("%s links %s: %s", c.pkg, bad, c.whyNotOK)
			}
		}
		for _, bad := range io(d) {
			t.Errorf("%s links %s: %s", c.pkg, bad, c.whyNotOK)
		}
		for p := range d {
			if strings.HasPrefix(p, "pkg/local/") {
				t.Errorf("%s links %s: local tools never reach a function", c.pkg, p)
			}
		}
	}
	for _, p := range ports {
		d := deps(t, p)
		for _, bad := range append(append([]string{"pkg/tokens"}, transports...), adapters...) {
			if d[bad] {
				t.Errorf("port %s links %s: a port is what the domain asks for, not how it is done", p, bad)
			}
		}
		for _, bad := range io(d) {
			t.Errorf("port %s links %s: a port does no I/O of its own", p, bad)
		}
	}
	for _, a := range adapters {
		d := deps(t, a)
		for _, bad := range append([]string{"pkg/tokens"}, transports...) {
			if d[bad] {
				t.Errorf("adapter %s links %s: adapters implement ports, they call neither the domain nor a transport", a, bad)
			}
		}
	}
	// Only the function mains (and local tools) build on the transports.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			if strings.TrimPrefix(imp, module) != "pkg/handlers" {
				continue
			}
			if !strings.HasPrefix(pkg, "functions/") && !strings.HasPrefix(pkg, "pkg/local/") {
				t.Errorf("%s imports pkg/handlers: only function mains build on the transports", pkg)
			}
		}
	}
}

// TestOnlyTransportsKnowHTTPStatuses: the domain answers in kinds of
// failure and typed results; a status in it would be a second, drifting
// error table.
func TestOnlyTransportsKnowHTTPStatuses(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "http" && strings.HasPrefix(sel.Sel.Name, "Status") {
				t.Errorf("%s: http.%s: the domain names a kind of failure, the transports' errorTable its status", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
