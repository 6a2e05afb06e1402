package secrets_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lmtokens/lmtokens/pkg/awssecrets"
	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// The claim state machine, through the real SDK against the local Secrets
// Manager.

func claims(t *testing.T) (*secrets.Claims, *localsecrets.Server, *time.Time) {
	t.Helper()
	srv := localsecrets.Start()
	t.Cleanup(srv.Close)
	api := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
	now := time.Now()
	return &secrets.Claims{API: awssecrets.New(api), Prefix: "p/", Now: func() time.Time { return now }}, srv, &now
}

var ctx = context.Background()

func TestClaimLifecycle(t *testing.T) {
	c, _, _ := claims(t)
	h, replay, err := c.Acquire(ctx, 2, "k", "fp", "a", "")
	if err != nil || h == nil || replay != nil || h.Previous != nil {
		t.Fatalf("first acquire: %v %v %v", h, replay, err)
	}
	if _, _, err := c.Acquire(ctx, 2, "k", "fp", "b", ""); !errors.Is(err, secrets.ErrInProgress) {
		t.Fatalf("while posting: %v", err)
	}
	if _, _, err := c.Acquire(ctx, 2, "k", "other", "b", ""); !errors.Is(err, secrets.ErrKeyReused) {
		t.Fatalf("other request: %v", err)
	}
	// Nothing was made: the next request takes the claim, with nothing to check.
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h, _, err = c.Acquire(ctx, 2, "k", "fp", "b", "")
	if err != nil || h == nil || h.Previous != nil {
		t.Fatalf("after release: %v %v", h, err)
	}
	if err := h.RecordCreated(ctx, 9, "p/2/9", http.StatusCreated, []byte(`{"id":9}`)); err != nil {
		t.Fatal(err)
	}
	// Created but its key is not stored yet (no secret p/2/9): in progress.
	if _, _, err := c.Acquire(ctx, 2, "k", "fp", "c", ""); !errors.Is(err, secrets.ErrInProgress) {
		t.Fatalf("while storing: %v", err)
	}
	if err := h.RecordDone(ctx, 201, []byte(`{"id":9}`), "p/2/9"); err != nil {
		t.Fatal(err)
	}
	_, replay, err = c.Acquire(ctx, 2, "k", "fp", "c", "")
	if err != nil || replay == nil || replay.Status != 201 || string(replay.Response) != `{"id":9}` {
		t.Fatalf("replay: %+v %v", replay, err)
	}
}

// A claim stuck in posting past StaleAfter is taken over, and the taker is
// told what the dead attempt may have left and since when.
func TestStaleClaimIsTakenOverWithWhatToCheck(t *testing.T) {
	c, _, now := claims(t)
	if _, _, err := c.Acquire(ctx, 2, "k", "fp", "dead", ""); err != nil {
		t.Fatal(err)
	}
	since := now.Unix()
	*now = now.Add(secrets.StaleAfter + time.Second)
	h, _, err := c.Acquire(ctx, 2, "k", "fp", "b", "")
	if err != nil || h.Previous == nil || h.Previous.State != secrets.ClaimPosting || h.Since().Unix() != since {
		t.Fatalf("takeover: %+v %v", h, err)
	}
}

// Two instances that read the same version: exactly one write wins.
func TestCompareAndSetHasOneWinner(t *testing.T) {
	c, _, _ := claims(t)
	h, _, _ := c.Acquire(ctx, 2, "k", "fp", "a", "")
	_ = h.RecordUnresolved(ctx, time.Now(), 0)
	// Both see the unresolved claim and try to take it.
	h1, _, err1 := c.Acquire(ctx, 2, "k", "fp", "x", "")
	_, _, err2 := c.Acquire(ctx, 2, "k", "fp", "y", "")
	if err1 != nil || h1 == nil || !errors.Is(err2, secrets.ErrInProgress) {
		t.Fatalf("%v / %v", err1, err2)
	}
	// The original holder lost the claim and learns it on its next write.
	if err := h.Release(ctx); !errors.Is(err, secrets.ErrClaimLost) {
		t.Fatalf("stale holder wrote: %v", err)
	}
	// The winner's own write repeated (an SDK retry) is a no-op.
	if err := h1.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A claim scheduled for deletion (its token was deleted) retires the key.
func TestRetiredKey(t *testing.T) {
	c, srv, _ := claims(t)
	h, _, _ := c.Acquire(ctx, 2, "k", "fp", "a", "")
	_ = h.RecordDone(ctx, 201, []byte(`{}`), "p/2/1")
	if _, err := c.API.DeleteSecret(ctx, secrets.DeleteInput{SecretID: h.Name(), RecoveryDays: 7}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Acquire(ctx, 2, "k", "fp", "b", ""); !errors.Is(err, secrets.ErrKeyRetired) {
		t.Fatalf("same request: %v", err)
	}
	if _, _, err := c.Acquire(ctx, 2, "k", "fp2", "b", ""); !errors.Is(err, secrets.ErrKeyReused) {
		t.Fatalf("other request: %v", err)
	}
	if len(srv.Calls("CreateSecret")) != 3 {
		t.Fatal("expected three CreateSecret calls")
	}
}
