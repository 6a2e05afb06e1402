// Package secrets is lmtokens' use of AWS Secrets Manager: reading the
// functions' own LogicMonitor credentials (cached, re-read after a
// rejection), storing every newly created key, scheduling its deletion, and
// the idempotency claims of create requests. It is written against API, its
// port to the service; pkg/awssecrets adapts the AWS SDK to it.
package secrets

import "fmt"

// awsMessage shortens a service error to its message, which names the
// operation and the cause but never a secret's value.
func awsMessage(op string, err error) string {
	return fmt.Sprintf("Secrets Manager %s: %v", op, err)
}

// str is a value that may be absent (a binary secret's string), as text.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
