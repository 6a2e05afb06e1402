package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// ListOutput is a page of tokens.
type ListOutput struct {
	Total int                  `json:"total"`
	Items []logicmonitor.Token `json:"items"`
	// ChangedDuringListing (inventory only) says the portal's totals moved
	// while its pages were read, twice in a row: a token made or deleted
	// meanwhile may be missing from the answer.
	ChangedDuringListing bool `json:"changedDuringListing,omitempty"`
	// LifetimesUnknown says the keys' expiries could not be read: no item
	// shows one.
	LifetimesUnknown bool `json:"lifetimesUnknown,omitempty"`

	// encoded is the answer's JSON when it was encoded already.
	encoded []byte
}

// Encoded returns the answer's JSON when the domain encoded it already
// (an inventory, whose size it had to know), so a transport need not
// encode megabytes twice.
func (o ListOutput) Encoded() (json.RawMessage, bool) { return o.encoded, o.encoded != nil }

func (s *Service) List(ctx context.Context, in ListInput) (ListOutput, error) {
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return ListOutput{}, err
	}
	if in.All {
		return s.inventory(ctx, p, in)
	}
	var out ListOutput
	var creds secrets.Credentials
	expiries := s.expiriesOf(ctx, p) // read while LogicMonitor answers
	err = s.withLM(ctx, p, func(c logicmonitor.Portal, cr secrets.Credentials) error {
		l, err := c.ListTokens(ctx, in.AdminID, logicmonitor.ListOptions{
			Type: in.Type, Permission: in.Permission, Fields: in.Fields, Filter: in.Filter, Size: in.Size, Offset: in.Offset,
		})
		if err != nil {
			return err
		}
		out, creds = ListOutput{Total: l.Total, Items: l.Items}, cr
		return nil
	})
	if out.Items == nil {
		out.Items = []logicmonitor.Token{}
	}
	if err == nil {
		out.LifetimesUnknown = !s.annotateLifetimes(ctx, creds, expiries, out.Items)
	}
	return out, err
}

// expiriesOf starts reading the portal's keys' expiries (see
// secrets.KeyStore.Expiries) and returns a function that waits for them.
func (s *Service) expiriesOf(ctx context.Context, p *portalState) func() (map[int64]time.Time, error) {
	type result struct {
		m   map[int64]time.Time
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := p.keys.Expiries(ctx)
		ch <- result{m, err}
	}()
	return func() (map[int64]time.Time, error) {
		r := <-ch
		return r.m, r.err
	}
}

// annotateLifetimes shows, on the tokens lmtokens gave a lifetime, when it
// ends, and flags the tokens older than the portal's maximum lifetime. The
// expiries come from one listing of the keys' tags (an index, shown as
// such); a failed one leaves the page without them and says so.
func (s *Service) annotateLifetimes(ctx context.Context, creds secrets.Credentials, expiriesOf func() (map[int64]time.Time, error), items []logicmonitor.Token) bool {
	now := s.now()
	if capDays := s.capDays(creds.MaxLifetimeDays); capDays > 0 {
		oldest := now.Add(-time.Duration(capDays) * 24 * time.Hour).Unix()
		for i := range items {
			items[i].OverMaxLifetime = items[i].CreatedOn > 0 && items[i].CreatedOn < oldest
		}
	}
	expiries, err := expiriesOf()
	if err != nil {
		s.log.WarnContext(ctx, "the listing goes without the tokens' expiries", "error", err.Error())
		return false
	}
	for i := range items {
		if at, ok := expiries[items[i].ID]; ok {
			items[i].ExpiresAt = &at
		}
	}
	return true
}

// Inventory bounds: one answer holds at most MaxInventoryTokens tokens and
// MaxInventoryBytes of JSON, under Lambda's 6 MB result (API Gateway
// compresses what it sends on).
const (
	MaxInventoryTokens = 15000
	MaxInventoryBytes  = 5 << 20
)

