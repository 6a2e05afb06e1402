package logicmonitor

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// Admin is a portal user, as far as lmtokens needs to know one.
type Admin struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Roles    []Role `json:"roles"`
}

// Role is one of a user's roles.
type Role struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type adminWire struct{ Admin }

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
func (s *AdminsService) Get(ctx context.Context, adminID int64) (*Admin, error) {
	var w adminWire
	if err := s.c.do(ctx, http.MethodGet, "/setting/admins/"+strconv.FormatInt(adminID, 10), nil, nil, &w); err != nil {
		return nil, err
	}
	return &w.Admin, nil
}
