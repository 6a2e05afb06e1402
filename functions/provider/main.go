// Command provider is the lmtokens Lambda function behind the
// Custom::LogicMonitorApiToken CloudFormation resource: it creates, updates
// and deletes a token and its stored key, and answers CloudFormation.
// All logic lives in pkg/handlers; this is wiring only.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lmtokens/lmtokens/pkg/handlers"
)

func main() {
	lambda.Start(handlers.NewFromEnv().Provider())
}
