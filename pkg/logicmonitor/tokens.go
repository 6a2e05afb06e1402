package logicmonitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
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

var fieldBits = map[string]fieldSet{
	FieldID: 1, FieldAdminID: 2, FieldAccessID: 4, FieldStatus: 8, FieldNote: 16, FieldCreatedOn: 32, FieldLastUsedOn: 64,
}

// tokenRecord is a token record: the fields a decision may rest on as
// pointers, so that an absent (or null) one is known as such. Unknown
// fields are ignored. Type is read as written (lmtokens' own answers carry
// it); the client replaces it with its query's on every page (see
// Token.Type).
type tokenRecord struct {
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
func (r *tokenRecord) token() (Token, error) {
	t := Token{AdminName: r.AdminName, CreatedBy: r.CreatedBy, UserPermission: r.UserPermission, LastAuthIP: r.LastAuthIP, Type: r.Type, present: decoded}
	if len(r.Roles) > 0 {
		if err := t.Roles.UnmarshalJSON(r.Roles); err != nil {
			return t, fmt.Errorf("roles: %w", err)
		}
	}
	int64Field(&t.ID, r.ID, FieldID, &t.present)
	int64Field(&t.AdminID, r.AdminID, FieldAdminID, &t.present)
	int64Field(&t.CreatedOn, r.CreatedOn, FieldCreatedOn, &t.present)
	int64Field(&t.LastUsedOn, r.LastUsedOn, FieldLastUsedOn, &t.present)
	if r.AccessID != nil {
		t.AccessID, t.present = *r.AccessID, t.present|fieldBits[FieldAccessID]
	}
	if r.Status != nil {
		t.Status, t.present = *r.Status, t.present|fieldBits[FieldStatus]
	}
	if r.Note != nil {
		t.Note, t.present = *r.Note, t.present|fieldBits[FieldNote]
	}
	return t, nil
}

func int64Field(dst *int64, v *int64, name string, present *fieldSet) {
	if v != nil {
		*dst, *present = *v, *present|fieldBits[name]
	}
}

// UnmarshalJSON decodes a token and records which fields were present (a
// null counts as absent).
func (t *Token) UnmarshalJSON(b []byte) error {
	var r tokenRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	tok, err := r.token()
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
		if t.present&fieldBits[f] == 0 {
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

// tokenListWire is a page as the portal sends it, read in one pass with
// whatever may come instead of it (see marks).
type tokenListWire struct {
	marks
	Total *int          `json:"total"`
	Items []tokenRecord `json:"items"`
}

func (l *tokenListWire) validate() error {
	if l.Total == nil {
		return errors.New("list response has no total")
	}
	return nil
}

type tokenWire struct {
	CreatedToken
}

func (t *tokenWire) validate() error {
	if t.ID == 0 {
		return errors.New("token response has no id")
	}
	return nil
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

func (o ListOptions) query() (url.Values, error) {
	q := url.Values{}
	switch o.Type {
	case "", TypeLMv1:
	case TypeBearer:
		q.Set("type", TypeBearer)
	default:
		return nil, fmt.Errorf("unknown token type %q (want lmv1 or bearer)", o.Type)
	}
	if o.Size < 0 || o.Size > MaxPageSize {
		return nil, fmt.Errorf("size %d out of range 1..%d", o.Size, MaxPageSize)
	}
	if o.Offset < 0 {
		return nil, fmt.Errorf("offset %d is negative", o.Offset)
	}
	if o.Size > 0 {
		q.Set("size", strconv.Itoa(o.Size))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	for k, v := range map[string]string{"permission": o.Permission, "fields": o.Fields, "filter": o.Filter} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q, nil
}

// TokensService is the API-token resource of a portal.
type TokensService struct{ c *Client }

func adminTokensPath(adminID int64) string {
	return "/setting/admins/" + strconv.FormatInt(adminID, 10) + "/apitokens"
}

func tokenPath(adminID, tokenID int64) string {
	return adminTokensPath(adminID) + "/" + strconv.FormatInt(tokenID, 10)
}

// List returns one page of tokens across all users (adminID 0) or of one user.
func (s *TokensService) List(ctx context.Context, adminID int64, opts ListOptions) (*TokenList, error) {
	path := "/setting/admins/apitokens"
	if adminID != 0 {
		path = adminTokensPath(adminID)
	}
	q, err := opts.query()
	if err != nil {
		return nil, &Error{Kind: KindValidation, Method: http.MethodGet, Path: path, Message: err.Error()}
	}
	var w tokenListWire
	if err := s.c.do(ctx, http.MethodGet, path, q, nil, &w); err != nil {
		return nil, err
	}
	typ := TypeLMv1
	if opts.Type == TypeBearer {
		typ = TypeBearer
	}
	items := make([]Token, len(w.Items))
	for i := range w.Items {
		t, err := w.Items[i].token()
		if err != nil {
			return nil, &Error{Kind: KindUpstream, Method: http.MethodGet, Path: path, Message: "a token record is malformed: " + err.Error()}
		}
		t.Type = typ // the query's, whatever the record says
		items[i] = t
	}
	return &TokenList{Total: *w.Total, Items: items}, nil
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

// ListAll returns every token of the given types, following pages of 1,000
// (see Listing; a listing that changed while it was read is read again once).
func (s *TokensService) ListAll(ctx context.Context, opts ListAllOptions) ([]Token, error) {
	l, err := s.Listing(ctx, opts)
	return l.Tokens, err
}

// Listing returns every token of the given types. Each type's first page
// tells the total; the remaining pages are then fetched concurrently, all
// types sharing one bound, so 5,000 tokens take about two round trips. A
// total that is negative or beyond the bound is refused before the pages
// are fetched. When a page reports another total than its type's first
// page did, the portal changed during the listing: it is read again once,
// and flagged if it changed again.
func (s *TokensService) Listing(ctx context.Context, opts ListAllOptions) (Listing, error) {
	toks, changed, err := s.listOnce(ctx, opts)
	if err != nil || !changed {
		return Listing{Tokens: toks}, err
	}
	toks, changed, err = s.listOnce(ctx, opts)
	return Listing{Tokens: toks, Changed: changed}, err
}

// nonNil keeps an empty page apart from one not fetched (nil).
func nonNil(items []Token) []Token {
	if items == nil {
		return []Token{}
	}
	return items
}

// errBadTotal marks a listing refused for the total its portal reported.
var errBadTotal = errors.New("impossible total")

func (s *TokensService) listOnce(ctx context.Context, opts ListAllOptions) ([]Token, bool, error) {
	types := opts.Types
	if len(types) == 0 {
		types = []string{TypeLMv1, TypeBearer}
	}
	bound := opts.Concurrency
	if bound <= 0 {
		bound = 4
	}
	maxTokens := opts.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	page := func(ti, n int) (*TokenList, error) {
		return s.List(ctx, opts.AdminID, ListOptions{Type: types[ti], Filter: opts.Filter, Fields: opts.Fields, Size: MaxPageSize, Offset: n * MaxPageSize})
	}

	// Every type's first page, at once: their totals say what is to come,
	// and are judged before anything more is asked for.
	firsts := make([]*TokenList, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for ti := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firsts[ti], errs[ti] = page(ti, 0)
		}()
	}
	wg.Wait()
	planned := 0
	for ti, l := range firsts {
		if errs[ti] != nil {
			return nil, false, errs[ti]
		}
		if l.Total < 0 {
			return nil, false, &Error{Kind: KindUpstream, Method: http.MethodGet, Path: "/setting/admins/apitokens", Err: errBadTotal,
				Message: fmt.Sprintf("%s reports a negative total (%d) of %s tokens: a listing it answers cannot be trusted", s.c.name(), l.Total, types[ti])}
		}
		planned += l.Total
	}
	if planned > maxTokens {
		return nil, false, &TooManyError{Total: planned, Max: maxTokens}
	}

	// The other pages, by a bounded pool of workers.
	type job struct{ ti, n int }
	pages := make([][][]Token, len(types))
	var jobs []job
	for ti, l := range firsts {
		n := max((l.Total+MaxPageSize-1)/MaxPageSize, 1)
		pages[ti] = make([][]Token, n)
		pages[ti][0] = nonNil(l.Items)
		for p := 1; p < n; p++ {
			jobs = append(jobs, job{ti, p})
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		changed  bool
		next     int
	)
	for w := 0; w < min(bound, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(jobs) || firstErr != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				l, err := page(j.ti, j.n)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
					cancel()
				case err == nil:
					pages[j.ti][j.n] = nonNil(l.Items)
					if l.Total != firsts[j.ti].Total {
						changed = true // a token was made or deleted meanwhile
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	var all []Token
	fetched := 0
	for ti, ps := range pages {
		seen := map[int64]bool{} // a token shifted onto the next page is read twice
		for _, p := range ps {
			if p == nil && firstErr == nil {
				firstErr = errors.New("pages are missing")
			}
			for _, t := range p[:min(len(p), MaxPageSize)] {
				fetched++
				if !seen[t.ID] {
					seen[t.ID] = true
					all = append(all, t)
				}
			}
		}
		if len(seen) != firsts[ti].Total {
			changed = true
		}
	}
	if firstErr != nil {
		return nil, false, &IncompleteError{Fetched: fetched, Total: planned, Err: firstErr}
	}
	return all, changed, nil
}

// CreateOptions describe a new token.
type CreateOptions struct {
	Type   string // "" or "lmv1" for LMv1, "bearer" for a bearer token
	Note   string
	Status int // 0 leaves LogicMonitor's default (enabled)
}

// Create makes a token for adminID. It is never retried except after a 429.
func (s *TokensService) Create(ctx context.Context, adminID int64, opts CreateOptions) (*CreatedToken, error) {
	path := adminTokensPath(adminID)
	q := url.Values{}
	typ := TypeLMv1
	switch opts.Type {
	case "", TypeLMv1:
	case TypeBearer:
		q.Set("type", TypeBearer)
		typ = TypeBearer
	default:
		return nil, &Error{Kind: KindValidation, Method: http.MethodPost, Path: path, Message: fmt.Sprintf("unknown token type %q", opts.Type)}
	}
	body := struct {
		Note   string `json:"note,omitempty"`
		Status int    `json:"status,omitempty"`
	}{opts.Note, opts.Status}
	var w tokenWire
	if err := s.c.do(ctx, http.MethodPost, path, q, body, &w); err != nil {
		return nil, err
	}
	w.Type = typ // the request's, whatever the record says
	if w.AdminID == 0 {
		w.AdminID = adminID
	}
	return &w.CreatedToken, nil
}

// UpdateOptions change a token; nil fields are left as they are.
type UpdateOptions struct {
	Status *int    `json:"status,omitempty"`
	Note   *string `json:"note,omitempty"`
}

// Update changes a token's status and/or note and returns it. It sends
// PATCH with only the fields set, because PATCH changes only the fields it
// is sent: a note written since the caller read the token stays. (PUT would
// need both, and a missing status there enables the token.)
func (s *TokensService) Update(ctx context.Context, adminID, tokenID int64, opts UpdateOptions) (*Token, error) {
	var w tokenWire
	if err := s.c.do(ctx, http.MethodPatch, tokenPath(adminID, tokenID), nil, opts, &w); err != nil {
		return nil, err
	}
	if w.AdminID == 0 {
		w.AdminID = adminID
	}
	w.Type = "" // no query said it: the caller knows the token's type, the record does not
	return &w.Token, nil
}

// Get returns one token of adminID, of either type. The API has no
// single-token GET, so it lists the user's tokens filtered by id (both types
// at once, so one round trip) and checks the id itself: a portal that
// ignores the filter still answers, through every page.
//
// Naming the token's type (when the caller knows it) halves the requests.
func (s *TokensService) Get(ctx context.Context, adminID, tokenID int64, types ...string) (*Token, error) {
	// An empty type is an unknown one: it is looked for among both.
	types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "" })
	all, err := s.ListAll(ctx, ListAllOptions{AdminID: adminID, Types: types, Filter: "id:" + strconv.FormatInt(tokenID, 10)})
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == tokenID {
			return &all[i], nil
		}
	}
	path := tokenPath(adminID, tokenID)
	return nil, &Error{Kind: KindNotFound, Method: http.MethodGet, Path: path, StatusCode: http.StatusNotFound, Message: fmt.Sprintf("user %d has no token %d", adminID, tokenID)}
}

// Delete removes a token.
func (s *TokensService) Delete(ctx context.Context, adminID, tokenID int64) error {
	err := s.c.do(ctx, http.MethodDelete, tokenPath(adminID, tokenID), nil, nil, nil)
	return err
}
