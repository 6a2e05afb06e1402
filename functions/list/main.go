// Command list is the lmtokens Lambda function that lists API tokens (GET /tokens, GET /admins/{adminId}/tokens, or a direct request).
// All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Handler(handlers.List))
}
