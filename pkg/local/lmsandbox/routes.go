package lmsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// route serves an authenticated request. It must be called with p.mu held.
func (p *Portal) route(r *http.Request, resource string, body []byte, authID string) (int, any) {
	seg := strings.Split(strings.Trim(resource, "/"), "/")
	if len(seg) < 3 || seg[0] != "setting" || seg[1] != "admins" {
		return 404, apiError{404, "no such resource"}
	}
	// A user whose role is read-only sees tokens it may not change.
	p.readOnlyCaller = p.readOnly(authID)
	if p.readOnlyCaller && r.Method != http.MethodGet {
		return 403, apiError{403, "Permission denied: the user's role may only read API tokens"}
	}
	q := r.URL.Query()
	switch {
	case len(seg) == 3 && seg[2] == "apitokens" && r.Method == http.MethodGet:
		return p.list(0, q)
	case len(seg) == 3 && r.Method == http.MethodGet:
		adminID, err := strconv.ParseInt(seg[2], 10, 64)
		if err != nil {
			return 400, apiError{400, "adminId must be a number"}
		}
		a, ok := p.admins[adminID]
		if !ok {
			return 404, apiError{404, fmt.Sprintf("User(id=%d) not found", adminID)}
		}
		var roles any = varyRoles(a.Roles)
		if p.cfg.Variance {
			roles = append([]string{}, a.Roles...) // names, not objects
		}
		status := a.Status
		if status == "" {
			status = "active"
		}
		return 200, map[string]any{"id": a.ID, "username": a.Username, "roles": roles, "status": status}
	case len(seg) == 4 && seg[3] == "apitokens":
		adminID, err := strconv.ParseInt(seg[2], 10, 64)
		if err != nil {
			return 400, apiError{400, "adminId must be a number"}
		}
		if _, ok := p.admins[adminID]; !ok {
			return 404, apiError{404, fmt.Sprintf("User(id=%d) not found", adminID)}
		}
		switch r.Method {
		case http.MethodGet:
			return p.list(adminID, q)
		case http.MethodPost:
			return p.create(adminID, q.Get("type"), body, authID)
		}
	case len(seg) == 5 && seg[3] == "apitokens":
		adminID, err1 := strconv.ParseInt(seg[2], 10, 64)
		tokenID, err2 := strconv.ParseInt(seg[4], 10, 64)
		if err1 != nil || err2 != nil {
			return 400, apiError{400, "ids must be numbers"}
		}
		if _, ok := p.admins[adminID]; !ok {
			return 404, apiError{404, fmt.Sprintf("User(id=%d) not found", adminID)}
		}
		t, ok := p.tokens[tokenID]
		if !ok || t.AdminID != adminID {
			return 404, apiError{404, fmt.Sprintf("ApiToken(id=%d) not found", tokenID)}
		}
		switch r.Method {
		case http.MethodPut, http.MethodPatch:
			return p.update(t, body, r.Method == http.MethodPut)
		case http.MethodDelete:
			delete(p.tokens, tokenID)
			return 200, map[string]any{}
		}
	}
	return 405, apiError{405, "method not allowed"}
}

// tokenFields are the fields of a token as LogicMonitor shows it.
var tokenFields = []string{"id", "adminId", "adminName", "roles", "accessId", "status", "note",
	"createdOn", "lastUsedOn", "createdBy", "userPermission", "lastAuthIp", "type"}

// fieldsOf is the part of a token's view that names holds.
func (p *Portal) fieldsOf(t *Token, names []string) map[string]any {
	return p.fieldsInto(make(map[string]any, len(names)), t, names)
}

// fieldsInto is fieldsOf into a map that is cleared first, so that a
// listing reuses one map over thousands of tokens.
func (p *Portal) fieldsInto(out map[string]any, t *Token, names []string) map[string]any {
	clear(out)
	for _, n := range names {
		if v, ok := p.field(t, n); ok {
			out[n] = v
		}
	}
	return out
}

