package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Which token a key's secret holds is read from its value, never from its
// tags alone: anyone allowed TagResource can write a tag, while the value is
// what every consumer of the secret is handed. Tags are an index that finds
// a candidate; the candidate's AWSCURRENT value decides. A secret whose
// tags name a token its value does not hold is a Mismatch: reported, never
// acted on.

// Holder is the secret that holds a token's key now.
type Holder struct {
	Name, ARN string
	// Key is its AWSCURRENT value (zero when Scheduled).
	Key StoredKey
	// Scheduled says it is scheduled for deletion already: its value can
	// no longer be read, and nothing but its claim is left to delete.
	Scheduled bool
	tags      []Tag // as the index showed them (nil: not read)
}

// Ref names the holder for an answer.
func (h *Holder) Ref() *SecretRef {
	return &SecretRef{Name: h.Name, ARN: h.ARN, WasScheduled: h.Scheduled, Type: h.Key.Type}
}

// Mismatch is a secret whose tags name a token its value does not hold.
type Mismatch struct {
	Secret  string
	TokenID int64  // the token its tags name
	Holds   string // what its value holds
}

func (m Mismatch) String() string {
	return fmt.Sprintf("secret %s is tagged as holding token %d, but its value holds %s: lmtokens left it alone", m.Secret, m.TokenID, m.Holds)
}

// MismatchError says a secret's tags and value disagree about the token
// whose key it holds, so lmtokens did not act on it.
type MismatchError struct{ Mismatches []Mismatch }

func (e *MismatchError) Error() string {
	var parts []string
	for _, m := range e.Mismatches {
		parts = append(parts, m.String())
	}
	return strings.Join(parts, "; ")
}

// current is a secret's AWSCURRENT value as a read saw it.
type current struct {
	arn       string
	key       *StoredKey // nil: not lmtokens' key JSON (or no value)
	found     bool
	scheduled bool
}

func (c current) holds(adminID, tokenID int64) bool {
	return c.key != nil && c.key.AdminID == adminID && c.key.TokenID == tokenID
}

func (c current) describe() string {
	if c.key == nil {
		return "no lmtokens key"
	}
	return fmt.Sprintf("token %d of user %d", c.key.TokenID, c.key.AdminID)
}

