// Command openapi writes lmtokens' OpenAPI document (make openapi).
package main

import (
	"fmt"
	"os"

	"github.com/lmtokens/lmtokens/pkg/local/apidoc"
)

func main() {
	out, err := apidoc.JSON()
	if err == nil {
		err = os.WriteFile(apidoc.File, out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}