// candidates are the tokens a filter can match: those it names by id when
// it asks for ids (as re-reads before changes do), else all. A token whose
// id is stripped from its records ignores the condition, so the shortcut
// is taken only when no record is stripped.
func (p *Portal) candidates(f filter) map[int64]*Token {
	if len(f) != 1 || len(p.stripped) != 0 {
		return p.tokens
	}
	for _, c := range f[0] {
		if c.field != "id" || c.op != ":" {
			continue
		}
		out := map[int64]*Token{}
		for _, v := range c.values {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return p.tokens // a wildcard or a name: judged by the scan
			}
			if t, ok := p.tokens[id]; ok {
				out[id] = t
			}
		}
		return out
	}
	return p.tokens
}

// field is one field of a token's view; false for a field the view does
// not have, or one the sandbox was told to strip from this token.
func (p *Portal) field(t *Token, name string) (any, bool) {
	if slices.Contains(p.stripped[t.ID], name) {
		return nil, false
	}
	a := p.admins[t.AdminID]
	switch name {
	case "id":
		return t.ID, true
	case "adminId":
		return t.AdminID, true
	case "adminName":
		if a == nil {
			return "", true
		}
		return a.Username, true
	case "roles":
		if a == nil || a.Roles == nil {
			return []string{}, true
		}
		return a.Roles, true
	case "accessId":
		return t.AccessID, true
	case "status":
		return t.Status, true
	case "note":
		return t.Note, true
	case "createdOn":
		return t.CreatedOn, true
	case "lastUsedOn":
		return t.LastUsedOn, true
	case "createdBy":
		return t.CreatedBy, true
	case "userPermission":
		if p.readOnlyCaller {
			return "read", true
		}
		return "write", true
	case "lastAuthIp":
		return t.LastAuthIP, true
	case "type":
		return t.Type, true
	}
	return nil, false
}

func (p *Portal) list(adminID int64, q map[string][]string) (int, any) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	size, offset := 50, 0
	if s := get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return 400, apiError{400, "size must be a number from 0 to 1000"}
		}
		size = n
	}
	if s := get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 400, apiError{400, "offset must be a non-negative number"}
		}
		offset = n
	}
	f, err := parseFilter(get("filter"))
	if err != nil {
		return 400, apiError{400, err.Error()}
	}
	f = f.without(p.cfg.IgnoreFilterOn)
	typ := "lmv1"
	if get("type") == "bearer" {
		typ = "bearer"
	}
	fields := tokenFields
	if s := get("fields"); s != "" {
		fields = strings.Split(s, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
	}

	ids := make([]int64, 0, len(p.tokens))
	for id, t := range p.candidates(f) {
		if t.Type == typ && (adminID == 0 || t.AdminID == adminID) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	// Judge the filter on the fields it names only; build the whole view
	// just for the tokens of the page (a portal of thousands stays fast).
	names := f.fields()
	var matched []*Token
	view := make(map[string]any, len(names))
	for _, id := range ids {
		t := p.tokens[id]
		if len(f) == 0 || f.match(p.fieldsInto(view, t, names)) {
			matched = append(matched, t)
		}
	}
	items := []any{}
	if offset < len(matched) {
		end := min(offset+size, len(matched))
		for _, t := range matched[offset:end] {
			items = append(items, p.render(t, fields, nil))
		}
	}
	return 200, tokenPage{total: len(matched), items: items}
}

// tokenPage is a listing's answer: {"total","searchId":null,"items"}.
type tokenPage struct {
	total int
	items []any
}

func (pg tokenPage) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"total": pg.total, "searchId": nil, "items": pg.items})
}

// appendJSON writes the page as MarshalJSON would (keys in the same
// order), by hand when every record is a plain tokenView: encoding/json
// spent most of the stand-in's time on pages of 1,000 records.
func (pg tokenPage) appendJSON(b []byte) ([]byte, error) {
	for _, it := range pg.items {
		if _, ok := it.(tokenView); !ok {
			raw, err := pg.MarshalJSON()
			return append(b, raw...), err
		}
	}
	b = append(b, `{"items":[`...)
	for i, it := range pg.items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.(tokenView).appendJSON(b)
	}
	b = append(b, `],"searchId":null,"total":`...)
	b = strconv.AppendInt(b, int64(pg.total), 10)
	return append(b, '}'), nil
}

