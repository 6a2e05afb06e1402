// Package awsevents puts lmtokens' lifecycle events on EventBridge
// (PutEvents over AWS JSON 1.1, signed with the function's credentials):
// the adapter behind lifecycle.API.
package awsevents

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lmtokens/lmtokens/pkg/awsenv"
	"github.com/lmtokens/lmtokens/pkg/awsjson"
	"github.com/lmtokens/lmtokens/pkg/lifecycle"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// Client calls EventBridge's PutEvents (AWS JSON 1.1) and nothing else.
type Client struct {
	awsjson.Client
}

// NewClient returns a client of EventBridge at endpoint.
func NewClient(endpoint, region string, creds aws.CredentialsProvider) *Client {
	return &Client{awsjson.Client{Endpoint: endpoint, Region: region, Service: "events", Version: "1.1", Credentials: creds}}
}

// PutEvents puts entries (at most 10) and returns the answer per entry.
func (c *Client) PutEvents(ctx context.Context, entries []lifecycle.Entry) ([]lifecycle.EntryResult, error) {
	var out struct {
		Entries []lifecycle.EntryResult `json:"Entries"`
	}
	if err := c.Call(ctx, "AWSEvents.PutEvents", map[string]any{"Entries": entries}, &out); err != nil {
		return nil, fmt.Errorf("EventBridge PutEvents: %w", err)
	}
	if len(out.Entries) != len(entries) {
		return nil, fmt.Errorf("EventBridge PutEvents: an answer that does not account for every entry")
	}
	return out.Entries, nil
}

// EmitterFromEnv builds the emitter a function runs: the bus EVENT_BUS_NAME
// names (none: no events), reached at AWS_ENDPOINT_URL_EVENTBRIDGE (or
// AWS_ENDPOINT_URL, the SDK's own settings) or EventBridge's regional
// endpoint, with the function's credentials.
func EmitterFromEnv(env awsenv.Env, log *slog.Logger) *lifecycle.Emitter {
	bus := os.Getenv(settings.EventBus.Env)
	if bus == "" {
		return &lifecycle.Emitter{Log: log}
	}
	endpoint := awsenv.Endpoint("EVENTBRIDGE")
	if endpoint == "" {
		endpoint = "https://events." + env.Region + ".amazonaws.com"
	}
	return &lifecycle.Emitter{API: NewClient(endpoint, env.Region, env.Credentials), Bus: bus, Log: log}
}
