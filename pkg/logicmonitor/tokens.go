package logicmonitor

import (
	"encoding/json"
	"fmt"
	"time"
)

// Token types as the API names them in the type query parameter.
const (
	TypeLMv1   = "lmv1"
	TypeBearer = "bearer"
)

// Token statuses.
const (
	StatusDisabled = 1
	StatusEnabled  = 2
)

// MaxPageSize is the largest page LogicMonitor serves.
const MaxPageSize = 1000

// Token is an API token as LogicMonitor lists it. It deliberately has no
// accessKey field: a key that a portal sends outside a create response is
// dropped while decoding, so it can never be passed on. Empty fields are
// omitted when encoded, so a page trimmed with "fields" shows only those; a
// missing lastUsedOn means never used.
type Token struct {
	ID             int64     `json:"id"`
	AdminID        int64     `json:"adminId,omitempty"`
	AdminName      string    `json:"adminName,omitempty"`
	Roles          RoleNames `json:"roles,omitempty"`
	AccessID       string    `json:"accessId,omitempty"`
	Status         int       `json:"status,omitempty"`
	Note           string    `json:"note,omitempty"`
	CreatedOn      int64     `json:"createdOn,omitempty"`  // epoch seconds
	LastUsedOn     int64     `json:"lastUsedOn,omitempty"` // epoch seconds; 0 (omitted) = never used
	CreatedBy      string    `json:"createdBy,omitempty"`
	UserPermission string    `json:"userPermission,omitempty"`
	LastAuthIP     string    `json:"lastAuthIp,omitempty"`
	// Type is lmv1 or bearer, as the query that returned the record asked
	// (LogicMonitor's schema has no type on a record; a portal may send
	// "api", "API Token" or nothing, which is never trusted).
	Type string `json:"type,omitempty"`

	// ExpiresAt and OverMaxLifetime are lmtokens' annotations, never a
	// portal's: when the lifetime lmtokens gave the token ends, and whether
	// it is older than its portal's maximum lifetime.
	ExpiresAt       *time.Time `json:"expiresAt,omitempty"`
	OverMaxLifetime bool       `json:"overMaxLifetime,omitempty"`

	// present records which of the fields a decision may rest on the
	// portal actually sent (a trimmed or damaged record lacks some).
	present fieldSet
}

// Fields whose presence a Token records, for Missing.
const (
	FieldID         = "id"
	FieldAdminID    = "adminId"
	FieldAccessID   = "accessId"
	FieldStatus     = "status"
	FieldNote       = "note"
	FieldCreatedOn  = "createdOn"
	FieldLastUsedOn = "lastUsedOn"
)

type fieldSet uint8

// decoded marks a Token read from the portal, whose presence bits count.
const decoded fieldSet = 128

const (
	bitID fieldSet = 1 << iota
	bitAdminID
	bitAccessID
	bitStatus
	bitNote
	bitCreatedOn
	bitLastUsedOn
)

// bitOf is a field's presence bit (0 for a name that has none).
func bitOf(field string) fieldSet {
	switch field {
	case FieldID:
		return bitID
	case FieldAdminID:
		return bitAdminID
	case FieldAccessID:
		return bitAccessID
	case FieldStatus:
		return bitStatus
	case FieldNote:
		return bitNote
	case FieldCreatedOn:
		return bitCreatedOn
	case FieldLastUsedOn:
		return bitLastUsedOn
	}
	return 0
}

// TokenRecord is a token record: the fields a decision may rest on as
// pointers, so that an absent (or null) one is known as such. Unknown
// fields are ignored. Type is read as written (lmtokens' own answers carry
// it); the client replaces it with its query's on every page (see
// Token.Type).
type TokenRecord struct {
	ID             *int64          `json:"id"`
	AdminID        *int64          `json:"adminId"`
	AccessID       *string         `json:"accessId"`
	Status         *int            `json:"status"`
	Note           *string         `json:"note"`
	CreatedOn      *int64          `json:"createdOn"`
	LastUsedOn     *int64          `json:"lastUsedOn"`
	AdminName      string          `json:"adminName"`
	Roles          json.RawMessage `json:"roles"`
	CreatedBy      string          `json:"createdBy"`
	UserPermission string          `json:"userPermission"`
	LastAuthIP     string          `json:"lastAuthIp"`
	Type           string          `json:"type"`
}

