package lmclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
	"github.com/lmtokens/lmtokens/pkg/lmclient"
	"github.com/lmtokens/lmtokens/pkg/local/lmsandbox"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// hostilePortal answers every listing with the total its type is given
// and full pages of made-up tokens, counting the requests.
func hostilePortal(t *testing.T, totals map[string]string) (*lmclient.Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		typ := r.URL.Query().Get("type")
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		var items []string
		for i := 0; i < 1000; i++ {
			items = append(items, fmt.Sprintf(`{"id":%d,"adminId":2,"accessId":"A","status":2,"note":"","createdOn":1,"lastUsedOn":0}`, offset+i+1))
		}
		fmt.Fprintf(w, `{"total":%s,"items":[%s]}`, totals[typ], strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	auth, _ := lmauth.NewLMv1("OperatorAccessId0001", operatorKey)
	c, _ := lmclient.New(lmclient.Options{BaseURL: srv.URL + "/santaba/rest", Auth: auth, AllowHTTPLoopback: true, MaxRetries: -1})
	return c, &n
}

// A portal's totals are validated before its pages are fetched: negative,
// non-numeric or beyond the bound, the listing is refused, whatever the
// other type's total is, and only the first pages were asked for.
func TestHostileTotalsAreRefused(t *testing.T) {
	for name, totals := range map[string]map[string]string{
		"negative bearer total":   {"": "60000", "bearer": "-50000"},
		"negative lmv1 total":     {"": "-1", "bearer": "0"},
		"a billion":               {"": "1000000000", "bearer": "0"},
		"minus a billion":         {"": "1000", "bearer": "-1000000000"},
		"not a number":            {"": `"many"`, "bearer": "0"},
		"a float":                 {"": "1e9", "bearer": "0"},
		"over the bound together": {"": "9000", "bearer": "9000"},
	} {
		c, n := hostilePortal(t, totals)
		toks, err := c.Tokens.ListAll(context.Background(), logicmonitor.ListAllOptions{MaxTokens: 15000})
		if err == nil || toks != nil {
			t.Errorf("%s: %d tokens, %v", name, len(toks), err)
		}
		var tooMany *logicmonitor.TooManyError
		if strings.Contains(name, "bound") && !errors.As(err, &tooMany) {
			t.Errorf("%s: %v, want a TooManyError", name, err)
		}
		if got := n.Load(); got > 2 {
			t.Errorf("%s: %d requests, want the two first pages only", name, got)
		}
	}
}

// A token deleted while the listing is read shifts the pages after it:
// the listing sees its totals move, reads again, and misses no live token.
// One that keeps changing is flagged.
func TestAListingThatChangesIsReadAgain(t *testing.T) {
	srv, c := portal(t, lmsandbox.Config{})
	seed(t, srv, 2500, lmsandbox.TokenSpec{AdminID: 2})
	first := srv.Tokens()[1].ID // on the first page of LMv1 tokens
	srv.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Then: func(p *lmsandbox.Portal) { p.RemoveToken(first) }})
	l, err := c.Tokens.Listing(context.Background(), logicmonitor.ListAllOptions{Types: []string{logicmonitor.TypeLMv1}})
	if err != nil || l.Changed {
		t.Fatalf("%v, changed %v", err, l.Changed)
	}
	got := map[int64]bool{}
	for _, tok := range l.Tokens {
		got[tok.ID] = true
	}
	for _, tok := range srv.Tokens() {
		if tok.Type == "lmv1" && !got[tok.ID] {
			t.Fatalf("live token %d is missing from the listing", tok.ID)
		}
	}
	if len(l.Tokens) != len(got) {
		t.Fatalf("%d tokens listed, %d of them distinct", len(l.Tokens), len(got))
	}
	// Changing under both reads: flagged.
	var next atomic.Int64
	next.Store(first + 1)
	srv.Inject(lmsandbox.Fault{Method: http.MethodGet, Path: "/setting/admins/apitokens", Count: 100, Then: func(p *lmsandbox.Portal) { p.RemoveToken(next.Add(1)) }})
	l, err = c.Tokens.Listing(context.Background(), logicmonitor.ListAllOptions{Types: []string{logicmonitor.TypeLMv1}})
	if err != nil || !l.Changed {
		t.Fatalf("a listing that kept changing: %v, changed %v", err, l.Changed)
	}
}
