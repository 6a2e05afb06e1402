// Package localdev runs lmtokens on one machine with no AWS or LogicMonitor
// account: the LogicMonitor sandbox (seeded with users and tokens of various
// ages), the local Secrets Manager server holding the functions'
// credentials, and the real function binaries behind a local Lambda Runtime
// API. `make invoke`, `make demo` and `make local` are built on it.
package localdev

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/local/lambdaruntime"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
	"github.com/lmtokens/lmtokens/pkg/local/localevents"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/local/localsecurityhub"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/securityhub"
)

// DefaultSeed is the sandbox's starting portal: three users, a service
// token, and tokens fresh, stale, never used, disabled and bearer.
//
//go:embed seed.json
var DefaultSeed []byte

// LocalBus is the event bus of a local run.
const LocalBus = "lmtokens-local"

// CredentialsSecret is the name of the functions' credentials secret in the
// local Secrets Manager.
const CredentialsSecret = "lmtokens/local/credentials"

// Stack is a running local lmtokens.
type Stack struct {
	// Portal is nil when the stack talks to a real portal.
	Portal *lmsandbox.Portal
	// PortalURL is the sandbox's REST base URL.
	PortalURL string
	// Globex is a second portal, registered as lmtokens/portals/globex.
	Globex *lmsandbox.Portal
	// Secrets is nil when the stack uses the real Secrets Manager.
	Secrets *localsecrets.Server
	// Events is the local EventBridge the functions put their events on.
	Events *localevents.Server
	// Marks is the local DynamoDB holding the warnings' marks table.
	Marks *localdynamo.Server
	// Hub is the local Security Hub the disable stage imports its posture
	// findings to.
	Hub *localsecurityhub.Server

	env       []string
	binDir    string
	cfn       *cfnReceiver
	logs      io.Writer
	servers   []*http.Server
	mu        sync.Mutex
	functions map[string]*lambdaruntime.Function
}

// Options start a stack.
type Options struct {
	// BinDir holds <fn>/bootstrap binaries built for this machine.
	BinDir string
	// Seed replaces DefaultSeed.
	Seed []byte
	// Logs receives the functions' log lines (default: discarded).
	Logs io.Writer
	// Real uses the caller's AWS environment and LM_CREDENTIALS_SECRET
	// instead of the sandbox and the local Secrets Manager.
	Real bool
	// Env is added to every function's environment.
	Env []string
	// SandboxConfig shapes the sandbox (latency, rate limits).
	SandboxConfig lmsandbox.Config
	// SinglePortal leaves out the second portal, globex.
	SinglePortal bool
	// OnEvent sees every event the functions put on the local EventBridge.
	OnEvent func(localevents.Event)
}

