package iamsim

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/local/npmtools"
)

//go:embed simulate.cjs
var simulateScript string

// The decisions AWS reaches.
const (
	Allowed          = "Allowed"
	ImplicitlyDenied = "ImplicitlyDenied"
	ExplicitlyDenied = "ExplicitlyDenied"
)

// Request is one request to evaluate: who asks for what on which resource,
// with the policies AWS would evaluate for it.
type Request struct {
	// Principal is an IAM ARN (role, user, account root) or a service
	// principal (cloudwatch.amazonaws.com).
	Principal string `json:"principal"`
	Action    string `json:"action"`
	Resource  string `json:"resource"`
	// Context holds the request's condition keys (string or []string); the
	// principal's aws:PrincipalArn and aws:PrincipalAccount, and
	// aws:SecureTransport, are added unless set.
	Context        map[string]any `json:"context"`
	Identity       []Policy       `json:"identityPolicies"`
	ResourcePolicy map[string]any `json:"resourcePolicy,omitempty"`
	Boundaries     []Policy       `json:"permissionBoundaries,omitempty"`
	SCPs           []Policy       `json:"scps,omitempty"`
	// ResourceAccount is the resource's account (default: the one in its ARN).
	ResourceAccount string `json:"resourceAccount"`
}

// Result is the simulator's answer to one Request.
type Result struct {
	Decision           string      `json:"decision"`
	Error              string      `json:"error"`
	Statements         []Statement `json:"statements"`
	IgnoredContextKeys []string    `json:"ignoredContextKeys"`
}

// Statement is a statement that matched the request.
type Statement struct {
	Kind      string         `json:"kind"` // identity, resource, boundary, scp
	Effect    string         `json:"effect"`
	Policy    string         `json:"policy"`
	Sid       string         `json:"sid"`
	Statement map[string]any `json:"statement"`
}

// Decided reports whether a statement of this effect with this Sid (or,
// for statements without one, of this policy) matched: the statement the
// decision rests on.
func (r Result) Decided(effect, sidOrPolicy string) bool {
	for _, s := range r.Statements {
		if s.Effect == effect && (s.Sid == sidOrPolicy || (s.Sid == "" && s.Policy == sidOrPolicy)) {
			return true
		}
	}
	return false
}

func (r Result) String() string {
	var b strings.Builder
	b.WriteString(r.Decision)
	if r.Error != "" {
		b.WriteString(" (" + r.Error + ")")
	}
	for _, s := range r.Statements {
		name := s.Sid
		if name == "" {
			raw, _ := json.Marshal(s.Statement)
			name = s.Policy + " " + string(raw)
		}
		fmt.Fprintf(&b, "; %s %s %s", s.Kind, s.Effect, name)
	}
	return b.String()
}

// Simulate evaluates every request in one run of the simulator.
func Simulate(ctx context.Context, reqs []Request) ([]Result, error) {
	for i := range reqs {
		r := &reqs[i]
		c := map[string]any{"aws:SecureTransport": "true", "aws:RequestedRegion": Region}
		if account, ok := principalAccount(r.Principal); ok {
			c["aws:PrincipalArn"], c["aws:PrincipalAccount"] = r.Principal, account
		}
		for k, v := range r.Context {
			c[k] = v
		}
		r.Context = c
		if r.ResourceAccount == "" {
			r.ResourceAccount = Account
			if parts := strings.Split(r.Resource, ":"); len(parts) > 4 && parts[4] != "" {
				r.ResourceAccount = parts[4]
			}
		}
		if r.Identity == nil {
			r.Identity = []Policy{}
		}
		// Service control policies bind the principals of the
		// organization's accounts, never a service principal
		// (cloudwatch.amazonaws.com); the simulator would apply them.
		if strings.HasSuffix(r.Principal, ".amazonaws.com") {
			r.SCPs = nil
		}
	}
	in, err := json.Marshal(reqs)
	if err != nil {
		return nil, err
	}
	out, err := npmtools.Node(ctx, simulateScript, in)
	if err != nil {
		return nil, err
	}
	var results []Result
	if err := json.Unmarshal(out, &results); err != nil {
		return nil, fmt.Errorf("iamsim: simulator answered %q: %w", out, err)
	}
	if len(results) != len(reqs) {
		return nil, fmt.Errorf("iamsim: %d answers to %d requests", len(results), len(reqs))
	}
	return results, nil
}

// principalAccount is the account of an IAM or STS principal ARN.
func principalAccount(principal string) (string, bool) {
	parts := strings.Split(principal, ":")
	if len(parts) < 6 || (parts[2] != "iam" && parts[2] != "sts") {
		return "", false
	}
	return parts[4], true
}
