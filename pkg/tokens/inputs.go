package tokens

import "time"

// The inputs of the domain's operations: what a transport decoded and
// checked against the public contract.

// ListInput lists one page of tokens, across users (AdminID 0) or of one,
// or with All every token (the inventory).
type ListInput struct {
	Portal     string // "" for the default portal
	All        bool
	AdminID    int64
	Type       string
	Permission string
	Fields     string
	Filter     string
	Size       int
	Offset     int
}

// CreateInput creates a token for a user.
type CreateInput struct {
	Portal         string
	AdminID        int64
	Note           string
	Type           string
	Status         int
	IdempotencyKey string
	// RotationDays schedules the key's rotation (0: the deployment's
	// default, TOKEN_ROTATION_DAYS).
	RotationDays int
	// ExpiresInDays or ExpiresAt (at most one) end the token's lifetime;
	// neither: the portal's cap, if it has one, else none.
	ExpiresInDays int
	ExpiresAt     *time.Time
	// life is the lifetime Create decided (see lifetimeOf).
	life lifetime
	// retry says how to retry the request in answers that ask for it (a
	// rotation's createSecret is retried by Secrets Manager, not by a key).
	retry string
}

func (in CreateInput) retryAdvice() string {
	if in.retry != "" {
		return in.retry
	}
	return "retry with the same Idempotency-Key"
}

// RotateInput starts a rotation of a stored key.
type RotateInput struct {
	Portal  string
	AdminID int64
	TokenID int64
}

// ToggleInput changes a token's status and/or note.
type ToggleInput struct {
	Portal  string
	AdminID int64
	TokenID int64
	Status  *int
	Note    *string
}

// DeleteInput deletes a token and schedules its secret's deletion.
type DeleteInput struct {
	Portal  string
	AdminID int64
	TokenID int64
}