// inventory lists every token of both types (or the types asked for), pages
// fetched concurrently after the first, within the inventory bounds.
func (s *Service) inventory(ctx context.Context, p *portalState, in ListInput) (ListOutput, error) {
	var all logicmonitor.Listing
	types := []string{logicmonitor.TypeLMv1, logicmonitor.TypeBearer}
	if in.Type != "" {
		types = []string{in.Type}
	}
	var creds secrets.Credentials
	expiries := s.expiriesOf(ctx, p) // read while LogicMonitor answers
	err := s.withLM(ctx, p, func(c logicmonitor.Portal, cr secrets.Credentials) error {
		var err error
		creds = cr
		all, err = c.TokenListing(ctx, logicmonitor.ListAllOptions{
			AdminID: in.AdminID, Types: types, Filter: in.Filter, Fields: in.Fields, MaxTokens: MaxInventoryTokens,
		})
		return err
	})
	var tooMany *logicmonitor.TooManyError
	if errors.As(err, &tooMany) {
		return ListOutput{}, &Error{Kind: KindTooLarge, Message: fmt.Sprintf(
			"the inventory holds %d tokens, more than the %d one answer carries: page through it with size and offset (or narrow it with a filter)", tooMany.Total, MaxInventoryTokens)}
	}
	if err != nil {
		return ListOutput{}, err
	}
	out := ListOutput{Total: len(all.Tokens), Items: all.Tokens, ChangedDuringListing: all.Changed}
	if out.Items == nil {
		out.Items = []logicmonitor.Token{}
	}
	out.LifetimesUnknown = !s.annotateLifetimes(ctx, creds, expiries, out.Items)
	b, err := json.Marshal(out)
	if err != nil {
		return ListOutput{}, err
	}
	if len(b) > MaxInventoryBytes {
		return ListOutput{}, &Error{Kind: KindTooLarge, Message: fmt.Sprintf(
			"the inventory is %d bytes, more than the %d one answer carries: page through it with size and offset, or ask for fewer fields", len(b), MaxInventoryBytes)}
	}
	out.encoded = b // encoded once: an inventory runs to megabytes
	return out, nil
}

// PortalStatus is one portal of GET /portals: never a key.
type PortalStatus struct {
	Name    string `json:"name"`
	Default bool   `json:"default,omitempty"`
	// Credentials is "ok", or what is wrong with them.
	Credentials string `json:"credentials"`
}

// PortalsOutput lists the portals a deployment serves.
type PortalsOutput struct {
	Portals []PortalStatus `json:"portals"`
}

// portalsStatus lists the default portal and every registered one, each
// checked with one small request, all at once.
func (s *Service) Portals(ctx context.Context) (PortalsOutput, error) {
	names, _, err := s.portalNames(ctx, true)
	if err != nil {
		return PortalsOutput{}, err
	}
	out := PortalsOutput{Portals: make([]PortalStatus, len(names)+1)}
	var wg sync.WaitGroup
	for i, name := range append([]string{""}, names...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := PortalStatus{Name: name, Default: name == "", Credentials: "ok"}
			p, err := s.lookupPortal(ctx, name)
			if err == nil {
				err = s.withLM(ctx, p, func(c logicmonitor.Portal, cr secrets.Credentials) error {
					if st.Default {
						st.Name = cr.Company
					}
					_, err := c.ListTokens(ctx, 0, logicmonitor.ListOptions{Size: 1, Fields: "id"})
					return err
				})
			}
			if err != nil {
				st.Credentials = Classify(err, s.cfg.CredentialsSecret).Message
			}
			out.Portals[i] = st
		}()
	}
	wg.Wait()
	return out, nil
}

