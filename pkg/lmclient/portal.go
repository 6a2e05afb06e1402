package lmclient

import (
	"context"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// The client is the domain's logicmonitor.Portal.
var _ logicmonitor.Portal = (*Client)(nil)

// ListTokens is Tokens.List.
func (c *Client) ListTokens(ctx context.Context, adminID int64, opts logicmonitor.ListOptions) (*logicmonitor.TokenList, error) {
	return c.Tokens.List(ctx, adminID, opts)
}

// AllTokens is Tokens.ListAll.
func (c *Client) AllTokens(ctx context.Context, opts logicmonitor.ListAllOptions) ([]logicmonitor.Token, error) {
	return c.Tokens.ListAll(ctx, opts)
}

// TokenListing is Tokens.Listing.
func (c *Client) TokenListing(ctx context.Context, opts logicmonitor.ListAllOptions) (logicmonitor.Listing, error) {
	return c.Tokens.Listing(ctx, opts)
}

// GetToken is Tokens.Get.
func (c *Client) GetToken(ctx context.Context, adminID, tokenID int64, types ...string) (*logicmonitor.Token, error) {
	return c.Tokens.Get(ctx, adminID, tokenID, types...)
}

// CreateToken is Tokens.Create.
func (c *Client) CreateToken(ctx context.Context, adminID int64, opts logicmonitor.CreateOptions) (*logicmonitor.CreatedToken, error) {
	return c.Tokens.Create(ctx, adminID, opts)
}

// UpdateToken is Tokens.Update.
func (c *Client) UpdateToken(ctx context.Context, adminID, tokenID int64, opts logicmonitor.UpdateOptions) (*logicmonitor.Token, error) {
	return c.Tokens.Update(ctx, adminID, tokenID, opts)
}

// DeleteToken is Tokens.Delete.
func (c *Client) DeleteToken(ctx context.Context, adminID, tokenID int64) error {
	return c.Tokens.Delete(ctx, adminID, tokenID)
}

// GetAdmin is Admins.Get.
func (c *Client) GetAdmin(ctx context.Context, adminID int64) (*logicmonitor.Admin, error) {
	return c.Admins.Get(ctx, adminID)
}

// Connector returns the connector the functions use: every Portal it makes
// shares base's settings (HTTP client, user agent, allowed hosts) and takes
// its company, endpoint, credentials and request counter from the
// connection.
func Connector(base Options) logicmonitor.Connector {
	return func(c logicmonitor.Connection) (logicmonitor.Portal, error) {
		o := base
		o.Company, o.BaseURL, o.Auth, o.RequestCounter = c.Company, c.BaseURL, c.Auth, c.Requests
		return New(o)
	}
}
