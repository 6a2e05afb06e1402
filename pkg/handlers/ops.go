package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// result is a successful answer.
type result struct {
	status int
	body   any
}

// ListOutput is a page of tokens.
type ListOutput struct {
	Total int                  `json:"total"`
	Items []logicmonitor.Token `json:"items"`
}

func (s *Service) list(ctx context.Context, in ListInput) (result, error) {
	var out ListOutput
	err := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		l, err := c.Tokens.List(ctx, in.AdminID, logicmonitor.ListOptions{
			Type: in.Type, Permission: in.Permission, Fields: in.Fields, Filter: in.Filter, Size: in.Size, Offset: in.Offset,
		})
		if err != nil {
			return err
		}
		out = ListOutput{Total: l.Total, Items: l.Items}
		return nil
	})
	if out.Items == nil {
		out.Items = []logicmonitor.Token{}
	}
	return result{http.StatusOK, out}, err
}

func (s *Service) toggle(ctx context.Context, in ToggleInput) (result, error) {
	var tok *logicmonitor.Token
	err := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		t, err := c.Tokens.Update(ctx, in.AdminID, in.TokenID, logicmonitor.UpdateOptions{Status: in.Status, Note: in.Note})
		tok = t
		return err
	})
	if err != nil {
		return result{}, err
	}
	return result{http.StatusOK, tok}, nil
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
}

// remove deletes the token, then schedules its secret's deletion. A token
// LogicMonitor no longer has still gets its secret cleaned up, so retrying a
// delete that failed halfway finishes it.
func (s *Service) remove(ctx context.Context, in DeleteInput) (result, error) {
	lmErr := s.withLM(ctx, func(c *logicmonitor.Client, _ secrets.Credentials) error {
		return c.Tokens.Delete(ctx, in.AdminID, in.TokenID)
	})
	if lmErr != nil && !logicmonitor.IsNotFound(lmErr) {
		return result{}, lmErr
	}
	ref, err := s.keys.ScheduleDeletion(ctx, in.AdminID, in.TokenID)
	if err != nil {
		return result{}, &Error{Type: TypeUpstream, Status: http.StatusBadGateway, Message: fmt.Sprintf(
			"token %d is deleted from LogicMonitor, but its secret could not be scheduled for deletion (%v): retry the delete to finish", in.TokenID, err)}
	}
	if lmErr != nil {
		if ref == nil || ref.WasScheduled {
			return result{}, lmErr // nothing was left to do: unknown token
		}
		return result{http.StatusOK, DeleteOutput{AdminID: in.AdminID, TokenID: in.TokenID, Deleted: true, AlreadyGone: true, Secret: ref}}, nil
	}
	return result{http.StatusOK, DeleteOutput{AdminID: in.AdminID, TokenID: in.TokenID, Deleted: true, Secret: ref}}, nil
}