// Start brings up the sandbox and local Secrets Manager (unless Real) and
// prepares to start functions from BinDir.
func Start(o Options) (*Stack, error) {
	s := &Stack{binDir: o.BinDir, logs: o.Logs, functions: map[string]*lambdaruntime.Function{}, cfn: &cfnReceiver{got: map[string]json.RawMessage{}}}
	if s.logs == nil {
		s.logs = io.Discard
	}
	for _, fn := range catalog.Binaries() {
		if _, err := os.Stat(filepath.Join(o.BinDir, fn, "bootstrap")); err != nil {
			return nil, fmt.Errorf("no %s binary in %s: build them first (make build-local)", fn, o.BinDir)
		}
	}
	if o.Real {
		if os.Getenv("LM_CREDENTIALS_SECRET") == "" {
			return nil, errors.New("LM_CREDENTIALS_SECRET must name the credentials secret to use a real portal")
		}
		s.env = append(realAWSEnv(), o.Env...)
		return s, nil
	}
	seed := o.Seed
	if seed == nil {
		seed = DefaultSeed
	}
	s.Portal = lmsandbox.New(o.SandboxConfig)
	parsed, err := s.Portal.LoadSeed(bytes.NewReader(seed))
	if err != nil {
		return nil, err
	}
	url, err := s.serve(s.Portal)
	if err != nil {
		return nil, err
	}
	s.PortalURL = url + lmsandbox.RestPrefix
	s.Secrets = localsecrets.New()
	smURL, err := s.serve(s.Secrets)
	if err != nil {
		s.Close()
		return nil, err
	}
	var service *lmsandbox.Token
	for _, t := range s.Portal.Tokens() {
		if t.AccessID == parsed.ServiceAccessID {
			service = &t
			break
		}
	}
	if service == nil {
		s.Close()
		return nil, fmt.Errorf("the seed names service token %q, but has no such token", parsed.ServiceAccessID)
	}
	s.Secrets.Put(CredentialsSecret, fmt.Sprintf(`{"company":"sandbox","accessId":%q,"accessKey":%q}`, service.AccessID, service.AccessKey))
	s.storeSeededKey()
	if !o.SinglePortal {
		if err := s.registerGlobex(o.SandboxConfig); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.Events = localevents.Start()
	s.Events.OnEvent = o.OnEvent
	s.Marks = StartMarks(LocalMarksTable)
	s.Hub = localsecurityhub.Start(LocalAccount, localsecrets.Region)
	// Secrets Manager invokes the rotation function step by step, as AWS
	// does; rotated-out tokens retire seconds after a local rotation.
	s.Secrets.Rotator = s.rotate
	s.env = append([]string{
		"ROTATION_FUNCTION_ARN=" + RotationFunctionARN, "ROTATION_GRACE=" + LocalRotationGrace.String(), "ROTATION_DELETE_AFTER=" + LocalRotationGrace.String(),
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + s.Events.URL, "EVENT_BUS_NAME=" + LocalBus,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.Marks.URL, "CLEANUP_MARKS_TABLE=" + LocalMarksTable,
		"AWS_ENDPOINT_URL_SECURITYHUB=" + s.Hub.URL, "SECURITY_HUB_PRODUCT_ARN=" + securityhub.DefaultProductArn(localsecrets.Region, LocalAccount),
		"LM_CREDENTIALS_SECRET=" + CredentialsSecret,
		"LM_BASE_URL=" + s.PortalURL, "LM_ALLOW_HTTP_LOOPBACK=true", // the sandbox is plain http on 127.0.0.1
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + smURL,
		"AWS_REGION=" + localsecrets.Region,
		"AWS_ACCESS_KEY_ID=AKIDLOCALSANDBOX",
		"AWS_SECRET_ACCESS_KEY=local-sandbox-not-a-secret",
		"AWS_SESSION_TOKEN=",
	}, o.Env...)
	return s, nil
}

// RotationFunctionARN names the rotate function in a local run, and
// LocalRotationGrace is how long a rotated-out token stays enabled there
// (and then disabled before it is deleted).
const (
	// LocalAccount is the account of a local run.
	LocalAccount        = "000000000000"
	RotationFunctionARN = "arn:aws:lambda:" + localsecrets.Region + ":" + LocalAccount + ":function:lmtokens-rotate"
	LocalRotationGrace  = 2 * time.Second
)

// rotate runs one rotation step through the rotate function, as Secrets
// Manager invokes it.
func (s *Stack) rotate(ctx context.Context, lambdaARN string, step localsecrets.RotationStep) error {
	if lambdaARN != RotationFunctionARN {
		return fmt.Errorf("no function %s", lambdaARN)
	}
	raw, _ := json.Marshal(step)
	res, err := s.Invoke(ctx, catalog.Rotate, raw)
	if err != nil {
		return err
	}
	if res.Failed() {
		return fmt.Errorf("%s: %s", res.ErrorType, res.ErrorMessage)
	}
	return nil
}

// storeSeededKey stores the key of user 2's first token the way create
// stores a key, as if lmtokens had made it: the seed then has a key to
// rotate (events/create-rotate-*.json).
func (s *Stack) storeSeededKey() {
	for _, t := range s.Portal.Tokens() {
		if t.AdminID != 2 || t.Type != "lmv1" {
			continue
		}
		key, _ := json.Marshal(secrets.StoredKey{Company: "sandbox", AccessID: t.AccessID, AccessKey: t.AccessKey, AdminID: t.AdminID,
			TokenID: t.ID, Type: t.Type, Note: t.Note, CreatedOn: t.CreatedOn, CreatedBy: "seed"})
		s.Secrets.PutTagged(fmt.Sprintf("%s%d/%d", secrets.DefaultPrefix, t.AdminID, t.ID), string(key), map[string]string{
			secrets.TagManagedBy: secrets.ManagedBy, secrets.TagAdminID: fmt.Sprint(t.AdminID), secrets.TagTokenID: fmt.Sprint(t.ID),
			secrets.TagAccessID: t.AccessID, secrets.TagType: t.Type, secrets.TagCreatedBy: "seed"})
		return
	}
}

// serve starts h on a loopback port and returns its base URL.
func (s *Stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Function returns the running function fn (a catalog name), starting it
// (a cold start) the first time.
func (s *Stack) Function(ctx context.Context, fn string) (*lambdaruntime.Function, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.functions[fn]; f != nil {
		return f, nil
	}
	def, ok := catalog.Lookup(fn)
	if !ok {
		return nil, fmt.Errorf("no function %q", fn)
	}
	env := append([]string(nil), s.env...)
	for k, v := range def.Env() {
		env = append(env, k+"="+v)
	}
	f, err := lambdaruntime.Start(lambdaruntime.Options{
		Name: "lmtokens-" + fn, Binary: filepath.Join(s.binDir, def.Binary, "bootstrap"),
		Env: env, Stdout: s.logs, Stderr: s.logs, Timeout: time.Duration(def.TimeoutSeconds) * time.Second, Memory: int(def.MemoryMB),
	})
	if err != nil {
		return nil, err
	}
	if _, err := f.Ready(ctx); err != nil {
		f.Close()
		return nil, err
	}
	s.functions[fn] = f
	return f, nil
}

// Invoke sends one event to function fn. A CloudFormation event's
// ResponseURL is pointed at a local receiver (see CFNAnswer).
func (s *Stack) Invoke(ctx context.Context, fn string, event []byte) (lambdaruntime.Result, error) {
	f, err := s.Function(ctx, fn)
	if err != nil {
		return lambdaruntime.Result{}, err
	}
	if s.cfn.url == "" {
		if s.cfn.url, err = s.serve(s.cfn); err != nil {
			return lambdaruntime.Result{}, err
		}
	}
	event, _ = s.cfn.rewrite(event)
	if fn == catalog.Rotate && s.Secrets != nil {
		// A createSecret event sent by hand: set up the pending version
		// Secrets Manager would have made before invoking the function.
		var step localsecrets.RotationStep
		if json.Unmarshal(event, &step) == nil && step.Step == "createSecret" {
			_ = s.Secrets.Pend(step.SecretID, RotationFunctionARN, step.ClientRequestToken, step.RotationToken)
		}
	}
	return f.Invoke(ctx, event)
}

// Close stops the functions and servers.
func (s *Stack) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.functions {
		f.Close()
	}
	s.functions = map[string]*lambdaruntime.Function{}
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	if s.Events != nil {
		s.Events.Close()
	}
	if s.Marks != nil {
		s.Marks.Close()
	}
	if s.Hub != nil {
		s.Hub.Close()
	}
}

// FunctionForEvent infers the function from an event file's name: the
// catalog's function whose name starts it (list-*, create-*, toggle-*,
// delete-*, cleanup-disable-*, cleanup-delete-*).
func FunctionForEvent(path string) string {
	base := filepath.Base(path)
	best := ""
	for _, f := range catalog.Functions {
		if (strings.HasPrefix(base, f.Name+"-") || strings.HasPrefix(base, f.Name+".")) && len(f.Name) > len(best) {
			best = f.Name
		}
	}
	return best
}

// registerGlobex serves a second portal, "globex", with a user and a few
// tokens, registered as lmtokens/portals/globex.
func (s *Stack) registerGlobex(cfg lmsandbox.Config) error {
	p, err := s.AddPortal("globex", cfg)
	if err != nil {
		return err
	}
	s.Globex = p
	p.AddAdmin(lmsandbox.Admin{ID: 7, Username: "deploy@globex.example"})
	for _, spec := range []lmsandbox.TokenSpec{
		{AdminID: 7, Note: "globex deploys", CreatedDaysAgo: 30, LastUsedDaysAgo: 1},
		{AdminID: 7, Note: "old globex laptop", CreatedDaysAgo: 400, LastUsedDaysAgo: 200},
	} {
		if _, err := p.AddToken(spec); err != nil {
			return err
		}
	}
	return nil
}

// AddPortal serves another sandbox portal for company, with its service
// user (1, an administrator) and token, and registers it the way an
// operator would: a secret under the portals prefix naming its company,
// credentials and endpoint.
func (s *Stack) AddPortal(company string, cfg lmsandbox.Config) (*lmsandbox.Portal, error) {
	p := lmsandbox.New(cfg)
	p.AddAdmin(lmsandbox.Admin{ID: 1, Username: "lmtokens@" + company + ".example", Roles: []string{"administrator"}})
	service, err := p.AddToken(lmsandbox.TokenSpec{AdminID: 1, Note: "lmtokens service"})
	if err != nil {
		return nil, err
	}
	url, err := s.serve(p)
	if err != nil {
		return nil, err
	}
	s.Secrets.Put("lmtokens/portals/"+company, fmt.Sprintf(`{"company":%q,"accessId":%q,"accessKey":%q,"baseUrl":%q}`,
		company, service.AccessID, service.AccessKey, url+lmsandbox.RestPrefix))
	return p, nil
}

// Env is the functions' environment in this stack (the settings and the
// local services' endpoints), KEY=VALUE.
func (s *Stack) Env() []string { return append([]string(nil), s.env...) }
