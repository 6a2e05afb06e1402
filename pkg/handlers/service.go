// Package handlers holds lmtokens' transports: the Lambda handlers that turn
// an invocation (an API Gateway request, a direct or EventBridge
// invocation, a scheduled cleanup, a CloudFormation custom-resource event,
// a Secrets Manager rotation step) into a typed input of the domain
// (pkg/tokens), and its result or error into the answer of the shape that
// arrived. Only this package knows HTTP statuses and wire shapes; errorTable
// is the one place they are mapped from the domain's kinds of failure.
// Each functions/<name>/main.go only starts Service.Handler(name) (or
// Provider, or Rotator).
package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/awsevents"
	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/posture"
	"github.com/lmtokens/lmtokens/pkg/secrets"
	"github.com/lmtokens/lmtokens/pkg/securityhub"
	"github.com/lmtokens/lmtokens/pkg/settings"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Function names: the binaries of the catalog.
const (
	List   = catalog.List
	Create = catalog.Create
	Toggle = catalog.Toggle
	Delete = catalog.Delete
)

// Options assemble a Service: its configuration and the adapters behind
// the domain's ports. New connects LogicMonitor through pkg/lmclient.
type Options struct {
	Config     tokens.Config
	ConfigErr  error // a configuration problem to report on every invocation
	SecretsAPI secrets.API
	Logger     *slog.Logger
	// HTTPClient reaches LogicMonitor and CloudFormation's response URLs
	// (default: 25 s per attempt).
	HTTPClient *http.Client
	// Events receives lifecycle events (nil: none).
	Events *lifecycle.Emitter
	// Marks keeps cleanup's warning marks (nil: none).
	Marks cleanup.MarkStore
	// Findings imports the disable stage's posture findings, and Ledgers
	// remember which it reported (either nil: no findings).
	Findings posture.Reporter
	Ledgers  posture.LedgerStore
	// Clock is the time of every cache, run and event (nil: time.Now).
	Clock func() time.Time
}

// Service serves invocations with the domain service it holds across warm
// invocations.
type Service struct {
	domain *tokens.Service
	cfg    tokens.Config
	log    *slog.Logger
	// cfnHTTP answers CloudFormation (nil: a default client).
	cfnHTTP *http.Client
}

// New returns a Service. It does no I/O: cold starts stay cheap, and
// problems surface as errors of the first invocation.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = logging.Default()
	}
	lm := o.HTTPClient
	if lm == nil {
		lm = &http.Client{Timeout: 25 * time.Second, Transport: portalTransport()}
	}
	domain := tokens.New(tokens.Options{
		Config: o.Config, ConfigErr: o.ConfigErr, SecretsAPI: o.SecretsAPI, Logger: o.Logger, Events: o.Events, Marks: o.Marks, Clock: o.Clock,
		Findings: o.Findings, Ledgers: o.Ledgers,
		Connect: lmclient.Connector(lmclient.Options{HTTPClient: lm, UserAgent: "lmtokens/1",
			AllowedHosts: o.Config.AllowedHosts, AllowHTTPLoopback: o.Config.AllowHTTPLoopback}),
	})
	return &Service{domain: domain, cfg: o.Config, log: o.Logger, cfnHTTP: o.HTTPClient}
}

// NewFromEnv builds the Service a Lambda function runs, from its
// environment: the composition root every function's main shares.
func NewFromEnv() *Service {
	tuneGC()
	cfg, err := tokens.ConfigFromEnv()
	o := Options{Config: cfg, ConfigErr: err, Logger: logging.Default()}
	if err == nil {
		env, envErr := awsenv.Load()
		if envErr != nil {
			o.ConfigErr = envErr
		} else {
			o.SecretsAPI = awssecrets.New(awssecrets.NewClient(env))
			o.Events = awsevents.EmitterFromEnv(env, o.Logger)
			table := marktable.FromEnv(env)
			if table != nil {
				o.Marks, o.Ledgers = table, table
			}
			hub, err := securityhub.FromEnv(env)
			switch {
			case err != nil:
				o.ConfigErr = err
			case hub != nil && table == nil:
				o.ConfigErr = fmt.Errorf("%s is set but %s is not: the posture findings need the marks table to remember what they reported", settings.SecurityHubProduct.Env, settings.CleanupMarksTable.Env)
			case hub != nil:
				o.Findings = hub
			}
		}
	}
	return New(o)
}

// CredentialReads counts reads of the credentials secret (for tests and
// benchmarks: warm invocations must not read it again).
func (s *Service) CredentialReads() int { return s.domain.CredentialReads() }

// portalTransport keeps connections to every portal a run talks to: Go's
// default keeps 2 idle connections a host and 100 in all, so a cleanup
// over many portals, each with several requests in flight, would dial
// again for most of its requests.
func portalTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no bound across hosts; each host's is below
	t.MaxIdleConnsPerHost = 8
	t.IdleConnTimeout = 30 * time.Second
	return t
}

// tuneGC sizes the garbage collector to the function's memory: it collects
// half as often as Go's default (GOGC 200) while far below that memory, and
// harder as the heap nears 80% of it (a soft memory limit), so that a run
// over many portals does not spend a tenth of its CPU collecting a heap a
// third of its memory. GOGC or GOMEMLIMIT set in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	mb, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if err != nil || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(mb) << 20 / 10 * 8)
	debug.SetGCPercent(200)
}
