// Package awsjson calls one operation of an AWS service that speaks the AWS
// JSON protocols (1.0 and 1.1: a POST of JSON, the operation in
// X-Amz-Target, SigV4-signed) or a REST-JSON POST (Security Hub's
// BatchImportFindings). lmtokens calls such operations outside Secrets
// Manager (EventBridge's PutEvents, DynamoDB's item calls, Security Hub);
// writing them on the SDK's signer, which the functions link anyway, keeps
// each function ~0.5 MiB smaller per SDK client and its cold start shorter.
package awsjson

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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// transport keeps up to 64 idle connections to each endpoint: a run over
// many portals puts each one's events and marks at once, and Go's default
// of 2 would close the others and open them again (a TLS handshake each).
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}()

// Client calls one service at one endpoint.
type Client struct {
	Endpoint    string // e.g. https://dynamodb.us-east-1.amazonaws.com
	Region      string
	Service     string // the signing name: events, dynamodb
	Version     string // "1.0" or "1.1"
	Credentials aws.CredentialsProvider
	HTTP        *http.Client

	once   sync.Once
	signer *v4.Signer
}

// Error is a service's error answer.
type Error struct {
	Operation string
	Status    int
	// Type is the error's name without its namespace, e.g.
	// ConditionalCheckFailedException.
	Type    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s: %s", e.Operation, e.Status, e.Type, e.Message)
}

// Retryable says whether the same call may succeed later: throttling or
// the service's own trouble.
func (e *Error) Retryable() bool {
	return e.Status >= 500 || strings.Contains(e.Type, "Throttl") || e.Type == "ProvisionedThroughputExceededException" || e.Type == "RequestLimitExceeded"
}

// Call sends in to target (e.g. "DynamoDB_20120810.Query") and decodes the
// answer into out. An answer other than 200 is an *Error.
func (c *Client) Call(ctx context.Context, target string, in, out any) error {
	return c.do(ctx, "/", target, target[strings.LastIndex(target, ".")+1:], in, out)
}

// Post sends in to a REST-JSON operation's path (e.g. Security Hub's
// /findings/import), named op in errors, and decodes the answer into out.
func (c *Client) Post(ctx context.Context, path, op string, in, out any) error {
	return c.do(ctx, path, "", op, in, out)
}

func (c *Client) do(ctx context.Context, path, target, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if target != "" {
		req.Header.Set("Content-Type", "application/x-amz-json-"+c.Version)
		req.Header.Set("X-Amz-Target", target)
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("%s credentials: %w", c.Service, err)
	}
	c.once.Do(func() { c.signer = v4.NewSigner() })
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), c.Service, c.Region, time.Now()); err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second, Transport: transport}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.Service, op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type     string `json:"__type"`
			Code     string `json:"Code"`
			Message  string `json:"message"`
			MessageU string `json:"Message"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Message == "" {
			e.Message = e.MessageU
		}
		// REST-JSON services name the error in a header, or as Code.
		if e.Type == "" {
			e.Type = resp.Header.Get("X-Amzn-ErrorType")
			if i := strings.Index(e.Type, ":"); i >= 0 {
				e.Type = e.Type[:i]
			}
		}
		if e.Type == "" {
			e.Type = e.Code
		}
		return &Error{Operation: c.Service + " " + op, Status: resp.StatusCode, Type: e.Type[strings.LastIndex(e.Type, "#")+1:], Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: an answer that is not JSON", c.Service, op)
	}
	return nil
}
