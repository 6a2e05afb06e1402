// Command echo is a test function for the local Runtime API: it echoes its
// input, fails on request, and reports the deadline it was given.
package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type in struct {
	Fail bool   `json:"fail"`
	Echo string `json:"echo"`
	// Pad makes the answer this many bytes longer.
	Pad int `json:"pad"`
}

type out struct {
	Echo        string `json:"echo"`
	RequestID   string `json:"requestId"`
	DeadlineInS int    `json:"deadlineInS"`
}

func main() {
	lambda.Start(func(ctx context.Context, v in) (out, error) {
		if v.Fail {
			return out{}, errors.New("asked to fail")
		}
		lc, _ := lambdacontext.FromContext(ctx)
		dl, _ := ctx.Deadline()
		return out{Echo: v.Echo + strings.Repeat("x", v.Pad), RequestID: lc.AwsRequestID, DeadlineInS: int(time.Until(dl).Round(time.Second).Seconds())}, nil
	})
}
