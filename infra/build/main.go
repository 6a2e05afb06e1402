// Command build writes the release binaries of every function to
// <out>/<binary>/bootstrap (make build runs it).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/lmtokens/lmtokens/pkg/release"
)

func main() {
	out := flag.String("out", "bin", "directory to write <binary>/bootstrap to")
	arch := flag.String("arch", release.Arch, `GOARCH for linux, or "" for this machine`)
	flag.Parse()
	if err := release.BuildAll(".", *out, *arch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
