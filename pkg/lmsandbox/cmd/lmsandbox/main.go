// Command lmsandbox serves the LogicMonitor sandbox portal on a local port,
// seeded from a JSON file, for trying the functions without a real portal.
//
//	go run ./pkg/lmsandbox/cmd/lmsandbox -addr 127.0.0.1:8081 -seed pkg/lmsandbox/testdata/seed.json
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/lmtokens/lmtokens/pkg/lmsandbox"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	seed := flag.String("seed", "", "JSON file of users and tokens to start with")
	limit := flag.Int("rate-limit", 0, "requests per window per method and endpoint (0: 10,000)")
	window := flag.Duration("rate-window", 0, "rate-limit window (0: 60s)")
	latency := flag.Duration("latency", 0, "latency added to every request")
	flag.Parse()

	p := lmsandbox.New(lmsandbox.Config{RateLimit: *limit, RateWindow: *window, Latency: *latency})
	if *seed != "" {
		f, err := os.Open(*seed)
		if err != nil {
			log.Fatal(err)
		}
		if err := p.LoadSeed(f); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	fmt.Printf("LogicMonitor sandbox: http://%s%s (%d tokens)\n", *addr, lmsandbox.RestPrefix, len(p.Tokens()))
	srv := &http.Server{Addr: *addr, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
