// Package handlers is the logic behind the four Lambda functions (list,
// create, toggle, delete): it reads any invocation shape, validates it
// against the public contract, calls LogicMonitor and Secrets Manager, and
// answers in the shape that arrived. Each functions/<name>/main.go only
// starts Service.Handler(name).
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lmtokens/lmtokens/pkg/catalog"
	"github.com/lmtokens/lmtokens/pkg/logging"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Function names: the binaries of the catalog.
const (
	List   = catalog.List
	Create = catalog.Create
	Toggle = catalog.Toggle
	Delete = catalog.Delete
)

// Service holds what the functions share across warm invocations: the
// configuration, the cached credentials and the LogicMonitor client (whose
// rate-limit pacer must outlive one invocation).
type Service struct {
	cfg    Config
	cfgErr error
	log    *slog.Logger

	creds  *secrets.CredentialSource
	keys   *secrets.KeyStore
	claims *secrets.Claims
	http   *http.Client

	mu        sync.Mutex
	client    *logicmonitor.Client
	clientVer string
	// lmRequests counts the requests of every client the service built.
	lmRequests atomic.Int64

	users userCache

	now func() time.Time
}

// Options assemble a Service. SecretsAPI is required unless ConfigErr is set.
type Options struct {
	Config     Config
	ConfigErr  error // a configuration problem to report on every invocation
	SecretsAPI secrets.API
	Logger     *slog.Logger
	HTTPClient *http.Client // for LogicMonitor; default 25 s per attempt
}

// New returns a Service. It does no I/O: cold starts stay cheap, and
// problems surface as errors of the first invocation.
func New(o Options) *Service {
	s := &Service{cfg: o.Config, cfgErr: o.ConfigErr, log: o.Logger, http: o.HTTPClient, now: time.Now}
	if s.log == nil {
		s.log = logging.Default()
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 25 * time.Second}
	}
	if o.SecretsAPI == nil && s.cfgErr == nil {
		s.cfgErr = errors.New("no Secrets Manager client")
	}
	s.creds = secrets.NewCredentialSource(o.SecretsAPI, o.Config.CredentialsSecret, o.Config.CredentialsTTL)
	s.keys = &secrets.KeyStore{API: o.SecretsAPI, Prefix: o.Config.SecretPrefix, KMSKeyID: o.Config.KMSKeyID, RecoveryDays: o.Config.RecoveryDays}
	s.claims = &secrets.Claims{API: o.SecretsAPI, Prefix: o.Config.SecretPrefix}
	return s
}

// NewFromEnv builds the Service a Lambda function runs, from its environment.
func NewFromEnv() *Service {
	cfg, err := ConfigFromEnv()
	o := Options{Config: cfg, ConfigErr: err}
	if err == nil {
		api, apiErr := secrets.NewClientFromEnv()
		if apiErr != nil {
			o.ConfigErr = apiErr
		} else {
			o.SecretsAPI = api
		}
	}
	return New(o)
}

// CredentialReads counts reads of the credentials secret (for tests and
// benchmarks: warm invocations must not read it again).
func (s *Service) CredentialReads() int { return s.creds.Reads() }

// lmClient returns the LogicMonitor client for the current credentials,
// building a new one only when the secret's version changed.
func (s *Service) lmClient(ctx context.Context) (*logicmonitor.Client, secrets.Credentials, error) {
	if s.cfgErr != nil {
		return nil, secrets.Credentials{}, &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: " + s.cfgErr.Error()}
	}
	creds, err := s.creds.Get(ctx)
	if err != nil {
		return nil, creds, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && s.clientVer == creds.Version {
		return s.client, creds, nil
	}
	c, err := logicmonitor.New(logicmonitor.Options{Company: creds.Company, BaseURL: s.cfg.BaseURL, Auth: creds.Auth, HTTPClient: s.http, UserAgent: "lmtokens/1", RequestCounter: &s.lmRequests})
	if err != nil {
		return nil, creds, &Error{Type: TypeConfiguration, Status: 500, Message: "configuration: " + err.Error()}
	}
	s.client, s.clientVer = c, creds.Version
	return c, creds, nil
}

// withLM runs fn with a LogicMonitor client. When LogicMonitor rejects the
// credentials it reads the secret again at once and, if it was rotated,
// runs fn once more: at most two requests for a rejected key.
func (s *Service) withLM(ctx context.Context, fn func(*logicmonitor.Client, secrets.Credentials) error) error {
	c, creds, err := s.lmClient(ctx)
	if err != nil {
		return err
	}
	err = fn(c, creds)
	if !logicmonitor.IsUnauthorized(err) {
		return err
	}
	s.creds.Invalidate()
	c2, creds2, err2 := s.lmClient(ctx)
	if err2 != nil {
		return err2
	}
	if c2 == c {
		return err // the same credentials: retrying would be refused again
	}
	return fn(c2, creds2)
}

// counter starts counting this invocation's LogicMonitor requests, across
// every client it uses (the credentials may rotate mid-invocation). A
// Lambda instance runs one invocation at a time.
func (s *Service) counter() func() int64 {
	before := s.lmRequests.Load()
	return func() int64 { return s.lmRequests.Load() - before }
}

// rate returns the rate-limit state of the current client's latest answer.
func (s *Service) rate() logicmonitor.Rate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return logicmonitor.Rate{}
	}
	return s.client.Rate()
}
