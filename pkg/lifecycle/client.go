package lifecycle

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lmtokens/lmtokens/pkg/awsjson"
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

// Client calls EventBridge's PutEvents (AWS JSON 1.1) and nothing else.
type Client struct {
	awsjson.Client
}

// NewClient returns a client of EventBridge at endpoint.
func NewClient(endpoint, region string, creds aws.CredentialsProvider) *Client {
	return &Client{awsjson.Client{Endpoint: endpoint, Region: region, Service: "events", Version: "1.1", Credentials: creds}}
}

// PutEvents puts entries (at most 10) and returns the answer per entry.
func (c *Client) PutEvents(ctx context.Context, entries []Entry) ([]EntryResult, error) {
	var out struct {
		Entries []EntryResult `json:"Entries"`
	}
	if err := c.Call(ctx, "AWSEvents.PutEvents", map[string]any{"Entries": entries}, &out); err != nil {
		return nil, fmt.Errorf("EventBridge PutEvents: %w", err)
	}
	if len(out.Entries) != len(entries) {
		return nil, fmt.Errorf("EventBridge PutEvents: an answer that does not account for every entry")
	}
	return out.Entries, nil
}
