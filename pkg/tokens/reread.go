package tokens

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/lmtokens/lmtokens/pkg/cleanup"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// maxRereadIDs bounds the ids one re-read asks for, which keeps its query
// string short (about 12 characters an id).
const maxRereadIDs = 50

// GetMany re-reads a batch of tokens as cleanup must before acting on
// them, one listing per user and type filtered on their ids
// (id:"1"|"2"|..., LogicMonitor's OR over one field's values) instead of
// one request per token. Users are read at once, four at a time.
//
// A portal that ignores the filter answers with all the user's tokens; the
// listing is complete or an error, so a token absent from it is gone.
func (t *cleanupTarget) GetMany(ctx context.Context, toks []logicmonitor.Token) []cleanup.Reread {
	type group struct {
		adminID int64
		typ     string // "" for either, as Get would look
	}
	out := make([]cleanup.Reread, len(toks))
	byGroup := map[group][]int{}
	var order []group
	for i, tok := range toks {
		g := group{tok.AdminID, tok.Type}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, g := range order {
		for idx := range chunks(byGroup[g], maxRereadIDs) {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ids := make([]int64, len(idx))
				for k, i := range idx {
					ids[k] = toks[i].ID
				}
				found, err := t.reread(ctx, g.adminID, g.typ, ids)
				for _, i := range idx {
					switch tok, ok := found[toks[i].ID]; {
					case err != nil:
						out[i].Err = err
					case ok:
						out[i].Token = &tok
					default:
						out[i].Err = &logicmonitor.Error{Kind: logicmonitor.KindNotFound, Message: fmt.Sprintf("user %d has no token %d", g.adminID, toks[i].ID)}
					}
				}
			}()
		}
	}
	wg.Wait()
	return out
}

// reread lists those of ids that user adminID has, of type typ ("" either).
func (t *cleanupTarget) reread(ctx context.Context, adminID int64, typ string, ids []int64) (map[int64]logicmonitor.Token, error) {
	var types []string
	if typ != "" {
		types = []string{typ}
	}
	all, err := t.client.AllTokens(ctx, logicmonitor.ListAllOptions{AdminID: adminID, Types: types, Filter: idFilter(ids)})
	if err != nil {
		return nil, err
	}
	asked := make(map[int64]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	found := make(map[int64]logicmonitor.Token, len(ids))
	for _, tok := range all {
		if asked[tok.ID] { // a portal that ignores the filter sends them all
			found[tok.ID] = tok
		}
	}
	return found, nil
}

// chunks yields s in pieces of at most n.
func chunks(s []int, n int) func(yield func([]int) bool) {
	return func(yield func([]int) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// idFilter is the filter that selects the given token ids: id:"1"|"2".
func idFilter(ids []int64) string {
	var b strings.Builder
	b.WriteString("id:")
	for i, id := range ids {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteByte('"')
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteByte('"')
	}
	return b.String()
}
