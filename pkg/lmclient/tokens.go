package lmclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// tokenListWire is a page as the portal sends it, read in one pass with
// whatever may come instead of it (see marks).
type tokenListWire struct {
	marks
	Total *int                       `json:"total"`
	Items []logicmonitor.TokenRecord `json:"items"`
}

func (l *tokenListWire) validate() error {
	if l.Total == nil {
		return errors.New("list response has no total")
	}
	return nil
}

type tokenWire struct {
	logicmonitor.CreatedToken
}

func (t *tokenWire) validate() error {
	if t.ID == 0 {
		return errors.New("token response has no id")
	}
	return nil
}

// query is a list call's query string.
func query(o logicmonitor.ListOptions) (url.Values, error) {
	q := url.Values{}
	switch o.Type {
	case "", logicmonitor.TypeLMv1:
	case logicmonitor.TypeBearer:
		q.Set("type", logicmonitor.TypeBearer)
	default:
		return nil, fmt.Errorf("unknown token type %q (want lmv1 or bearer)", o.Type)
	}
	if o.Size < 0 || o.Size > logicmonitor.MaxPageSize {
		return nil, fmt.Errorf("size %d out of range 1..%d", o.Size, logicmonitor.MaxPageSize)
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
func (s *TokensService) List(ctx context.Context, adminID int64, opts logicmonitor.ListOptions) (*logicmonitor.TokenList, error) {
	path := "/setting/admins/apitokens"
	if adminID != 0 {
		path = adminTokensPath(adminID)
	}
	q, err := query(opts)
	if err != nil {
		return nil, &logicmonitor.Error{Kind: logicmonitor.KindValidation, Method: http.MethodGet, Path: path, Message: err.Error()}
	}
	var w tokenListWire
	if err := s.c.do(ctx, http.MethodGet, path, q, nil, &w); err != nil {
		return nil, err
	}
	typ := logicmonitor.TypeLMv1
	if opts.Type == logicmonitor.TypeBearer {
		typ = logicmonitor.TypeBearer
	}
	items := make([]logicmonitor.Token, len(w.Items))
	for i := range w.Items {
		t, err := w.Items[i].Token()
		if err != nil {
			return nil, &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: http.MethodGet, Path: path, Message: "a token record is malformed: " + err.Error()}
		}
		t.Type = typ // the query's, whatever the record says
		items[i] = t
	}
	return &logicmonitor.TokenList{Total: *w.Total, Items: items}, nil
}

// ListAll returns every token of the given types, following pages of 1,000
// (see Listing; a listing that changed while it was read is read again once).
func (s *TokensService) ListAll(ctx context.Context, opts logicmonitor.ListAllOptions) ([]logicmonitor.Token, error) {
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
func (s *TokensService) Listing(ctx context.Context, opts logicmonitor.ListAllOptions) (logicmonitor.Listing, error) {
	toks, changed, err := s.listOnce(ctx, opts)
	if err != nil || !changed {
		return logicmonitor.Listing{Tokens: toks}, err
	}
	toks, changed, err = s.listOnce(ctx, opts)
	return logicmonitor.Listing{Tokens: toks, Changed: changed}, err
}

// nonNil keeps an empty page apart from one not fetched (nil).
func nonNil(items []logicmonitor.Token) []logicmonitor.Token {
	if items == nil {
		return []logicmonitor.Token{}
	}
	return items
}

// errBadTotal marks a listing refused for the total its portal reported.
var errBadTotal = errors.New("impossible total")

func (s *TokensService) listOnce(ctx context.Context, opts logicmonitor.ListAllOptions) ([]logicmonitor.Token, bool, error) {
	types := opts.Types
	if len(types) == 0 {
		types = []string{logicmonitor.TypeLMv1, logicmonitor.TypeBearer}
	}
	bound := opts.Concurrency
	if bound <= 0 {
		bound = 4
	}
	maxTokens := opts.MaxTokens
	if maxTokens <= 0 {
		maxTokens = logicmonitor.DefaultMaxTokens
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	page := func(ti, n int) (*logicmonitor.TokenList, error) {
		return s.List(ctx, opts.AdminID, logicmonitor.ListOptions{Type: types[ti], Filter: opts.Filter, Fields: opts.Fields, Size: logicmonitor.MaxPageSize, Offset: n * logicmonitor.MaxPageSize})
	}

	// Every type's first page, at once: their totals say what is to come,
	// and are judged before anything more is asked for.
	firsts := make([]*logicmonitor.TokenList, len(types))
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
			return nil, false, &logicmonitor.Error{Kind: logicmonitor.KindUpstream, Method: http.MethodGet, Path: "/setting/admins/apitokens", Err: errBadTotal,
				Message: fmt.Sprintf("%s reports a negative total (%d) of %s tokens: a listing it answers cannot be trusted", s.c.name(), l.Total, types[ti])}
		}
		planned += l.Total
	}
	if planned > maxTokens {
		return nil, false, &logicmonitor.TooManyError{Total: planned, Max: maxTokens}
	}

	// The other pages, by a bounded pool of workers.
	type job struct{ ti, n int }
	pages := make([][][]logicmonitor.Token, len(types))
	var jobs []job
	for ti, l := range firsts {
		n := max((l.Total+logicmonitor.MaxPageSize-1)/logicmonitor.MaxPageSize, 1)
		pages[ti] = make([][]logicmonitor.Token, n)
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

	var all []logicmonitor.Token
	fetched := 0
	for ti, ps := range pages {
		seen := map[int64]bool{} // a token shifted onto the next page is read twice
		for _, p := range ps {
			if p == nil && firstErr == nil {
				firstErr = errors.New("pages are missing")
			}
			for _, t := range p[:min(len(p), logicmonitor.MaxPageSize)] {
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
		return nil, false, &logicmonitor.IncompleteError{Fetched: fetched, Total: planned, Err: firstErr}
	}
	return all, changed, nil
}

// Create makes a token for adminID. It is never retried except after a 429.
func (s *TokensService) Create(ctx context.Context, adminID int64, opts logicmonitor.CreateOptions) (*logicmonitor.CreatedToken, error) {
	path := adminTokensPath(adminID)
	q := url.Values{}
	typ := logicmonitor.TypeLMv1
	switch opts.Type {
	case "", logicmonitor.TypeLMv1:
	case logicmonitor.TypeBearer:
		q.Set("type", logicmonitor.TypeBearer)
		typ = logicmonitor.TypeBearer
	default:
		return nil, &logicmonitor.Error{Kind: logicmonitor.KindValidation, Method: http.MethodPost, Path: path, Message: fmt.Sprintf("unknown token type %q", opts.Type)}
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

// Update changes a token's status and/or note and returns it. It sends
// PATCH with only the fields set, because PATCH changes only the fields it
// is sent: a note written since the caller read the token stays. (PUT would
// need both, and a missing status there enables the token.)
func (s *TokensService) Update(ctx context.Context, adminID, tokenID int64, opts logicmonitor.UpdateOptions) (*logicmonitor.Token, error) {
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
func (s *TokensService) Get(ctx context.Context, adminID, tokenID int64, types ...string) (*logicmonitor.Token, error) {
	// An empty type is an unknown one: it is looked for among both.
	types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "" })
	all, err := s.ListAll(ctx, logicmonitor.ListAllOptions{AdminID: adminID, Types: types, Filter: "id:" + strconv.FormatInt(tokenID, 10)})
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == tokenID {
			return &all[i], nil
		}
	}
	path := tokenPath(adminID, tokenID)
	return nil, &logicmonitor.Error{Kind: logicmonitor.KindNotFound, Method: http.MethodGet, Path: path, StatusCode: http.StatusNotFound, Message: fmt.Sprintf("user %d has no token %d", adminID, tokenID)}
}

// Delete removes a token.
func (s *TokensService) Delete(ctx context.Context, adminID, tokenID int64) error {
	err := s.c.do(ctx, http.MethodDelete, tokenPath(adminID, tokenID), nil, nil, nil)
	return err
}
