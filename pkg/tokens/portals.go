package tokens

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/portal"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// portalState is one LogicMonitor portal the functions serve: its
// credentials (cached, re-read after a rejection), where its keys and
// idempotency records go, and its client, whose rate-limit pacer must
// outlive one invocation.
type portalState struct {
	name string // "" for the default portal (LM_CREDENTIALS_SECRET)
	// credentialsSecret is its credentials secret's id.
	credentialsSecret string
	creds             *secrets.CredentialSource
	keys              *secrets.KeyStore
	claims            *secrets.Claims

	mu        sync.Mutex
	client    logicmonitor.Portal
	clientVer string
	// verifiedVer is the credentials version whose named ids (adminId,
	// tokenId) were checked against LogicMonitor.
	verifiedVer string
}

// portalsTTL is how long the list of registered portals is trusted; an
// unknown name is looked up again once the list is older than portalsMiss.
const (
	portalsTTL  = time.Minute
	portalsMiss = 5 * time.Second
)

// registry remembers the registered portals briefly.
type registry struct {
	mu    sync.Mutex
	names []string
	at    time.Time
	state map[string]*portalState
}

// newPortal assembles a portal's state; name "" is the default portal.
func (s *Service) newPortal(api secrets.API, name, secretID string) *portalState {
	prefix := s.cfg.SecretPrefix
	if name != "" {
		prefix += name + "/"
	}
	return &portalState{
		name:              name,
		credentialsSecret: secretID,
		creds:             secrets.NewCredentialSource(api, secretID, s.cfg.CredentialsTTL, s.now),
		keys:              &secrets.KeyStore{API: api, Prefix: prefix, KMSKeyID: s.cfg.KMSKeyID, RecoveryDays: s.cfg.RecoveryDays, Portal: name},
		claims:            &secrets.Claims{API: api, Prefix: prefix},
	}
}

// lookupPortal returns the portal a request names: "" is the default portal;
// another name must be registered (a secret <LM_PORTALS_PREFIX><name>).
func (s *Service) lookupPortal(ctx context.Context, name string) (*portalState, error) {
	if name == "" {
		return s.defaultPortal, nil
	}
	if portal.Reserved(name) {
		return nil, Invalid("portal %q is a name lmtokens reserves (default, idempotency, rotated-out): a portal cannot be registered under it", name)
	}
	if !portal.ValidRegistered(name) {
		return nil, Invalid("portal %q is not a portal name (a lower-case DNS label starting with a letter)", name)
	}
	known, err := s.registered(ctx, name)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf(
			"no portal %q: register it by creating the secret %s%s", name, s.cfg.PortalsPrefix, name)}
	}
	s.portals.mu.Lock()
	defer s.portals.mu.Unlock()
	p := s.portals.state[name]
	if p == nil {
		p = s.newPortal(s.api, name, s.cfg.PortalsPrefix+name)
		s.portals.state[name] = p
	}
	return p, nil
}

// registered reports whether name is a registered portal, from the cached
// list (read again when stale, or on a miss once it is a few seconds old,
// so a portal registered a moment ago is found).
func (s *Service) registered(ctx context.Context, name string) (bool, error) {
	names, at, err := s.portalNames(ctx, false)
	if err != nil {
		return false, err
	}
	if slices.Contains(names, name) {
		return true, nil
	}
	if s.now().Sub(at) < portalsMiss {
		return false, nil
	}
	names, _, err = s.portalNames(ctx, true)
	return slices.Contains(names, name), err
}

// portalNames lists the registered portals (ListSecrets by name prefix),
// cached for portalsTTL unless fresh is asked for.
func (s *Service) portalNames(ctx context.Context, fresh bool) ([]string, time.Time, error) {
	r := &s.portals
	r.mu.Lock()
	defer r.mu.Unlock()
	if !fresh && !r.at.IsZero() && s.now().Sub(r.at) < portalsTTL {
		return r.names, r.at, nil
	}
	names, err := secrets.RegisteredPortals(ctx, s.api, s.cfg.PortalsPrefix)
	if err != nil {
		return nil, r.at, err
	}
	r.names, r.at = names, s.now()
	return names, r.at, nil
}

