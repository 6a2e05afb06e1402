package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Entry is one event of a PutEvents call.
type Entry struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
}

// EntryResult is EventBridge's answer for one entry: an id, or an error.
type EntryResult struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// Client calls EventBridge's PutEvents (AWS JSON 1.1, SigV4) and nothing
// else. It is written by hand on the SDK's signer, which the functions link
// anyway, because the SDK's EventBridge client would add ~0.5 MiB and a
// measurable share of every cold start for this one operation.
type Client struct {
	Endpoint    string // e.g. https://events.us-east-1.amazonaws.com
	Region      string
	Credentials aws.CredentialsProvider
	HTTP        *http.Client
	signer      *v4.Signer
}

// PutEvents puts entries (at most 10) and returns the answer per entry.
func (c *Client) PutEvents(ctx context.Context, entries []Entry) ([]EntryResult, error) {
	body, err := json.Marshal(map[string]any{"Entries": entries})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("EventBridge credentials: %w", err)
	}
	if c.signer == nil {
		c.signer = v4.NewSigner()
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "events", c.Region, time.Now()); err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("EventBridge PutEvents: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, fmt.Errorf("EventBridge PutEvents: HTTP %d %s: %s", resp.StatusCode, e.Type, e.Message)
	}
	var out struct {
		Entries []EntryResult `json:"Entries"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Entries) != len(entries) {
		return nil, fmt.Errorf("EventBridge PutEvents: an answer that does not account for every entry")
	}
	return out.Entries, nil
}