// appendJSON writes the record as encoding/json would (fields in order).
func (v tokenView) appendJSON(b []byte) []byte {
	b = append(b, `{"accessId":`...)
	b = appendString(b, v.AccessID)
	b = append(b, `,"adminId":`...)
	b = strconv.AppendInt(b, v.AdminID, 10)
	b = append(b, `,"adminName":`...)
	b = appendString(b, v.AdminName)
	b = append(b, `,"createdBy":`...)
	b = appendString(b, v.CreatedBy)
	b = append(b, `,"createdOn":`...)
	b = strconv.AppendInt(b, v.CreatedOn, 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, v.ID, 10)
	b = append(b, `,"lastAuthIp":`...)
	b = appendString(b, v.LastAuthIP)
	b = append(b, `,"lastUsedOn":`...)
	b = strconv.AppendInt(b, v.LastUsedOn, 10)
	b = append(b, `,"note":`...)
	b = appendString(b, v.Note)
	b = append(b, `,"roles":[`...)
	for i, r := range v.Roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, r)
	}
	b = append(b, `],"status":`...)
	b = strconv.AppendInt(b, int64(v.Status), 10)
	b = append(b, `,"type":`...)
	b = appendString(b, v.Type)
	b = append(b, `,"userPermission":`...)
	b = appendString(b, v.UserPermission)
	return append(b, '}')
}

// appendString writes s as a JSON string: plain printable ASCII as it is,
// anything else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			raw, _ := json.Marshal(s)
			return append(b, raw...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

type tokenBody struct {
	Note   *string `json:"note"`
	Status *int    `json:"status"`
}

func parseTokenBody(body []byte) (tokenBody, *apiError) {
	var b tokenBody
	if len(strings.TrimSpace(string(body))) == 0 {
		return b, &apiError{400, "a request body is required (at least {})"}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return b, &apiError{400, "malformed JSON body"}
	}
	if b.Status != nil && *b.Status != 1 && *b.Status != 2 {
		return b, &apiError{400, "status must be 1 (disabled) or 2 (enabled)"}
	}
	if b.Note != nil && len(*b.Note) > 1000 {
		return b, &apiError{400, "note is too long"}
	}
	return b, nil
}

func (p *Portal) create(adminID int64, typ string, body []byte, authID string) (int, any) {
	b, aerr := parseTokenBody(body)
	if aerr != nil {
		return aerr.status, *aerr
	}
	note, status := "", 2
	if b.Note != nil {
		note = *b.Note
	}
	if b.Status != nil {
		status = *b.Status
	}
	createdBy := authID
	for _, t := range p.tokens {
		if t.AccessID == authID {
			if a := p.admins[t.AdminID]; a != nil {
				createdBy = a.Username
			}
		}
	}
	t := p.newToken(adminID, typ, note, status, createdBy)
	return 200, p.render(t, tokenFields, map[string]any{"accessKey": t.AccessKey}) // the only answer that carries the key
}

func (p *Portal) update(t *Token, body []byte, put bool) (int, any) {
	b, aerr := parseTokenBody(body)
	if aerr != nil {
		return aerr.status, *aerr
	}
	switch {
	case b.Status != nil:
		t.Status = *b.Status
	case put:
		// PUT replaces: a missing status means enabled.
		t.Status = 2
	}
	switch {
	case b.Note != nil:
		t.Note = *b.Note
	case put:
		t.Note = ""
	}
	return 200, p.render(t, tokenFields, nil)
}

// ReadOnlyRole is the role that lets a user read API tokens but change
// none (LogicMonitor's roles grant "manage" or "view" on them).
const ReadOnlyRole = "readonly"

// readOnly reports whether the token of access id authID belongs to a user
// whose roles are all read-only. It must be called with p.mu held.
func (p *Portal) readOnly(authID string) bool {
	t := p.byAccess(authID)
	if t == nil {
		return false
	}
	a := p.admins[t.AdminID]
	if a == nil || len(a.Roles) == 0 {
		return false
	}
	for _, r := range a.Roles {
		if !strings.EqualFold(r, ReadOnlyRole) {
			return false
		}
	}
	return true
}
