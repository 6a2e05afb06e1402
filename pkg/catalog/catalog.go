// Package catalog is the one table of lmtokens' functions and HTTP routes.
// The handlers route requests by it, the local API gateway and tools start
// and address functions by it, and the CDK stack deploys them from it:
// adding a route or a function is one edit here.
package catalog

import (
	"net/http"

	"github.com/lmtokens/lmtokens/pkg/settings"
)

// Binaries are the main packages under functions/, one per API function.
const (
	List   = "list"
	Create = "create"
	Toggle = "toggle"
	Delete = "delete"
	// Provider serves the Custom::LogicMonitorApiToken CloudFormation resource.
	Provider = "provider"
	// Rotate is Secrets Manager's rotation function for stored keys and
	// the credentials secrets.
	Rotate = "rotate"
)

// DeploymentType is the custom resource lmtokens' own stack declares: each
// time CloudFormation creates or updates it, the provider logs "stack
// deployed", which the cleanup heartbeats count as a run (a stack just
// deployed has had no chance to run its schedules yet).
const DeploymentType = "Custom::LmtokensDeployment"

// Route is one HTTP route of the public API.
type Route struct {
	Method string
	Path   string // template, e.g. /admins/{adminId}/tokens
}

// Function is one deployed Lambda function.
type Function struct {
	// Name is the function's name in local tools and event file names
	// (events/<name>-*.json); ID is its CDK construct id.
	Name, ID string
	// Binary is the functions/<Binary> main package it runs.
	Binary string
	// Routes are the API routes it serves (none for a cleanup function).
	Routes []Route
	// CleanupStage is "disable" or "delete" for a cleanup function, which
	// runs with CLEANUP_ENABLED=true and serves no route.
	CleanupStage string
	Description  string
	// TimeoutSeconds and MemoryMB size it in Lambda.
	TimeoutSeconds, MemoryMB float64
}

// Env is what a function's environment adds to the shared settings.
func (f Function) Env() map[string]string {
	if f.CleanupStage == "" {
		return map[string]string{}
	}
	return map[string]string{settings.CleanupEnabled.Env: "true"}
}

// Functions are every function, API functions first.
var Functions = []Function{
	{Name: List, ID: "List", Binary: List, TimeoutSeconds: 25, MemoryMB: 128,
		Description: "lmtokens: list LogicMonitor API tokens",
		Routes: []Route{{http.MethodGet, "/tokens"}, {http.MethodGet, "/admins/{adminId}/tokens"},
			{http.MethodGet, "/portals"}, {http.MethodGet, "/portals/{portal}/tokens"}, {http.MethodGet, "/portals/{portal}/admins/{adminId}/tokens"}}},
	{Name: Create, ID: "Create", Binary: Create, TimeoutSeconds: 25, MemoryMB: 128,
		Description: "lmtokens: create a token and store its key in Secrets Manager",
		Routes: []Route{{http.MethodPost, "/admins/{adminId}/tokens"}, {http.MethodPost, "/portals/{portal}/admins/{adminId}/tokens"},
			{http.MethodPost, "/admins/{adminId}/tokens/{tokenId}/rotate"}, {http.MethodPost, "/portals/{portal}/admins/{adminId}/tokens/{tokenId}/rotate"}}},
	{Name: Toggle, ID: "Toggle", Binary: Toggle, TimeoutSeconds: 25, MemoryMB: 128,
		Description: "lmtokens: enable or disable a token",
		Routes:      []Route{{http.MethodPatch, "/admins/{adminId}/tokens/{tokenId}"}, {http.MethodPatch, "/portals/{portal}/admins/{adminId}/tokens/{tokenId}"}}},
	{Name: Delete, ID: "Delete", Binary: Delete, TimeoutSeconds: 25, MemoryMB: 128,
		Description: "lmtokens: delete a token and schedule its secret's deletion",
		Routes:      []Route{{http.MethodDelete, "/admins/{adminId}/tokens/{tokenId}"}, {http.MethodDelete, "/portals/{portal}/admins/{adminId}/tokens/{tokenId}"}}},
	{Name: Provider, ID: "Provider", Binary: Provider, TimeoutSeconds: 60, MemoryMB: 128,
		Description: "lmtokens: the Custom::LogicMonitorApiToken CloudFormation resource"},
	{Name: Rotate, ID: "Rotate", Binary: Rotate, TimeoutSeconds: 60, MemoryMB: 128,
		Description: "lmtokens: Secrets Manager rotation of stored keys and the credentials"},
	{Name: "cleanup-disable", ID: "CleanupDisable", Binary: Toggle, CleanupStage: "disable", TimeoutSeconds: 300, MemoryMB: 256,
		Description: "lmtokens: cleanup stage 1, disable unused tokens"},
	{Name: "cleanup-delete", ID: "CleanupDelete", Binary: Delete, CleanupStage: "delete", TimeoutSeconds: 300, MemoryMB: 256,
		Description: "lmtokens: cleanup stage 2, delete long-disabled tokens"},
}

// Lookup returns the function named name.
func Lookup(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Binaries returns each binary once, in table order.
func Binaries() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range Functions {
		if !seen[f.Binary] {
			seen[f.Binary] = true
			out = append(out, f.Binary)
		}
	}
	return out
}

// RoutesOf returns the routes served by the API function running binary.
func RoutesOf(binary string) []Route {
	for _, f := range Functions {
		if f.Binary == binary && f.CleanupStage == "" {
			return f.Routes
		}
	}
	return nil
}
