// Package localsecurityhub is a local stand-in for AWS Security Hub's
// BatchImportFindings (POST /findings/import), for tests and local runs. It
// holds every finding to what AWS documents for the AWS Security Finding
// Format: the required top-level attributes
// (https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html)
// and their formats, at most 100 findings a call and 240 KB a finding, and
// an account's own findings only on its default product. A finding that
// fails is reported in FailedFindings, as Security Hub does, and not kept.
package localsecurityhub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Server is the stand-in.
type Server struct {
	*httptest.Server
	Account, Region string

	mu       sync.Mutex
	findings map[string]json.RawMessage // by Id, as last imported
	calls    int
	largest  int // findings in the largest call
	// lose is how many of the next calls are carried out and then their
	// answer lost (the connection closed), as a network may.
	lose int
}

// LoseAnswers makes the next n calls act and then lose their answers.
func (s *Server) LoseAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// Start serves a Security Hub of account in region.
func Start(account, region string) *Server {
	s := &Server{Account: account, Region: region, findings: map[string]json.RawMessage{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Findings returns the findings kept, by Id.
func (s *Server) Findings() map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	for id, raw := range s.findings {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		out[id] = m
	}
	return out
}

// Raw returns every kept finding's JSON, as imported.
func (s *Server) Raw() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, raw := range s.findings {
		b = append(append(b, raw...), '\n')
	}
	return b
}

// Calls returns how many calls were made and the most findings one held.
func (s *Server) Calls() (calls, largest int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.largest
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": typ, "Message": msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/findings/import" {
		fail(http.StatusNotFound, "ResourceNotFoundException", "no such operation "+r.Method+" "+r.URL.Path)
		return
	}
	if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/securityhub/aws4_request") {
		fail(http.StatusForbidden, "AccessDeniedException", "the request is not SigV4-signed for securityhub")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var in struct {
		Findings []json.RawMessage `json:"Findings"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		fail(http.StatusBadRequest, "InvalidInputException", "the body is not {\"Findings\": [...]}")
		return
	}
	if len(in.Findings) == 0 || len(in.Findings) > 100 {
		fail(http.StatusBadRequest, "InvalidInputException", fmt.Sprintf("Findings must hold 1 to 100 findings, not %d", len(in.Findings)))
		return
	}
	type failed struct {
		ErrorCode    string `json:"ErrorCode"`
		ErrorMessage string `json:"ErrorMessage"`
		ID           string `json:"Id"`
	}
	out := struct {
		FailedCount    int      `json:"FailedCount"`
		SuccessCount   int      `json:"SuccessCount"`
		FailedFindings []failed `json:"FailedFindings"`
	}{FailedFindings: []failed{}}
	s.mu.Lock()
	s.calls++
	s.largest = max(s.largest, len(in.Findings))
	for _, f := range in.Findings {
		id, problem := s.check(f)
		if problem != "" {
			out.FailedCount++
			out.FailedFindings = append(out.FailedFindings, failed{ErrorCode: "InvalidInput", ErrorMessage: problem, ID: id})
			continue
		}
		s.findings[id] = append(json.RawMessage(nil), f...)
		out.SuccessCount++
	}
	lost := s.lose > 0
	if lost {
		s.lose--
	}
	s.mu.Unlock()
	if lost {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

var (
	accountRE = regexp.MustCompile(`^\d{12}$`)
	// Types are namespace/category/classifier, the namespace one of ASFF's.
	typeNamespaces = []string{"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors", "Sensitive Data Identifications"}
	severityLabels = map[string]bool{"INFORMATIONAL": true, "LOW": true, "MEDIUM": true, "HIGH": true, "CRITICAL": true}
)

// check returns a finding's Id and what is wrong with it ("" when nothing).
func (s *Server) check(raw json.RawMessage) (string, string) {
	if len(raw) > 240*1024 {
		return "", "the finding is over 240 KB"
	}
	var f struct {
		SchemaVersion, Id, ProductArn, GeneratorId, AwsAccountId, CreatedAt, UpdatedAt, Title, Description, RecordState string
		Types                                                                                                           []string
		Severity                                                                                                        *struct {
			Label      string
			Normalized *int
		}
		Resources []struct{ Type, Id string }
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", "the finding is not an ASFF object: " + err.Error()
	}
	required := map[string]string{"SchemaVersion": f.SchemaVersion, "Id": f.Id, "ProductArn": f.ProductArn, "GeneratorId": f.GeneratorId,
		"AwsAccountId": f.AwsAccountId, "CreatedAt": f.CreatedAt, "UpdatedAt": f.UpdatedAt, "Title": f.Title, "Description": f.Description}
	for name, v := range required {
		if v == "" {
			return f.Id, "the required attribute " + name + " is missing"
		}
	}
	want := fmt.Sprintf("arn:aws:securityhub:%s:%s:product/%s/default", s.Region, s.Account, s.Account)
	switch {
	case f.SchemaVersion != "2018-10-08":
		return f.Id, "SchemaVersion must be 2018-10-08"
	case len(f.Id) > 512 || len(f.GeneratorId) > 512:
		return f.Id, "Id and GeneratorId hold at most 512 characters"
	case !accountRE.MatchString(f.AwsAccountId):
		return f.Id, "AwsAccountId must be 12 digits"
	case f.ProductArn != want || f.AwsAccountId != s.Account:
		return f.Id, "an account imports its own findings only to its default product " + want
	case len(f.Title) > 256:
		return f.Id, "Title holds at most 256 characters"
	case len(f.Description) > 1024:
		return f.Id, "Description holds at most 1024 characters"
	case f.Severity == nil || (f.Severity.Label == "" && f.Severity.Normalized == nil) || (f.Severity.Label != "" && !severityLabels[f.Severity.Label]):
		return f.Id, "Severity needs a Label (INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL)"
	case len(f.Types) == 0 || len(f.Types) > 50:
		return f.Id, "Types holds 1 to 50 types"
	case len(f.Resources) == 0 || len(f.Resources) > 32:
		return f.Id, "Resources holds 1 to 32 resources"
	case f.RecordState != "" && f.RecordState != "ACTIVE" && f.RecordState != "ARCHIVED":
		return f.Id, "RecordState is ACTIVE or ARCHIVED"
	}
	for _, ts := range []string{f.CreatedAt, f.UpdatedAt} {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			return f.Id, "CreatedAt and UpdatedAt are ISO 8601 times"
		}
	}
	for _, t := range f.Types {
		parts := strings.Split(t, "/")
		ok := len(parts) >= 1 && len(parts) <= 3
		if ok {
			ok = false
			for _, ns := range typeNamespaces {
				ok = ok || parts[0] == ns
			}
		}
		if !ok {
			return f.Id, fmt.Sprintf("type %q is not namespace/category/classifier with one of ASFF's namespaces", t)
		}
	}
	for _, r := range f.Resources {
		if r.Type == "" || r.Id == "" {
			return f.Id, "every resource needs a Type and an Id"
		}
	}
	return f.Id, ""
}
