package lmsandbox

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
)

// Variance mode serves what LogicMonitor's documentation leaves open in
// its other plausible forms, so that tests meet more than one guess:
//
//   - a token record's type is "api", "API Token" or absent for an LMv1
//     token, and "bearer", "Bearer" or absent for a bearer token (the
//     published schema has no type on records);
//   - records carry fields lmtokens does not know;
//   - token records give roles as role objects, users give them as names
//     (the other way round from the default);
//   - the fields of each record come in a shuffled order.
//
// The choice for a token is fixed by its id, so a run is reproducible.
// LMSANDBOX_VARIANCE=1 in the environment turns it on for every portal a
// process makes (CI runs the binary suites once without, once with).

// VarianceFromEnv reports whether LMSANDBOX_VARIANCE asks for variance.
func VarianceFromEnv() bool { return os.Getenv("LMSANDBOX_VARIANCE") == "1" }

// varyType is the type field a record shows in variance mode ("" for none).
func varyType(t *Token) (string, bool) {
	forms := []string{"api", "API Token", ""}
	if t.Type == "bearer" {
		forms = []string{"bearer", "Bearer", ""}
	}
	v := forms[t.ID%3]
	return v, v != ""
}

// varyRoles is a token record's roles as role objects.
func varyRoles(names []string) []map[string]any {
	out := []map[string]any{}
	for i, n := range names {
		out = append(out, map[string]any{"id": i + 1, "name": n, "description": "role " + n})
	}
	return out
}

// unknownFields are fields a newer portal may add to records.
var unknownFields = map[string]any{"_links": map[string]any{"self": "/setting/admins/apitokens"}, "apiTokenScope": nil, "portalVersion": "212.100"}

// ordered is a JSON object whose keys are written in a given order.
type ordered struct {
	keys []string
	m    map[string]any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.m[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// render is a token's record as the portal sends it: fields chosen (and
// extra ones set, the create answer's key), in variance mode varied as
// above.
func (p *Portal) render(t *Token, fields []string, extra map[string]any) any {
	if !p.cfg.Variance && extra == nil && len(p.stripped[t.ID]) == 0 && slices.Equal(fields, tokenFields) {
		return p.fullView(t) // the common case, without a map per record
	}
	m := p.fieldsOf(t, fields)
	for k, v := range extra {
		m[k] = v
	}
	if !p.cfg.Variance {
		return m
	}
	if _, ok := m["type"]; ok {
		if v, ok := varyType(t); ok {
			m["type"] = v
		} else {
			delete(m, "type")
		}
	}
	if roles, ok := m["roles"].([]string); ok {
		m["roles"] = varyRoles(roles)
	}
	for k, v := range unknownFields {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	r := rand.New(rand.NewPCG(uint64(t.ID), 7))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return ordered{keys: keys, m: m}
}

// tokenView is a record with every field, as fieldsOf would give it.
type tokenView struct {
	AccessID       string   `json:"accessId"`
	AdminID        int64    `json:"adminId"`
	AdminName      string   `json:"adminName"`
	CreatedBy      string   `json:"createdBy"`
	CreatedOn      int64    `json:"createdOn"`
	ID             int64    `json:"id"`
	LastAuthIP     string   `json:"lastAuthIp"`
	LastUsedOn     int64    `json:"lastUsedOn"`
	Note           string   `json:"note"`
	Roles          []string `json:"roles"`
	Status         int      `json:"status"`
	Type           string   `json:"type"`
	UserPermission string   `json:"userPermission"`
}

func (p *Portal) fullView(t *Token) tokenView {
	v := tokenView{AccessID: t.AccessID, AdminID: t.AdminID, CreatedBy: t.CreatedBy, CreatedOn: t.CreatedOn, ID: t.ID, LastAuthIP: t.LastAuthIP,
		LastUsedOn: t.LastUsedOn, Note: t.Note, Roles: []string{}, Status: t.Status, Type: t.Type, UserPermission: "write"}
	if a := p.admins[t.AdminID]; a != nil {
		v.AdminName = a.Username
		if a.Roles != nil {
			v.Roles = a.Roles
		}
	}
	if p.readOnlyCaller {
		v.UserPermission = "read"
	}
	return v
}