// lmClient returns the portal's LogicMonitor client for its current
// credentials, building a new one only when the secret's version changed.
func (s *Service) lmClient(ctx context.Context, p *portalState) (logicmonitor.Portal, secrets.Credentials, error) {
	if s.cfgErr != nil {
		return nil, secrets.Credentials{}, &Error{Kind: KindConfiguration, Message: "configuration: " + s.cfgErr.Error()}
	}
	creds, err := p.creds.Get(ctx)
	if err != nil {
		return nil, creds, err
	}
	if p.name != "" && !strings.EqualFold(creds.Company, p.name) {
		return nil, creds, &Error{Kind: KindConfiguration, Message: fmt.Sprintf(
			"configuration: the secret %s%s names company %q: a portal's secret must name its own portal", s.cfg.PortalsPrefix, p.name, creds.Company)}
	}
	p.mu.Lock()
	c, verified := p.client, p.verifiedVer == creds.Version
	if c == nil || p.clientVer != creds.Version {
		var err error
		c, err = s.connect(logicmonitor.Connection{Company: creds.Company, BaseURL: s.baseURL(p, creds), Auth: creds.Auth, Requests: &s.lmRequests})
		if err != nil {
			p.mu.Unlock()
			return nil, creds, &Error{Kind: KindConfiguration, Message: fmt.Sprintf("configuration: the portal of secret %s: %v", p.credentialsSecret, err)}
		}
		p.client, p.clientVer = c, creds.Version
	}
	p.mu.Unlock()
	if !verified && (creds.AdminID != 0 || creds.TokenID != 0) {
		if err := s.verifyNamedIDs(ctx, p, c, creds); err != nil {
			return nil, creds, err
		}
		p.mu.Lock()
		p.verifiedVer = creds.Version
		p.mu.Unlock()
	}
	return c, creds, nil
}

// verifyNamedIDs checks, once per credentials version, that the ids a
// credentials secret names (adminId, tokenId) are its own token's: cleanup
// spares that token and user, and rotation makes and retires tokens for
// them, so a typo would protect the wrong token and endanger another user's.
// LMv1 credentials are checked against their access id; bearer ones must
// name a bearer token that exists for that user (or, with adminId alone, a
// user that exists).
func (s *Service) verifyNamedIDs(ctx context.Context, p *portalState, c logicmonitor.Portal, creds secrets.Credentials) error {
	if creds.AccessID == "" && creds.TokenID == 0 {
		_, err := c.GetAdmin(ctx, creds.AdminID)
		if logicmonitor.IsNotFound(err) {
			return &Error{Kind: KindConfiguration, Message: fmt.Sprintf(`the credentials secret %s names "adminId" %d, but LogicMonitor has no such user`, p.credentialsSecret, creds.AdminID)}
		}
		return err
	}
	_, err := verifyOwnToken(ctx, c, p.credentialsSecret, creds.AccessID, creds.AdminID, creds.TokenID)
	return err
}

// baseURL is the portal's API endpoint ("" for LogicMonitor's own).
func (s *Service) baseURL(p *portalState, creds secrets.Credentials) string {
	if p.name != "" || creds.BaseURL != "" {
		return creds.BaseURL // a named portal never inherits the default portal's endpoint
	}
	return s.cfg.BaseURL
}

// retirements are the portal's rotated-out records.
func (p *portalState) retirements() secrets.Retirements {
	return secrets.Retirements{API: p.keys.API, Prefix: p.keys.Prefix}
}

// withLM runs fn with the portal's client. When LogicMonitor rejects the
// credentials it reads the secret again at once and, if it was rotated,
// runs fn once more: at most two requests for a rejected key.
func (s *Service) withLM(ctx context.Context, p *portalState, fn func(logicmonitor.Portal, secrets.Credentials) error) error {
	c, creds, err := s.lmClient(ctx, p)
	if err != nil {
		return err
	}
	err = fn(c, creds)
	s.lastRate.Store(p)
	if !logicmonitor.IsUnauthorized(err) {
		return err
	}
	p.creds.Invalidate()
	c2, creds2, err2 := s.lmClient(ctx, p)
	if err2 != nil {
		return err2
	}
	if c2 == c {
		return err // the same credentials: retrying would be refused again
	}
	return fn(c2, creds2)
}
