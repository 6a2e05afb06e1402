package tokens

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// listingPortal answers AllTokens from its tokens, applying the id filter
// unless it ignores filters (as a portal may), and records each query.
type listingPortal struct {
	logicmonitor.Portal
	tokens        []logicmonitor.Token
	ignoreFilters bool
	mu            sync.Mutex
	queries       []logicmonitor.ListAllOptions
}

func (p *listingPortal) AllTokens(_ context.Context, o logicmonitor.ListAllOptions) ([]logicmonitor.Token, error) {
	p.mu.Lock()
	p.queries = append(p.queries, o)
	p.mu.Unlock()
	var out []logicmonitor.Token
	for _, t := range p.tokens {
		if t.AdminID != o.AdminID || (len(o.Types) > 0 && t.Type != o.Types[0]) {
			continue
		}
		if p.ignoreFilters || strings.Contains(o.Filter+"|", `"`+strconv.FormatInt(t.ID, 10)+`"|`) {
			out = append(out, t)
		}
	}
	return out, nil
}

// A batch is re-read with one listing per user and type, filtered on its
// ids in LogicMonitor's OR form; each token gets its own fresh record, a
// gone one a not-found error, and a portal that ignores the filter (and
// sends every token of the user) changes none of it.
func TestGetManyRereadsOneListingPerUserAndType(t *testing.T) {
	tok := func(id, admin int64, typ string, note string) logicmonitor.Token {
		return logicmonitor.Token{ID: id, AdminID: admin, Type: typ, Note: note, Status: 2}
	}
	for _, ignore := range []bool{false, true} {
		p := &listingPortal{ignoreFilters: ignore, tokens: []logicmonitor.Token{
			tok(1, 2, "lmv1", "fresh 1"), tok(2, 2, "lmv1", "fresh 2"), tok(3, 3, "lmv1", "fresh 3"), tok(4, 2, "bearer", "fresh 4"), tok(9, 2, "lmv1", "not asked"),
		}}
		target := &cleanupTarget{client: p}
		asked := []logicmonitor.Token{tok(1, 2, "lmv1", ""), tok(2, 2, "lmv1", ""), tok(3, 3, "lmv1", ""), tok(4, 2, "bearer", ""), tok(5, 2, "lmv1", "")}
		got := target.GetMany(context.Background(), asked)
		for i, want := range []string{"fresh 1", "fresh 2", "fresh 3", "fresh 4"} {
			if got[i].Err != nil || got[i].Token == nil || got[i].Token.Note != want || got[i].Token.ID != asked[i].ID {
				t.Fatalf("ignoring filters %v: token %d re-read as %+v", ignore, asked[i].ID, got[i])
			}
		}
		if !logicmonitor.IsNotFound(got[4].Err) {
			t.Fatalf("ignoring filters %v: a gone token re-read as %+v", ignore, got[4])
		}
		if len(p.queries) != 3 {
			t.Fatalf("ignoring filters %v: %d listings, want one per user and type (3): %+v", ignore, len(p.queries), p.queries)
		}
		for _, q := range p.queries {
			if q.AdminID == 2 && len(q.Types) == 1 && q.Types[0] == "lmv1" && q.Filter != `id:"1"|"2"|"5"` {
				t.Fatalf("the filter of user 2's LMv1 tokens: %s", q.Filter)
			}
		}
	}
}

// More ids than one query may carry are split over several listings.
func TestGetManySplitsLongBatches(t *testing.T) {
	p := &listingPortal{}
	var asked []logicmonitor.Token
	for i := int64(1); i <= maxRereadIDs+1; i++ {
		p.tokens = append(p.tokens, logicmonitor.Token{ID: i, AdminID: 2, Type: "lmv1"})
		asked = append(asked, logicmonitor.Token{ID: i, AdminID: 2, Type: "lmv1"})
	}
	got := (&cleanupTarget{client: p}).GetMany(context.Background(), asked)
	for i, r := range got {
		if r.Err != nil || r.Token.ID != asked[i].ID {
			t.Fatalf("token %d: %+v", asked[i].ID, r)
		}
	}
	if len(p.queries) != 2 {
		t.Fatalf("%d listings for %d ids, want 2", len(p.queries), len(asked))
	}
}
