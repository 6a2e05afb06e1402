package tokens

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// rolesTTL is how long a user's roles are trusted: long enough that a burst
// of creates reads them once, short enough that a promotion counts soon.
const rolesTTL = time.Minute

// userCache remembers users' roles briefly, per portal.
type userCache struct {
	mu    sync.Mutex
	users map[userKey]cachedUser
}

type userKey struct {
	portal  string
	adminID int64
}

type cachedUser struct {
	admin *logicmonitor.Admin
	at    time.Time
}

// guardProtected refuses to mint a key for a protected user: one listed in
// PROTECTED_ADMIN_IDS or holding a role in PROTECTED_ROLES (by default
// administrator). A user's roles cost one request, cached for rolesTTL; if
// they cannot be read nothing is created.
func (s *Service) guardProtected(ctx context.Context, p *portalState, adminID int64) error {
	if slices.Contains(s.cfg.ProtectedAdminIDs, adminID) {
		return &Error{Kind: KindForbidden, Message: fmt.Sprintf(
			"user %d is protected (PROTECTED_ADMIN_IDS): lmtokens does not create tokens for it", adminID)}
	}
	if len(s.cfg.ProtectedRoles) == 0 {
		return nil
	}
	admin, err := s.userRoles(ctx, p, adminID)
	if err != nil {
		return err
	}
	for _, r := range admin.Roles {
		for _, p := range s.cfg.ProtectedRoles {
			if strings.EqualFold(r.Name, p) {
				return &Error{Kind: KindForbidden, Message: fmt.Sprintf(
					"user %d (%s) holds the role %q, which PROTECTED_ROLES protects: lmtokens does not create tokens for it", adminID, admin.Username, r.Name)}
			}
		}
	}
	return nil
}

func (s *Service) userRoles(ctx context.Context, p *portalState, adminID int64) (*logicmonitor.Admin, error) {
	key := userKey{p.name, adminID}
	s.users.mu.Lock()
	if u, ok := s.users.users[key]; ok && s.now().Sub(u.at) < rolesTTL {
		s.users.mu.Unlock()
		return u.admin, nil
	}
	s.users.mu.Unlock()
	var admin *logicmonitor.Admin
	err := s.withLM(ctx, p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
		a, err := c.GetAdmin(ctx, adminID)
		admin = a
		return err
	})
	if err != nil {
		if logicmonitor.IsNotFound(err) {
			return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf("LogicMonitor has no user %d", adminID)}
		}
		return nil, err
	}
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	if s.users.users == nil {
		s.users.users = map[userKey]cachedUser{}
	}
	s.users.users[key] = cachedUser{admin, s.now()}
	return admin, nil
}
