package lmauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// The vectors of API-NOTES.md, byte for byte.
func TestLMv1Vectors(t *testing.T) {
	cases := []struct {
		id, key, verb, path, body string
		epoch                     int64
		want                      string
	}{
		{"test", "test", "GET", "/headers/test", "", 12345678,
			"LMv1 test:NjNhNzliNmQ2NDA0NTg3MjMwNmI0M2Y4N2Q5OTRlMDQyYTE4ZGQ3OGI1NTBjZTFmOWU1NDVmZWQ1MDQ1M2FhOQ==:12345678"},
		{"id", "some key", "GET", "/foo", "", 1,
			"LMv1 id:N2I0NmRiZTRlMTEyMGRlNDFkMzJmYjQ5Y2I1MzZiZThkOGVlZWNkNzdkNmIxNTU3MWQ0ODRjNDIzOGMwZGRmZQ==:1"},
		{"id", "test", "POST", "/setting/admins/32/apitokens", "{}", 12345678,
			"LMv1 id:ZjlkNjUyOGU5YWNlNWIwZmQ5NDk0NjM5OTk1OGFkYzRjZDc2MDY4YjAyODk5MWE2YzYzMmU5MDYyOTRmN2RjMA==:12345678"},
	}
	for _, c := range cases {
		s, err := NewLMv1(c.id, c.key)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the pooled HMAC state must be reset between signatures.
		for i := 0; i < 2; i++ {
			if got := s.Authorization(c.verb, c.path, []byte(c.body), c.epoch); got != c.want {
				t.Errorf("%s %s key %q: got %s, want %s", c.verb, c.path, c.key, got, c.want)
			}
		}
	}
}

// reference computes the signature the way LogicMonitor's own Python sample
// does, with a fresh HMAC each time and no shared code with the package.
func reference(id, key, verb, path string, body []byte, epoch int64) string {
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "%s%d%s%s", verb, epoch, body, path)
	sig := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%x", mac.Sum(nil))))
	return fmt.Sprintf("LMv1 %s:%s:%d", id, sig, epoch)
}

func FuzzLMv1MatchesReference(f *testing.F) {
	f.Add("GET", "/setting/admins/apitokens", []byte(nil), "H_D9i(f5~B^U36^K6i42=^nS~e75gy382Bf6{)P+", int64(1700000000000))
	f.Add("PUT", "/setting/admins/32/apitokens/248", []byte(`{"status":1}`), "k", int64(0))
	f.Add("POST", "/x", []byte("{}"), "[]{}()", int64(-5))
	f.Fuzz(func(t *testing.T, verb, path string, body []byte, key string, epoch int64) {
		if key == "" {
			if _, err := NewLMv1("id", key); err == nil {
				t.Fatal("an empty key was accepted")
			}
			return
		}
		s, err := NewLMv1("AbC123", key)
		if err != nil {
			t.Fatal(err)
		}
		want := reference("AbC123", key, verb, path, body, epoch)
		if got := s.Authorization(verb, path, body, epoch); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
}

func TestLMv1ConcurrentUse(t *testing.T) {
	s, _ := NewLMv1("id", "secret(~^{)=+[")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				body := []byte(fmt.Sprintf(`{"n":%d}`, g*1000+i))
				if got, want := s.Authorization("PUT", "/p", body, int64(i)), reference("id", "secret(~^{)=+[", "PUT", "/p", body, int64(i)); got != want {
					t.Errorf("concurrent signature differs: %s vs %s", got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestBearer(t *testing.T) {
	b, err := NewBearer("lmb_abcdefghijklmnopqrstuvwxyz")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Authorization("GET", "/x", nil, 1); got != "Bearer lmb_abcdefghijklmnopqrstuvwxyz" {
		t.Fatalf("got %q", got)
	}
	if _, err := NewBearer(""); err == nil {
		t.Fatal("empty bearer token accepted")
	}
}

func TestCredentialsNeverPrinted(t *testing.T) {
	const key = "H_D9i(f5~B^U36^K6i42=^nS~e75gy382Bf6{)P+"
	const token = "lmb_SECRETSECRETSECRETSECRET"
	s, _ := NewLMv1("AccessId1", key)
	b, _ := NewBearer(token)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("auth", "lmv1", s, "bearer", b)
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v %s", s, s, s, s, b, b, b, b)
	if strings.Contains(out, key) || strings.Contains(out, "SECRETSECRET") {
		t.Fatalf("a credential was printed: %s", out)
	}
	if !strings.Contains(out, "AccessId1") {
		t.Fatalf("the access id should stay visible: %s", out)
	}
}

func BenchmarkLMv1Signature200B(b *testing.B) {
	s, _ := NewLMv1("48v2wRzfK94y53sq5EuF", "H_D9i(f5~B^U36^K6i42=^nS~e75gy382Bf6{)P+")
	body := bytes.Repeat([]byte("a"), 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.Authorization("PUT", "/setting/admins/32/apitokens/248", body, 1700000000000+int64(i))
	}
}
