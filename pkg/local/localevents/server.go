// Package localevents is a local server speaking EventBridge's AWS JSON 1.1
// PutEvents (X-Amz-Target: AWSEvents.PutEvents) and DescribeEventBus,
// reached by the real SDK through AWS_ENDPOINT_URL_EVENTBRIDGE. It records
// the events it accepts,
// enforces what PutEvents does (at most 10 entries and 256 KB per call, all
// entries together, sized as EventBridge sizes them; a JSON object as the
// detail), answers per entry (FailedEntryCount), can fail entries or whole
// calls on purpose and can answer as slowly as a busy bus.
package localevents

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is an accepted event.
type Event struct {
	ID         string
	Bus        string
	Source     string
	DetailType string
	Detail     json.RawMessage
	Received   time.Time
}

// Server is the in-memory EventBridge.
type Server struct {
	mu          sync.Mutex
	events      []Event
	failEntries int // the next entries answered with an error code
	failCalls   int // the next calls answered with a 500
	latency     time.Duration
	calls       int
	maxCall     int // the largest call's size, as EventBridge counts it
	inFlight    int
	maxInFlight int // the most calls it answered at once
	srv         *httptest.Server
	// URL is the endpoint to give the SDK.
	URL string
	// OnEvent, if set, sees each accepted event (make local logs them).
	OnEvent func(Event)
	// Buses, if set, are the buses that exist (DescribeEventBus); unset,
	// every bus does.
	Buses []string
}

// Start returns a server listening on a loopback port.
func Start() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailEntries makes the next n entries fail (an internal failure per entry).
func (s *Server) FailEntries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEntries += n
}

// Heal ends every failure still pending.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEntries, s.failCalls = 0, 0
}

// FailCalls makes the next n calls fail whole (HTTP 500).
func (s *Server) FailCalls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCalls += n
}

// SetLatency makes every call take at least d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// MaxInFlight returns the most PutEvents calls that were open at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Calls returns how many PutEvents calls came, and the largest one's size
// as EventBridge counts it.
func (s *Server) Calls() (n, largest int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.maxCall
}

// Events returns what was accepted, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Reset forgets the accepted events.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = nil
}

type entryIn struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
}

type entryOut struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, typ, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	target := r.Header.Get("X-Amz-Target")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || target != "AWSEvents.PutEvents" && target != "AWSEvents.DescribeEventBus" {
		fail(400, "UnknownOperationException", "expected a signed AWSEvents.PutEvents or AWSEvents.DescribeEventBus")
		return
	}
	if target == "AWSEvents.DescribeEventBus" {
		var in struct{ Name string }
		_ = json.Unmarshal(body, &in)
		if in.Name == "" {
			in.Name = "default"
		}
		if s.Buses != nil && !slices.Contains(s.Buses, in.Name) {
			fail(400, "ResourceNotFoundException", "Event bus "+in.Name+" does not exist.")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"Name": in.Name, "Arn": "arn:aws:events:us-east-1:000000000000:event-bus/" + in.Name})
		return
	}
	var in struct {
		Entries []entryIn `json:"Entries"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Entries) == 0 || len(in.Entries) > 10 {
		fail(400, "ValidationException", "Entries must hold 1 to 10 entries")
		return
	}
	size := 0
	for _, e := range in.Entries {
		size += 14 + len(e.Source) + len(e.DetailType) + len(e.Detail)
	}
	s.mu.Lock()
	latency := s.latency
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	time.Sleep(latency)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.calls++
	s.maxCall = max(s.maxCall, size)
	if size > 256<<10 {
		fail(400, "ValidationException", "Total size of the entries in the request is over the limit.")
		return
	}
	if s.failCalls > 0 {
		s.failCalls--
		fail(500, "InternalException", "injected failure")
		return
	}
	out := struct {
		FailedEntryCount int        `json:"FailedEntryCount"`
		Entries          []entryOut `json:"Entries"`
	}{Entries: []entryOut{}}
	for _, e := range in.Entries {
		switch detail := bytes.TrimSpace([]byte(e.Detail)); {
		case s.failEntries > 0:
			s.failEntries--
			out.FailedEntryCount++
			out.Entries = append(out.Entries, entryOut{ErrorCode: "InternalFailure", ErrorMessage: "injected failure"})
		case e.Source == "" || e.DetailType == "" || len(detail) == 0 || detail[0] != '{' || !json.Valid(detail) || len(e.Detail) > 256<<10: // a JSON object
			out.FailedEntryCount++
			out.Entries = append(out.Entries, entryOut{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."})
		default:
			id := newID()
			ev := Event{ID: id, Bus: e.EventBusName, Source: e.Source, DetailType: e.DetailType, Detail: json.RawMessage(e.Detail), Received: time.Now()}
			s.events = append(s.events, ev)
			if s.OnEvent != nil {
				s.OnEvent(ev)
			}
			out.Entries = append(out.Entries, entryOut{EventID: id})
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
