// Package tokens is lmtokens' domain: it lists, mints, rotates, toggles and
// deletes LogicMonitor API tokens across portals, keeps every new key in its
// own secret, and runs cleanup's stages, so that whatever fails nothing is
// orphaned and no key is lost. It takes typed inputs and returns typed
// results and *Error values of a Kind; the transports in pkg/handlers turn
// invocations into inputs and results and errors into answers.
package tokens

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/posture"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Service holds what the functions share across warm invocations: the
// configuration, the cached credentials and the LogicMonitor client (whose
// rate-limit pacer must outlive one invocation).
type Service struct {
	cfg    Config
	cfgErr error
	log    *slog.Logger
	api    secrets.API
	// connect makes a portal's LogicMonitor client.
	connect logicmonitor.Connector
	events  *lifecycle.Emitter
	// marks keeps cleanup's warning marks (nil: none configured).
	marks cleanup.MarkStore
	// findings receives the disable stage's posture findings, and ledgers
	// remember which it reported (both nil: no findings).
	findings posture.Reporter
	ledgers  posture.LedgerStore

	defaultPortal *portalState
	portals       registry
	// lastRate is the portal whose client answered last, for the log line.
	lastRate atomic.Pointer[portalState]
	// lmRequests counts the requests of every client the service built.
	lmRequests atomic.Int64

	users userCache

	now func() time.Time
}

// Options assemble a Service: its configuration and its ports. SecretsAPI
// and Connect are required unless ConfigErr is set.
type Options struct {
	Config     Config
	ConfigErr  error // a configuration problem to report on every invocation
	SecretsAPI secrets.API
	// Connect makes the LogicMonitor client of a portal (pkg/lmclient's,
	// within the deployment's allowed hosts).
	Connect logicmonitor.Connector
	Logger  *slog.Logger
	// Events receives lifecycle events (nil: none).
	Events *lifecycle.Emitter
	// Marks keeps cleanup's warning marks (nil: none, and a cleanup with
	// warnDays above 0 is refused).
	Marks cleanup.MarkStore
	// Findings imports the disable stage's posture findings into Security
	// Hub, and Ledgers remember which were reported (either nil: none).
	Findings posture.Reporter
	Ledgers  posture.LedgerStore
	// Clock is the time every cache lifetime, cleanup run and event is
	// measured on (nil: time.Now). Tests move it instead of sleeping.
	Clock func() time.Time
}

// New returns a Service. It does no I/O: cold starts stay cheap, and
// problems surface as errors of the first invocation.
func New(o Options) *Service {
	s := &Service{cfg: o.Config, cfgErr: o.ConfigErr, log: o.Logger, connect: o.Connect, api: o.SecretsAPI, events: o.Events, marks: o.Marks, now: o.Clock}
	if o.Findings != nil && o.Ledgers != nil {
		s.findings, s.ledgers = o.Findings, o.Ledgers
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = logging.Default()
	}
	if s.events == nil {
		s.events = &lifecycle.Emitter{}
	}
	switch {
	case s.cfgErr != nil:
	case o.SecretsAPI == nil:
		s.cfgErr = errors.New("no Secrets Manager client")
	case o.Connect == nil:
		s.cfgErr = errors.New("no LogicMonitor client")
	}
	if s.cfg.PortalsPrefix == "" {
		s.cfg.PortalsPrefix = DefaultPortalsPrefix
	}
	s.defaultPortal = s.newPortal(o.SecretsAPI, "", o.Config.CredentialsSecret)
	s.portals.state = map[string]*portalState{}
	return s
}

// CredentialReads counts reads of the credentials secret (for tests and
// benchmarks: warm invocations must not read it again).
func (s *Service) CredentialReads() int { return s.defaultPortal.creds.Reads() }

// Counter starts counting this invocation's LogicMonitor requests, across
// every client it uses (the credentials may rotate mid-invocation). A
// Lambda instance runs one invocation at a time.
func (s *Service) Counter() func() int64 {
	before := s.lmRequests.Load()
	return func() int64 { return s.lmRequests.Load() - before }
}

// Rate returns the rate-limit state of the latest answer of the portal
// used last.
func (s *Service) Rate() logicmonitor.Rate {
	p := s.lastRate.Load()
	if p == nil {
		return logicmonitor.Rate{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return logicmonitor.Rate{}
	}
	return p.client.Rate()
}

// ConfigErr is the configuration problem every invocation reports, if any.
func (s *Service) ConfigErr() error { return s.cfgErr }