// token turns the record into a Token that knows which fields were sent.
func (r *TokenRecord) Token() (Token, error) {
	t := Token{AdminName: r.AdminName, CreatedBy: r.CreatedBy, UserPermission: r.UserPermission, LastAuthIP: r.LastAuthIP, Type: r.Type, present: decoded}
	if len(r.Roles) > 0 {
		if err := t.Roles.UnmarshalJSON(r.Roles); err != nil {
			return t, fmt.Errorf("roles: %w", err)
		}
	}
	int64Field(&t.ID, r.ID, bitID, &t.present)
	int64Field(&t.AdminID, r.AdminID, bitAdminID, &t.present)
	int64Field(&t.CreatedOn, r.CreatedOn, bitCreatedOn, &t.present)
	int64Field(&t.LastUsedOn, r.LastUsedOn, bitLastUsedOn, &t.present)
	if r.AccessID != nil {
		t.AccessID, t.present = *r.AccessID, t.present|bitAccessID
	}
	if r.Status != nil {
		t.Status, t.present = *r.Status, t.present|bitStatus
	}
	if r.Note != nil {
		t.Note, t.present = *r.Note, t.present|bitNote
	}
	return t, nil
}

func int64Field(dst *int64, v *int64, bit fieldSet, present *fieldSet) {
	if v != nil {
		*dst, *present = *v, *present|bit
	}
}

// UnmarshalJSON decodes a token and records which fields were present (a
// null counts as absent).
func (t *Token) UnmarshalJSON(b []byte) error {
	var r TokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	tok, err := r.Token()
	*t = tok
	return err
}

// Missing returns those of fields (the Field constants) that the portal did
// not send for this token. A Token built in code rather than decoded misses
// nothing.
func (t Token) Missing(fields ...string) []string {
	if t.present&decoded == 0 {
		return nil
	}
	var out []string
	for _, f := range fields {
		if t.present&bitOf(f) == 0 {
			out = append(out, f)
		}
	}
	return out
}

// CreatedToken is a token just created, with its key: the only time
// LogicMonitor reveals it. For a bearer token the key is the bearer string.
type CreatedToken struct {
	Token
	AccessKey string `json:"accessKey"`
}

// UnmarshalJSON decodes the token and its key (Token's own UnmarshalJSON
// would otherwise be promoted and drop the key).
func (t *CreatedToken) UnmarshalJSON(b []byte) error {
	if err := t.Token.UnmarshalJSON(b); err != nil {
		return err
	}
	var k struct {
		AccessKey string `json:"accessKey"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	t.AccessKey = k.AccessKey
	return nil
}

// String never prints the key.
func (t CreatedToken) String() string {
	return fmt.Sprintf("token %d (%s, access id %s, key redacted)", t.ID, t.Type, t.AccessID)
}

// TokenList is one page of tokens.
type TokenList struct {
	Total int     `json:"total"`
	Items []Token `json:"items"`
}

// ListOptions are the query parameters of the list calls.
type ListOptions struct {
	Type       string // "" (LMv1) or "bearer"; "lmv1" is sent as ""
	Permission string
	Fields     string
	Size       int // 1..1000; 0 leaves LogicMonitor's default of 50
	Offset     int
	Filter     string
}

// ListAllOptions select what ListAll fetches.
type ListAllOptions struct {
	AdminID int64    // 0 for every user
	Types   []string // default both lmv1 and bearer
	Filter  string
	Fields  string
	// Concurrency bounds the pages in flight after each type's first page
	// (default 4).
	Concurrency int
	// MaxTokens bounds what one call may fetch, both types together
	// (default DefaultMaxTokens): a portal reporting more is refused with a
	// *TooManyError before the pages are fetched, so memory and requests
	// stay bounded whatever a first page claims.
	MaxTokens int
}

// DefaultMaxTokens is ListAll's default bound: 50 pages of 1,000, about
// 25 MiB of decoded tokens, well inside a 256 MB function.
const DefaultMaxTokens = 50000

// TooManyError says a listing is larger than the caller's bound.
type TooManyError struct {
	Total, Max int
}

func (e *TooManyError) Error() string {
	return fmt.Sprintf("the portal reports %d tokens, more than the %d one listing may fetch: narrow it with a filter or page through it", e.Total, e.Max)
}

// IncompleteError says a listing stopped before every page arrived; nothing
// of it is returned, so a partial list is never taken for the whole.
type IncompleteError struct {
	Fetched, Total int
	Err            error
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("listing stopped after %d of %d tokens: %v", e.Fetched, e.Total, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// Listing is a complete listing of tokens. Changed says the portal's
// totals moved while its pages were read, twice in a row: a token made or
// deleted meanwhile may be missing (offset paging shifts under it).
type Listing struct {
	Tokens  []Token
	Changed bool
}

// CreateOptions describe a new token.
type CreateOptions struct {
	Type   string // "" or "lmv1" for LMv1, "bearer" for a bearer token
	Note   string
	Status int // 0 leaves LogicMonitor's default (enabled)
}

// UpdateOptions change a token; nil fields are left as they are.
type UpdateOptions struct {
	Status *int    `json:"status,omitempty"`
	Note   *string `json:"note,omitempty"`
}
