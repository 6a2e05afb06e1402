package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Claims make create requests idempotent without another AWS service.
//
// A request with an idempotency key first creates a claim secret named
// <prefix>idempotency/<adminId>/<hash of the key>. CreateSecret is atomic on
// the name, so of two requests with one key exactly one gets the claim; the
// other reads it and either replays the finished answer or is told the first
// is still running. The claim holds the answer (never the key), is tagged
// onto the key's secret, and is deleted together with it.
type Claims struct {
	API    API
	Prefix string
}

// Claim states. A claim is pending until the token exists, created once the
// token exists and its answer is known (but its key may not be stored yet),
// done when the answer is final, and failed when the request made nothing.
const (
	ClaimPending = "pending"
	ClaimCreated = "created"
	ClaimDone    = "done"
	ClaimFailed  = "failed"
)

// StaleAfter is how long a pending claim may stand before a retry takes it
// over: longer than any create invocation can run.
const StaleAfter = 2 * time.Minute

type claimDoc struct {
	State       string          `json:"state"`
	Fingerprint string          `json:"fingerprint"`
	Status      int             `json:"status,omitempty"`
	Response    json.RawMessage `json:"response,omitempty"`
	// SecretName is the key's secret, for a created claim.
	SecretName string `json:"secretName,omitempty"`
}

// Replay is an earlier answer to repeat. For a created claim the answer
// lacks what only the key's secret can tell (its ARN).
type Replay struct {
	State      string
	Status     int
	Response   json.RawMessage
	SecretName string
}

// ErrInProgress says a request with the same key has not finished.
var ErrInProgress = errors.New("a request with this idempotency key is still in progress")

// ErrKeyReused says the key was used before for a different request.
var ErrKeyReused = errors.New("this idempotency key was used for a different request")

// Name returns the claim secret's name.
func (c *Claims) Name(adminID int64, key string) string {
	h := sha256.Sum256([]byte(key))
	return c.Prefix + "idempotency/" + strconv.FormatInt(adminID, 10) + "/" + hex.EncodeToString(h[:20])
}

// Acquire claims key for a request whose content hashes to fingerprint. It
// returns a Replay when the request already finished, ErrInProgress or
// ErrKeyReused when it may not go ahead, and (nil, nil) when the caller now
// holds the claim and must Complete or Abandon it.
func (c *Claims) Acquire(ctx context.Context, adminID int64, key, fingerprint string) (*Replay, error) {
	name := c.Name(adminID, key)
	pending, _ := json.Marshal(claimDoc{State: ClaimPending, Fingerprint: fingerprint})
	_, err := c.API.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String("lmtokens idempotency record of a create request; holds no key"),
		SecretString: aws.String(string(pending)),
		Tags:         []types.Tag{{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)}, {Key: aws.String(TagAdminID), Value: aws.String(strconv.FormatInt(adminID, 10))}},
	})
	if err == nil {
		return nil, nil
	}
	var exists *types.ResourceExistsException
	if !errors.As(err, &exists) {
		return nil, &UnavailableError{Op: "CreateSecret " + name, Err: err}
	}
	out, err := c.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return nil, &UnavailableError{Op: "GetSecretValue " + name, Err: err}
	}
	var doc claimDoc
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		return nil, &UnavailableError{Op: "GetSecretValue " + name, Err: errors.New("claim is not valid JSON")}
	}
	stale := out.CreatedDate != nil && time.Since(*out.CreatedDate) > StaleAfter
	switch {
	case doc.Fingerprint != fingerprint:
		return nil, ErrKeyReused
	case doc.State == ClaimDone || doc.State == ClaimCreated:
		return &Replay{State: doc.State, Status: doc.Status, Response: doc.Response, SecretName: doc.SecretName}, nil
	case doc.State == ClaimFailed || (doc.State == ClaimPending && stale):
		// The earlier request made nothing (or died before making
		// anything): this one takes the claim over.
		if err := c.put(ctx, name, claimDoc{State: ClaimPending, Fingerprint: fingerprint}); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return nil, ErrInProgress
}

// Created records that the token exists, with its answer and the name of
// the secret its key goes to. It comes before the key is stored, so that a
// failure to record it can still be undone by deleting the token.
func (c *Claims) Created(ctx context.Context, adminID int64, key, fingerprint, secretName string, status int, response json.RawMessage) error {
	return c.put(ctx, c.Name(adminID, key), claimDoc{State: ClaimCreated, Fingerprint: fingerprint, Status: status, Response: response, SecretName: secretName})
}

// Complete records the answer to replay.
func (c *Claims) Complete(ctx context.Context, adminID int64, key, fingerprint string, status int, response json.RawMessage) error {
	return c.put(ctx, c.Name(adminID, key), claimDoc{State: ClaimDone, Fingerprint: fingerprint, Status: status, Response: response})
}

// Abandon releases a claim whose request made nothing, so a retry runs again.
func (c *Claims) Abandon(ctx context.Context, adminID int64, key, fingerprint string) error {
	return c.put(ctx, c.Name(adminID, key), claimDoc{State: ClaimFailed, Fingerprint: fingerprint})
}

func (c *Claims) put(ctx context.Context, name string, doc claimDoc) error {
	v, _ := json.Marshal(doc)
	_, err := c.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(v))})
	if err != nil {
		return &UnavailableError{Op: "PutSecretValue " + name, Err: err}
	}
	return nil
}
