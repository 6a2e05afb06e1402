package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/strictjson"
	"github.com/lmtokens/lmtokens/pkg/tokens"
)

// Input limits of the public contract.
const (
	MaxBodyBytes   = 64 << 10
	MaxNoteChars   = 1000
	MaxFilterChars = 2048
	MaxIdemKeyLen  = 255
)

// id is a positive integer given as a JSON number or a numeric string.
type id int64

func (v *id) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := tokens.ParseID(s)
	if err != nil {
		return err
	}
	*v = id(n)
	return nil
}

// decodeObject decodes a JSON object strictly: no unknown fields, no
// trailing data, at most MaxBodyBytes. Its errors name the field at fault.
func decodeObject(data []byte, v any) *Error {
	if len(data) > MaxBodyBytes {
		return invalid("the body is over %d bytes", MaxBodyBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalid("the body must be a JSON object")
	}
	if err := strictjson.Decode(trimmed, v); err != nil {
		var se *strictjson.Error
		if errors.As(err, &se) {
			if se.Field == "cleanup" {
				return invalid("%s: %v", se.Msg, errNoCleanup)
			}
			return invalid("%s", se.Msg)
		}
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) *Error {
	var ute *json.UnmarshalTypeError
	var synt *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return invalid("field %q must be %s", ute.Field, describeKind(ute.Type.Kind().String()))
	case errors.As(err, &synt):
		return invalid("the body is not valid JSON (at byte %d)", synt.Offset)
	case errors.Is(err, tokens.ErrBadID):
		return invalid("adminId and tokenId %v", tokens.ErrBadID)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return invalid("the body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func describeKind(k string) string {
	switch k {
	case "int", "int64", "int32":
		return "a whole number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "ptr":
		return "a value of the right type"
	}
	return "a " + k
}

func checkType(t string) *Error {
	switch t {
	case "", logicmonitor.TypeLMv1, logicmonitor.TypeBearer:
		return nil
	}
	return invalid("type %q is not known: use \"lmv1\" or \"bearer\"", t)
}

func checkStatus(s int) *Error {
	if s != logicmonitor.StatusDisabled && s != logicmonitor.StatusEnabled {
		return invalid("status must be 1 (disabled) or 2 (enabled), not %d", s)
	}
	return nil
}

func checkNote(n string) *Error {
	if !utf8.ValidString(n) {
		return invalid("note must be valid UTF-8")
	}
	if c := utf8.RuneCountInString(n); c > MaxNoteChars {
		return invalid("note is %d characters; at most %d are allowed", c, MaxNoteChars)
	}
	return nil
}

// tokenFields are the fields a caller may ask for; accessKey is never one.
var tokenFields = map[string]bool{
	"id": true, "adminId": true, "adminName": true, "roles": true, "accessId": true, "status": true,
	"note": true, "createdOn": true, "lastUsedOn": true, "createdBy": true, "userPermission": true,
	"lastAuthIp": true, "type": true,
}

func validateList(in *tokens.ListInput) *Error {
	if err := checkType(in.Type); err != nil {
		return err
	}
	if in.Size < 0 || in.Size > logicmonitor.MaxPageSize {
		return invalid("size must be from 1 to %d", logicmonitor.MaxPageSize)
	}
	if in.Offset < 0 {
		return invalid("offset must be 0 or more")
	}
	if in.Fields != "" {
		for _, f := range strings.Split(in.Fields, ",") {
			if !tokenFields[strings.TrimSpace(f)] {
				return invalid("fields: %q is not a token field (known: %s)", f, strings.Join(sortedKeys(tokenFields), ", "))
			}
		}
	}
	if len(in.Filter) > MaxFilterChars {
		return invalid("filter is over %d characters", MaxFilterChars)
	}
	if in.Permission != "" && len(in.Permission) > 64 {
		return invalid("permission is too long")
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// listFromQuery reads a list request's query string.
func listFromQuery(adminID int64, q url.Values) (tokens.ListInput, *Error) {
	in := tokens.ListInput{AdminID: adminID}
	for k, vs := range q {
		if len(vs) > 1 {
			return in, invalid("query parameter %q is given %d times", k, len(vs))
		}
		v := vs[0]
		var err error
		switch k {
		case "type":
			in.Type = v
		case "permission":
			in.Permission = v
		case "fields":
			in.Fields = v
		case "filter":
			in.Filter = v
		case "size":
			if in.Size, err = strconv.Atoi(v); err != nil || in.Size < 1 {
				return in, invalid("size must be a whole number from 1 to %d", logicmonitor.MaxPageSize)
			}
		case "offset":
			if in.Offset, err = strconv.Atoi(v); err != nil {
				return in, invalid("offset must be a whole number, 0 or more")
			}
		case "all":
			if v != "true" && v != "false" {
				return in, invalid("all must be true or false")
			}
			in.All = v == "true"
		default:
			return in, invalid("unknown query parameter %q (known: type, permission, fields, size, offset, filter, all)", k)
		}
	}
	return in, validateList(&in)
}

// listFromJSON reads a direct list request.
func listFromJSON(data []byte) (tokens.ListInput, *Error) {
	var d struct {
		Portal     string `json:"portal"`
		All        bool   `json:"all"`
		AdminID    *id    `json:"adminId"`
		Type       string `json:"type"`
		Permission string `json:"permission"`
		Fields     string `json:"fields"`
		Filter     string `json:"filter"`
		Size       *int   `json:"size"`
		Offset     int    `json:"offset"`
	}
	if err := decodeObject(data, &d); err != nil {
		return tokens.ListInput{}, err
	}
	in := tokens.ListInput{Portal: d.Portal, All: d.All, Type: d.Type, Permission: d.Permission, Fields: d.Fields, Filter: d.Filter, Offset: d.Offset}
	if d.AdminID != nil {
		in.AdminID = int64(*d.AdminID)
	}
	if d.Size != nil {
		if *d.Size < 1 {
			return in, invalid("size must be from 1 to %d", logicmonitor.MaxPageSize)
		}
		in.Size = *d.Size
	}
	return in, validateList(&in)
}

type createBody struct {
	Note         *string `json:"note"`
	Type         string  `json:"type"`
	Status       *int    `json:"status"`
	RotationDays *int    `json:"rotationDays"`
	// ExpiresInDays or ExpiresAt (RFC 3339), at most one, end its lifetime.
	ExpiresInDays *int    `json:"expiresInDays"`
	ExpiresAt     *string `json:"expiresAt"`
}

func (b createBody) input(adminID int64, key string) (tokens.CreateInput, *Error) {
	in := tokens.CreateInput{AdminID: adminID, Type: b.Type, IdempotencyKey: key}
	if b.RotationDays != nil {
		if *b.RotationDays < 1 || *b.RotationDays > tokens.MaxRotationDays {
			return in, invalid("rotationDays must be a whole number of days from 1 to %d", tokens.MaxRotationDays)
		}
		in.RotationDays = *b.RotationDays
	}
	switch {
	case b.ExpiresInDays != nil && b.ExpiresAt != nil:
		return in, invalid("give expiresInDays or expiresAt, not both")
	case b.ExpiresInDays != nil:
		if *b.ExpiresInDays < 1 || *b.ExpiresInDays > tokens.MaxLifetimeDays {
			return in, invalid("expiresInDays must be a whole number of days from 1 to %d", tokens.MaxLifetimeDays)
		}
		in.ExpiresInDays = *b.ExpiresInDays
	case b.ExpiresAt != nil:
		at, err := time.Parse(time.RFC3339, *b.ExpiresAt)
		if err != nil {
			return in, invalid("expiresAt must be a time in RFC 3339, such as 2027-06-30T00:00:00Z")
		}
		in.ExpiresAt = &at
	}
	if b.Note != nil {
		in.Note = *b.Note
		if err := checkNote(in.Note); err != nil {
			return in, err
		}
	}
	if b.Status != nil {
		if err := checkStatus(*b.Status); err != nil {
			return in, err
		}
		in.Status = *b.Status
	}
	if err := checkType(in.Type); err != nil {
		return in, err
	}
	return in, checkIdempotencyKey(key)
}

func checkIdempotencyKey(k string) *Error {
	if len(k) > MaxIdemKeyLen {
		return invalid("the idempotency key is over %d characters", MaxIdemKeyLen)
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return invalid("the idempotency key must be printable ASCII without spaces")
		}
	}
	return nil
}

func createFromHTTP(adminID int64, body []byte, key string) (tokens.CreateInput, *Error) {
	var b createBody
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeObject(body, &b); err != nil {
			return tokens.CreateInput{}, err
		}
	}
	return b.input(adminID, key)
}

func createFromJSON(data []byte) (tokens.CreateInput, *Error) {
	var d struct {
		Portal  string `json:"portal"`
		AdminID *id    `json:"adminId"`
		createBody
		IdempotencyKey string `json:"idempotencyKey"`
	}
	if err := decodeObject(data, &d); err != nil {
		return tokens.CreateInput{}, err
	}
	if d.AdminID == nil {
		return tokens.CreateInput{}, invalid("adminId is required")
	}
	in, err := d.createBody.input(int64(*d.AdminID), d.IdempotencyKey)
	in.Portal = d.Portal
	return in, err
}

type toggleBody struct {
	Status  *int    `json:"status"`
	Enabled *bool   `json:"enabled"`
	Note    *string `json:"note"`
}

func (b toggleBody) input(adminID, tokenID int64) (tokens.ToggleInput, *Error) {
	in := tokens.ToggleInput{AdminID: adminID, TokenID: tokenID, Note: b.Note}
	switch {
	case b.Status != nil && b.Enabled != nil:
		want := logicmonitor.StatusDisabled
		if *b.Enabled {
			want = logicmonitor.StatusEnabled
		}
		if *b.Status != want {
			return in, invalid("status %d and enabled %v disagree: give one of them", *b.Status, *b.Enabled)
		}
		in.Status = &want
	case b.Status != nil:
		if err := checkStatus(*b.Status); err != nil {
			return in, err
		}
		in.Status = b.Status
	case b.Enabled != nil:
		s := logicmonitor.StatusDisabled
		if *b.Enabled {
			s = logicmonitor.StatusEnabled
		}
		in.Status = &s
	}
	if b.Note != nil {
		if err := checkNote(*b.Note); err != nil {
			return in, err
		}
	}
	if in.Status == nil && in.Note == nil {
		return in, invalid(`nothing to change: give "status" (1 or 2) or "enabled" (true or false), and/or "note"`)
	}
	return in, nil
}

func toggleFromHTTP(adminID, tokenID int64, body []byte) (tokens.ToggleInput, *Error) {
	var b toggleBody
	if err := decodeObject(body, &b); err != nil {
		return tokens.ToggleInput{}, err
	}
	return b.input(adminID, tokenID)
}

func toggleFromJSON(data []byte) (tokens.ToggleInput, *Error) {
	var d struct {
		Portal  string `json:"portal"`
		AdminID *id    `json:"adminId"`
		TokenID *id    `json:"tokenId"`
		toggleBody
	}
	if err := decodeObject(data, &d); err != nil {
		return tokens.ToggleInput{}, err
	}
	if d.AdminID == nil || d.TokenID == nil {
		return tokens.ToggleInput{}, invalid("adminId and tokenId are required")
	}
	in, err := d.toggleBody.input(int64(*d.AdminID), int64(*d.TokenID))
	in.Portal = d.Portal
	return in, err
}

// rotateFromJSON reads a direct {"rotate": {"adminId", "tokenId", "portal"}}.
func rotateFromJSON(data json.RawMessage) (tokens.RotateInput, *Error) {
	ref, err := tokenRefFromJSON(data, "rotate: ")
	return tokens.RotateInput(ref), err
}

// rotateRequest returns the inner object of a direct {"rotate": {...}}
// request to the create function, or nil for a create request.
func rotateRequest(data []byte) json.RawMessage {
	var d map[string]json.RawMessage
	if json.Unmarshal(data, &d) != nil || len(d) != 1 {
		return nil
	}
	return d["rotate"]
}

func deleteFromJSON(data []byte) (tokens.DeleteInput, *Error) {
	ref, err := tokenRefFromJSON(data, "")
	return tokens.DeleteInput(ref), err
}

// tokenRef names one token: what delete and rotate take.
type tokenRef struct {
	Portal  string
	AdminID int64
	TokenID int64
}

// tokenRefFromJSON reads {"portal"?, "adminId", "tokenId"}; what prefixes
// its errors.
func tokenRefFromJSON(data []byte, what string) (tokenRef, *Error) {
	var d struct {
		Portal  string `json:"portal"`
		AdminID *id    `json:"adminId"`
		TokenID *id    `json:"tokenId"`
	}
	if err := decodeObject(data, &d); err != nil {
		return tokenRef{}, err
	}
	if d.AdminID == nil || d.TokenID == nil {
		return tokenRef{}, invalid("%sadminId and tokenId are required", what)
	}
	return tokenRef{Portal: d.Portal, AdminID: int64(*d.AdminID), TokenID: int64(*d.TokenID)}, nil
}

// pathID reads an id path parameter.
func pathID(params map[string]string, name string) (int64, *Error) {
	v, ok := params[name]
	if !ok {
		return 0, invalid("path parameter %s is missing", name)
	}
	n, err := tokens.ParseID(v)
	if err != nil {
		return 0, invalid("%s %s", name, fmt.Sprint(err))
	}
	return n, nil
}