// readCurrent reads a key secret's AWSCURRENT value. With eventually, a
// secret that is not visible is read again for about a second and a half
// (Secrets Manager's reads lag its writes) before its absence is believed.
func (k *KeyStore) readCurrent(ctx context.Context, name string, eventually bool) (current, error) {
	for attempt := 0; ; attempt++ {
		out, err := k.API.GetSecretValue(ctx, GetInput{SecretID: name})
		switch {
		case err == nil:
			c := current{arn: out.ARN, found: true}
			if key, perr := ParseStoredKey(str(out.String)); perr == nil {
				c.key = &key
			}
			return c, nil
		case isScheduledForDeletion(err):
			return current{found: true, scheduled: true}, nil
		case !isNotFound(err):
			return current{}, &UnavailableError{Op: "GetSecretValue " + name, Err: err}
		case !eventually || attempt == 4:
			return current{}, nil
		}
		select {
		case <-ctx.Done():
			return current{}, &UnavailableError{Op: "GetSecretValue " + name, Err: ctx.Err()}
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
	}
}

// Find returns the secret that holds token tokenID's key now (nil: none),
// and the secrets whose tags claim it but whose values do not.
//
// The secret named for the token holds its key unless a rotation moved the
// secret on to another token (its value then names that one). A token that
// was rotated in is found through the tags of the secret it went into, and
// confirmed by that secret's value. With recent (the token was made a moment
// ago), a secret not yet visible by its name is looked for again across
// Secrets Manager's read lag.
func (k *KeyStore) Find(ctx context.Context, adminID, tokenID int64, recent bool) (*Holder, []Mismatch, error) {
	h, mismatches, seen, err := k.find(ctx, adminID, tokenID, false)
	if err != nil || h != nil || seen || !recent {
		return h, mismatches, err
	}
	// Nothing by either way yet, for a token made a moment ago: its secret
	// may not be visible to reads yet.
	h, mismatches, _, err = k.find(ctx, adminID, tokenID, true)
	return h, mismatches, err
}

// find is one look by the token's own name, then through the index; seen
// says the secret named for the token was there (holding another token).
func (k *KeyStore) find(ctx context.Context, adminID, tokenID int64, eventually bool) (*Holder, []Mismatch, bool, error) {
	name := k.Name(adminID, tokenID)
	cur, err := k.readCurrent(ctx, name, eventually)
	if err != nil {
		return nil, nil, false, err
	}
	switch {
	case cur.scheduled:
		return &Holder{Name: name, Scheduled: true}, nil, true, nil
	case cur.found && cur.holds(adminID, tokenID):
		return &Holder{Name: name, ARN: cur.arn, Key: *cur.key}, nil, true, nil
	}
	// Rotated in elsewhere, or stored nowhere: ask the index.
	cands, err := k.tagged(ctx, adminID, tokenID)
	if err != nil {
		return nil, nil, false, err
	}
	var mismatches []Mismatch
	for _, c := range cands {
		if c.name == name {
			continue // read above: it holds another token
		}
		if c.deleted != nil {
			// Already scheduled; only its claim may be left.
			return &Holder{Name: c.name, ARN: c.arn, Scheduled: true, tags: c.tags}, nil, true, nil
		}
		got, err := k.readCurrent(ctx, c.name, false)
		if err != nil {
			return nil, nil, false, err
		}
		if got.found && got.holds(adminID, tokenID) {
			return &Holder{Name: c.name, ARN: got.arn, Key: *got.key, tags: c.tags}, mismatches, true, nil
		}
		if got.found && !got.scheduled {
			mismatches = append(mismatches, Mismatch{Secret: c.name, TokenID: tokenID, Holds: got.describe()})
		}
	}
	return nil, mismatches, cur.found || len(mismatches) > 0, nil
}

// candidate is a key secret as ListSecrets showed it.
type candidate struct {
	name, arn string
	deleted   *time.Time
	tags      []Tag
	stages    map[string][]string
}

// tagged lists the key secrets of this portal whose tags name token tokenID
// of user adminID (the index; their values decide).
func (k *KeyStore) tagged(ctx context.Context, adminID, tokenID int64) ([]candidate, error) {
	all, err := k.list(ctx, k.Prefix, true,
		Filter{Key: FilterTagKey, Values: []string{TagTokenID}},
		Filter{Key: FilterTagValue, Values: []string{strconv.FormatInt(tokenID, 10)}})
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, c := range all {
		a, _ := tagOf(c.tags, TagAdminID)
		t, _ := tagOf(c.tags, TagTokenID)
		p, _ := tagOf(c.tags, TagPortal)
		// Filters are prefix matches: check each tag exactly.
		if a == strconv.FormatInt(adminID, 10) && t == strconv.FormatInt(tokenID, 10) && p == k.Portal {
			out = append(out, c)
		}
	}
	return out, nil
}

// list returns the secrets whose names start with prefix (exactly: the
// name filter is a loose prefix match), with the filters given.
func (k *KeyStore) list(ctx context.Context, prefix string, planned bool, filters ...Filter) ([]candidate, error) {
	in := ListInput{
		Filters:                append([]Filter{{Key: FilterName, Values: []string{prefix}}}, filters...),
		IncludePlannedDeletion: planned,
		MaxResults:             100,
	}
	var out []candidate
	for {
		page, err := k.API.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + prefix, Err: err}
		}
		for _, sec := range page.Secrets {
			name := sec.Name
			if strings.HasPrefix(name, prefix) {
				out = append(out, candidate{name: name, arn: sec.ARN, deleted: sec.DeletedDate, tags: sec.Tags, stages: sec.Stages})
			}
		}
		if page.NextToken == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// Lookup returns the secret that holds token tokenID's key now (nil for
// none), as Find decides it.
func (k *KeyStore) Lookup(ctx context.Context, adminID, tokenID int64) (*Holder, []Mismatch, error) {
	return k.Find(ctx, adminID, tokenID, false)
}

// ScheduleDeletion schedules the deletion of the secret that holds a key,
// as Find found it, and of the idempotency claim that created the key, with
// the recovery window. A secret scheduled already (an earlier, interrupted
// attempt) still has its claim followed, so a retry always finishes the
// job; ref.WasScheduled is true only when this call found nothing left to do.
//
// The claim is the one the key's value names (or, for keys stored before
// values named it, its claim tag), and is deleted only when its own value
// says it created this secret.
func (k *KeyStore) ScheduleDeletion(ctx context.Context, h *Holder) (*SecretRef, error) {
	ref, already, err := k.deleteSecret(ctx, h.Name)
	if err != nil || ref == nil {
		return ref, err
	}
	claim := h.Key.Claim
	if claim == "" {
		tags := h.tags
		if tags == nil {
			desc, err := k.describeEventually(ctx, h.Name)
			if err != nil {
				return nil, err
			}
			if desc != nil {
				tags = desc.Tags
			}
		}
		claim, _ = tagOf(tags, TagClaim)
	}
	claimAlready := true
	if ours, err := k.claimCreated(ctx, claim, h.Name); err != nil {
		return nil, err
	} else if ours {
		cref, was, err := k.deleteSecret(ctx, claim)
		if err != nil {
			return nil, err
		}
		claimAlready = cref == nil || was
	}
	ref.WasScheduled = already && claimAlready
	return ref, nil
}

// claimCreated reports whether claim is an idempotency record under this
// prefix whose value says it created secret name. One scheduled for
// deletion already can no longer be read, and needs nothing.
func (k *KeyStore) claimCreated(ctx context.Context, claim, name string) (bool, error) {
	if claim == "" || !strings.HasPrefix(claim, k.Prefix+ClaimPath) {
		return false, nil
	}
	out, err := k.API.GetSecretValue(ctx, GetInput{SecretID: claim})
	switch {
	case err == nil:
	case isNotFound(err) || isScheduledForDeletion(err):
		return false, nil
	default:
		return false, &UnavailableError{Op: "GetSecretValue " + claim, Err: err}
	}
	var doc ClaimDoc
	if json.Unmarshal([]byte(str(out.String)), &doc) != nil {
		return false, nil
	}
	return doc.SecretName == name, nil
}

func tagOf(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// PendingTokens returns the tokens whose keys user adminID's key secrets
// hold in a pending version (a rotation under way, or one awaiting its
// retry), by token id, with the secret holding each. Such a token is
// spoken for, though no AWSCURRENT value names it yet.
func (k *KeyStore) PendingTokens(ctx context.Context, adminID int64) (map[int64]string, error) {
	secs, err := k.list(ctx, k.Prefix+strconv.FormatInt(adminID, 10)+"/", false)
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	vs := Versions{API: k.API}
	for _, c := range secs {
		st := State{Stages: c.stages}
		v := st.Pending()
		if v == "" || !k.IsKeyOf(c.name, adminID) {
			continue
		}
		value, found, err := vs.Read(ctx, c.name, v, StagePending)
		if err != nil {
			return nil, err
		}
		if !found {
			continue // no value yet: its createSecret's claim speaks for it
		}
		if key, err := ParseStoredKey(value); err == nil {
			out[key.TokenID] = c.name
		}
	}
	return out, nil
}
