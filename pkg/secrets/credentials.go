package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/portal"
	"github.com/lmtokens/lmtokens/pkg/settings"
	"github.com/lmtokens/lmtokens/pkg/strictjson"
)

// ConfigError says the functions' own configuration is unusable: the
// credentials secret is missing, unreadable or malformed. It names the
// secret and the cause, never the secret's value.
type ConfigError struct {
	Secret string
	Reason string
	Err    error
}

func (e *ConfigError) Error() string {
	s := "credentials secret " + e.Secret + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// UnavailableError says Secrets Manager could not be reached or failed.
type UnavailableError struct {
	Op  string
	Err error
}

func (e *UnavailableError) Error() string { return awsMessage(e.Op, e.Err) }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Credentials are the functions' own LogicMonitor credentials.
type Credentials struct {
	Company string
	Auth    lmauth.Authenticator
	// AccessID is the LMv1 access id ("" for bearer credentials).
	AccessID string
	// AdminID and TokenID optionally name the credentials' own user and
	// token, so that cleanup recognises it also with bearer credentials.
	AdminID, TokenID int64
	// BaseURL, when set, replaces https://<company>.logicmonitor.com/santaba/rest
	// for this portal (a private endpoint).
	BaseURL string
	// Cleanup is the portal's own cleanup overrides, a {"cleanup": ...}
	// object that may only narrow the deployment's policy.
	Cleanup json.RawMessage
	// MaxLifetimeDays caps the lifetime of the portal's new tokens (0:
	// the deployment's cap alone).
	MaxLifetimeDays int
	// Version is the secret version they were read from.
	Version string
}

// credentialsDoc is the JSON of the credentials secret.
type credentialsDoc struct {
	Company     string          `json:"company"`
	AccessID    string          `json:"accessId"`
	AccessKey   string          `json:"accessKey"`
	BearerToken string          `json:"bearerToken"`
	AdminID     int64           `json:"adminId"`
	TokenID     int64           `json:"tokenId"`
	BaseURL     string          `json:"baseUrl"`
	Cleanup     json.RawMessage `json:"cleanup"`
	// MaxLifetimeDays may only shorten the deployment's cap.
	MaxLifetimeDays int `json:"maxLifetimeDays"`
}

// ParseCredentials reads a credentials secret's JSON: {"company","accessId",
// "accessKey"} or {"company","bearerToken"}. Errors never quote the value.
func ParseCredentials(value string) (Credentials, error) {
	var d credentialsDoc
	if err := strictjson.Decode([]byte(strings.TrimSpace(value)), &d); err != nil {
		var ute *json.UnmarshalTypeError
		var se *strictjson.Error
		switch {
		case errors.As(err, &ute):
			return Credentials{}, fmt.Errorf("field %q has the wrong type", ute.Field)
		case errors.As(err, &se) && se.Field != "":
			// Never quote the value; the field name is safe to show.
			return Credentials{}, fmt.Errorf("%s (want company, accessId and accessKey, or company and bearerToken; optionally adminId, tokenId, baseUrl, cleanup and maxLifetimeDays)", se.Msg)
		}
		return Credentials{}, errors.New("value is not a JSON object")
	}
	if !portal.ValidName(d.Company) {
		return Credentials{}, errors.New(`"company" must be the portal name, a DNS label (letters, digits, hyphens)`)
	}
	if d.AdminID < 0 || d.TokenID < 0 || (d.TokenID != 0 && d.AdminID == 0) {
		return Credentials{}, errors.New(`"adminId" and "tokenId" must be positive ids, and "tokenId" needs "adminId"`)
	}
	if d.MaxLifetimeDays < 0 || d.MaxLifetimeDays > settings.MaxLifetimeDays.Max {
		return Credentials{}, fmt.Errorf(`"maxLifetimeDays" must be from 1 to %d days (0 or absent: the deployment's cap)`, settings.MaxLifetimeDays.Max)
	}
	c := Credentials{Company: d.Company, AdminID: d.AdminID, TokenID: d.TokenID, BaseURL: d.BaseURL, Cleanup: d.Cleanup, MaxLifetimeDays: d.MaxLifetimeDays}
	switch {
	case d.BearerToken != "" && d.AccessID == "" && d.AccessKey == "":
		b, err := lmauth.NewBearer(d.BearerToken)
		if err != nil {
			return Credentials{}, err
		}
		c.Auth = b
	case d.BearerToken == "" && d.AccessID != "" && d.AccessKey != "":
		s, err := lmauth.NewLMv1(d.AccessID, d.AccessKey)
		if err != nil {
			return Credentials{}, err
		}
		c.Auth, c.AccessID = s, d.AccessID
	default:
		return Credentials{}, errors.New(`needs "accessId" and "accessKey", or "bearerToken" alone`)
	}
	return c, nil
}

// CredentialSource reads the credentials secret once and serves it from
// memory until TTL has passed (so a rotated secret is picked up), or at once
// after Invalidate (LogicMonitor rejected the credentials).
type CredentialSource struct {
	api      API
	secretID string
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	cached  *Credentials
	fetched time.Time
	reads   int
}

// NewCredentialSource returns a source for secretID; ttl defaults to 5
// minutes, now (the clock its TTL is measured on) to time.Now.
func NewCredentialSource(api API, secretID string, ttl time.Duration, now func() time.Time) *CredentialSource {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &CredentialSource{api: api, secretID: secretID, ttl: ttl, now: now}
}

// Reads counts how many times the secret was read from Secrets Manager.
func (s *CredentialSource) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// Get returns the credentials, reading the secret only when the cached copy
// is missing, stale or invalidated.
func (s *CredentialSource) Get(ctx context.Context) (Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && s.now().Sub(s.fetched) < s.ttl {
		return *s.cached, nil
	}
	if s.secretID == "" {
		return Credentials{}, &ConfigError{Secret: "(unset)", Reason: "LM_CREDENTIALS_SECRET is not set"}
	}
	s.reads++
	out, err := s.api.GetSecretValue(ctx, GetInput{SecretID: s.secretID})
	if err != nil {
		code, _ := serviceCode(err)
		switch {
		case code == CodeNotFound:
			return Credentials{}, &ConfigError{Secret: s.secretID, Reason: "does not exist", Err: err}
		case code == CodeInvalidRequest:
			return Credentials{}, &ConfigError{Secret: s.secretID, Reason: "cannot be read (scheduled for deletion?)", Err: err}
		case isAccessDenied(err):
			return Credentials{}, &ConfigError{Secret: s.secretID, Reason: "access denied", Err: err}
		}
		return Credentials{}, &UnavailableError{Op: "GetSecretValue " + s.secretID, Err: err}
	}
	if out.String == nil {
		return Credentials{}, &ConfigError{Secret: s.secretID, Reason: "has no SecretString (binary secrets are not supported)"}
	}
	c, err := ParseCredentials(*out.String)
	if err != nil {
		return Credentials{}, &ConfigError{Secret: s.secretID, Reason: "is malformed", Err: err}
	}
	c.Version = out.VersionID
	s.cached, s.fetched = &c, s.now()
	return c, nil
}

// Invalidate forgets the cached credentials; the next Get reads the secret.
func (s *CredentialSource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cached = nil
}

func isAccessDenied(err error) bool {
	code, _ := serviceCode(err)
	return code == "AccessDeniedException" || code == "AccessDenied"
}