func (s *Service) Toggle(ctx context.Context, in ToggleInput) (*logicmonitor.Token, error) {
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return nil, err
	}
	if in.Status != nil && *in.Status == logicmonitor.StatusEnabled {
		// Enabling gives a token power: a protected user's tokens may
		// only lose it (disable, delete), as create mints none for them.
		if err := s.guardProtected(ctx, p, in.AdminID); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Kind == KindForbidden {
				e.Message = strings.Replace(e.Message, "lmtokens does not create tokens for it", "lmtokens does not enable its tokens (disabling and deleting them stay allowed)", 1)
			}
			return nil, err
		}
	}
	var before, after *logicmonitor.Token
	err = s.withLM(ctx, p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
		// Read first: the event says what changed. The update sends only
		// the fields asked for, so a change made meanwhile stays.
		cur, err := c.GetToken(ctx, in.AdminID, in.TokenID)
		if err != nil {
			return err
		}
		opts := logicmonitor.UpdateOptions{Status: in.Status, Note: in.Note}
		t, err := c.UpdateToken(ctx, in.AdminID, in.TokenID, opts)
		if t != nil {
			t.Type = cur.Type // from the query that found it
		}
		before, after = cur, t
		return err
	})
	if err != nil {
		return nil, err
	}
	d := s.tokenDetail(ctx, p.name, *before, lifecycle.ReasonRequest)
	d.Before, d.After = &lifecycle.State{Status: before.Status, Note: before.Note}, &lifecycle.State{Status: after.Status, Note: after.Note}
	s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenUpdated, Detail: d})
	return after, nil
}

// DeleteOutput is the answer to a delete.
type DeleteOutput struct {
	AdminID int64 `json:"adminId"`
	TokenID int64 `json:"tokenId"`
	Deleted bool  `json:"deleted"`
	// AlreadyGone says LogicMonitor had no such token, but a stored secret
	// was still there and is now scheduled for deletion.
	AlreadyGone bool               `json:"alreadyGone,omitempty"`
	Secret      *secrets.SecretRef `json:"secret"`
	// Notes say what else the delete did (a rotation under way cancelled)
	// or left alone and why (a secret tagged with the token that does not
	// hold its key).
	Notes []string `json:"notes,omitempty"`
}

// remove deletes the token, then schedules the deletion of the secret that
// holds its key. A token LogicMonitor no longer has still gets its secret
// cleaned up, so retrying a delete that failed halfway finishes it.
func (s *Service) Delete(ctx context.Context, in DeleteInput) (DeleteOutput, error) {
	p, err := s.lookupPortal(ctx, in.Portal)
	if err != nil {
		return DeleteOutput{}, err
	}
	gone := logicmonitor.Token{ID: in.TokenID, AdminID: in.AdminID}
	lmErr := s.withLM(ctx, p, func(c logicmonitor.Portal, _ secrets.Credentials) error {
		// Read first: the event names what was deleted.
		if t, err := c.GetToken(ctx, in.AdminID, in.TokenID); err == nil {
			gone = *t
		} else if !logicmonitor.IsNotFound(err) {
			return err
		}
		return c.DeleteToken(ctx, in.AdminID, in.TokenID)
	})
	if lmErr != nil && !logicmonitor.IsNotFound(lmErr) {
		return DeleteOutput{}, lmErr
	}
	kd, err := s.deleteKey(ctx, p, in.AdminID, in.TokenID, madeRecently(gone, s.now()))
	if err != nil {
		return DeleteOutput{}, &Error{Kind: KindUpstream, Message: fmt.Sprintf(
			"token %d is deleted from LogicMonitor, but its secret could not be scheduled for deletion (%v): retry the delete to finish", in.TokenID, err)}
	}
	ref := kd.ref
	if lmErr != nil && (ref == nil || ref.WasScheduled) && len(kd.notes) == 0 {
		return DeleteOutput{}, lmErr // nothing was left to do: unknown token
	}
	d := s.tokenDetail(ctx, p.name, gone, lifecycle.ReasonRequest)
	if ref != nil {
		d.Secret = &lifecycle.Secret{Name: ref.Name, ARN: ref.ARN, DeletionDate: ref.DeletionDate}
	}
	s.emit(ctx, lifecycle.Event{DetailType: lifecycle.TokenDeleted, Detail: d})
	return DeleteOutput{AdminID: in.AdminID, TokenID: in.TokenID, Deleted: true, AlreadyGone: lmErr != nil, Secret: ref, Notes: kd.notes}, nil
}

// madeRecently reports whether a token was made so recently that its
// key's secret may not be visible to reads yet.
func madeRecently(t logicmonitor.Token, now time.Time) bool {
	return t.CreatedOn > 0 && now.Sub(time.Unix(t.CreatedOn, 0)) < time.Minute
}
