package localdev

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/longtest"
)

// readmeBlocks returns the lines of the README's fenced blocks whose info
// string is "sh <tag>".
func readmeBlocks(t *testing.T, tag string) []string {
	t.Helper()
	f, err := os.Open("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && line == "```sh "+tag:
			in = true
		case in && line == "```":
			in = false
		case in && line != "" && !strings.HasPrefix(line, "#"):
			lines = append(lines, line)
		}
	}
	return lines
}

func run(t *testing.T, dir, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README command %q failed: %v\n%s", command, err, out)
	}
	return string(out)
}

// The README's runnable blocks work as written, from the repository root.
func TestReadmeRunnableBlocks(t *testing.T) {
	longtest.Mark(t)
	if testing.Short() {
		t.Skip("runs make")
	}
	lines := readmeBlocks(t, "runnable")
	if len(lines) < 3 {
		t.Fatalf("only %d runnable README lines", len(lines))
	}
	for _, l := range lines {
		out := run(t, "../../..", l)
		if strings.Contains(out, "accessKey\":") {
			t.Fatalf("%q printed a key field:\n%s", l, out)
		}
	}
}

// The README's curl examples answer 2xx against `make local`'s gateway.
func TestReadmeCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the examples need it")
	}
	s := start(t)
	srv := httptest.NewServer(s.APIGateway())
	defer srv.Close()
	lines := readmeBlocks(t, "local")
	if len(lines) < 6 {
		t.Fatalf("only %d curl examples", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "curl ") || !strings.Contains(l, "http://127.0.0.1:3000") {
			t.Fatalf("not a curl example against make local: %q", l)
		}
		run(t, ".", strings.Replace(strings.ReplaceAll(l, "http://127.0.0.1:3000", srv.URL), "curl ", "curl -f ", 1))
	}
}

// Every relative link of the READMEs names a file that exists and, with a
// #fragment, a heading of that file: the reference moved between files
// without a dangling link.
func TestReadmeLinksResolve(t *testing.T) {
	root := "../../.."
	anchors := func(path string) map[string]bool {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		out := map[string]bool{}
		for _, line := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(line, "#") {
				continue
			}
			title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
			var b strings.Builder
			for _, r := range title {
				switch {
				case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
					b.WriteRune(r)
				case r == ' ':
					b.WriteRune('-')
				}
			}
			out[b.String()] = true
		}
		return out
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range []string{"README.md", "infra/README.md", "events/README.md"} {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(raw), -1) {
			target := m[1]
			if strings.HasPrefix(target, "http") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := filepath.Join(root, filepath.Dir(doc), file)
			if file == "" {
				path = filepath.Join(root, doc)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: no such file", doc, target)
				continue
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !anchors(path)[frag] {
				t.Errorf("%s: link %s: no such heading", doc, target)
			}
		}
	}
}
