// Command hello is the smallest aws-lambda-go function: the baseline the
// benchmarks compare each lmtokens function's size and cold start against.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in map[string]any) (map[string]any, error) { return in, nil })
}
