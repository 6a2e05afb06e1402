// Package logicmonitor is LogicMonitor's REST API v3 as lmtokens' domain
// sees it: tokens, users, the options of each call, the errors a portal
// answers with, and Portal, the port the domain calls. It does no I/O;
// pkg/lmclient is the HTTP client behind Portal.
package logicmonitor

import (
	"context"
	"sync/atomic"

	"github.com/lmtokens/lmtokens/pkg/lmauth"
)

// Portal is one portal's API-token and user resources, as lmtokens' domain
// calls them: the port pkg/lmclient implements over HTTP (signed, paced and
// retried), so that the domain links no HTTP client and tests may stand in.
type Portal interface {
	// ListTokens returns one page of tokens across all users (adminID 0)
	// or of one user.
	ListTokens(ctx context.Context, adminID int64, opts ListOptions) (*TokenList, error)
	// AllTokens returns every token a listing selects.
	AllTokens(ctx context.Context, opts ListAllOptions) ([]Token, error)
	// TokenListing returns every token a listing selects, and whether the
	// portal changed while it was read.
	TokenListing(ctx context.Context, opts ListAllOptions) (Listing, error)
	// GetToken returns one token of adminID (of the types named, or
	// either); an absent one is an *Error of KindNotFound.
	GetToken(ctx context.Context, adminID, tokenID int64, types ...string) (*Token, error)
	// CreateToken makes a token; its answer alone holds the key.
	CreateToken(ctx context.Context, adminID int64, opts CreateOptions) (*CreatedToken, error)
	// UpdateToken changes the fields opts sets and returns the token.
	UpdateToken(ctx context.Context, adminID, tokenID int64, opts UpdateOptions) (*Token, error)
	// DeleteToken removes a token.
	DeleteToken(ctx context.Context, adminID, tokenID int64) error
	// GetAdmin returns one user with its roles.
	GetAdmin(ctx context.Context, adminID int64) (*Admin, error)
	// Rate is the rate-limit state of the portal's latest answer.
	Rate() Rate
}

// Connection names a portal and the credentials that sign its requests.
type Connection struct {
	Company string
	BaseURL string // "": https://<company>.logicmonitor.com/santaba/rest
	Auth    lmauth.Authenticator
	// Requests, if set, counts every request sent through the Portal.
	Requests *atomic.Int64
}

// Connector makes the Portal of a connection. It refuses an endpoint the
// deployment does not allow with an *EndpointError, before any request.
type Connector func(Connection) (Portal, error)
