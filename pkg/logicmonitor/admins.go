package logicmonitor

import (
	"bytes"
	"encoding/json"
)

// Admin is a portal user, as far as lmtokens needs to know one.
type Admin struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Roles    Roles  `json:"roles"`
	// Status is "active" or "suspended" ("" when the portal does not say).
	Status string `json:"status,omitempty"`
}

// Role is one of a user's roles.
type Role struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Roles are a user's roles, which a portal sends as objects
// ({"id","name",...}) or as names: both are read.
type Roles []Role

// UnmarshalJSON reads roles as objects or as names.
func (r *Roles) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*r = nil // absent: a check that needs roles fails closed
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := Roles{}
	for _, item := range raw {
		var name string
		if json.Unmarshal(item, &name) == nil {
			out = append(out, Role{Name: name})
			continue
		}
		var role Role
		if err := json.Unmarshal(item, &role); err != nil {
			return err
		}
		out = append(out, role)
	}
	*r = out
	return nil
}

// RoleNames are the role names a token record carries; a portal may send
// them as names or as role objects.
type RoleNames []string

// UnmarshalJSON reads role names, or the names of role objects.
func (r *RoleNames) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "[]" {
		*r = RoleNames{} // a user without roles, as most records of a page are read
		return nil
	}
	var roles Roles
	if err := roles.UnmarshalJSON(b); err != nil || roles == nil {
		*r = nil
		return err
	}
	out := RoleNames{}
	for _, role := range roles {
		out = append(out, role.Name)
	}
	*r = out
	return nil
}
