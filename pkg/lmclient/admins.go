package lmclient

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

type adminWire struct{ logicmonitor.Admin }

func (a *adminWire) validate() error {
	if a.ID == 0 {
		return errors.New("user response has no id")
	}
	if a.Roles == nil {
		return errors.New("user response has no roles")
	}
	return nil
}

// AdminsService is the user resource of a portal.
type AdminsService struct{ c *Client }

// Get returns one user with its roles.
func (s *AdminsService) Get(ctx context.Context, adminID int64) (*logicmonitor.Admin, error) {
	var w adminWire
	if err := s.c.do(ctx, http.MethodGet, "/setting/admins/"+strconv.FormatInt(adminID, 10), nil, nil, &w); err != nil {
		return nil, err
	}
	return &w.Admin, nil
}
