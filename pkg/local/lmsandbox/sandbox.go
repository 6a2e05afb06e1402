// Package lmsandbox is an honest stand-in for a LogicMonitor portal's
// API-token resources, served over real HTTP for tests and local use.
//
// Like the portal it verifies every LMv1 signature (and refuses an old
// epoch) or bearer token, answers in the v1 envelope when X-Version: 3 is
// missing, pages with size/offset/total, applies filters and fields, hides
// accessKey outside the create response, keeps createdOn/lastUsedOn in epoch
// seconds, sends the rate-limit headers and answers 429 over a configured
// limit. It can inject latency, a status code or a dropped connection for the
// next N requests, and counts what it was asked.
package lmsandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/httpfault"
)

// RestPrefix is where the portal's REST resources live.
const RestPrefix = "/santaba/rest"

// Config shapes a portal's behaviour. The zero value is a fast portal with a
// generous rate limit.
type Config struct {
	// RateLimit requests per RateWindow per method and endpoint, counted for
	// the whole portal (LogicMonitor's limits are account-wide). Defaults:
	// 10,000 per 60 s, which tests never reach unless they lower it.
	RateLimit  int
	RateWindow time.Duration
	// Latency is added to every request.
	Latency time.Duration
	// MaxEpochSkew is how far an LMv1 epoch may be from the portal's clock
	// (default 30 minutes).
	MaxEpochSkew time.Duration
	// Now is the portal's clock (default time.Now).
	Now func() time.Time
	// IgnoreFilterOn lists fields whose filter conditions the portal
	// silently ignores, as real portals do for fields they do not support.
	IgnoreFilterOn []string
	// KeepLastUsed stops the portal from stamping lastUsedOn when a token
	// authenticates (real portals update it lazily): a token in use can
	// then look stale.
	KeepLastUsed bool
	// Variance serves what the documentation leaves open in its other
	// plausible forms (see variance.go); LMSANDBOX_VARIANCE=1 turns it on
	// for every portal.
	Variance bool
}

// Admin is a portal user.
type Admin struct {
	ID       int64    `json:"id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles,omitempty"`
	// Status is "active" (the default) or "suspended".
	Status string `json:"status,omitempty"`
}

// Token is a token as the portal stores it, key included.
type Token struct {
	ID         int64  `json:"id"`
	AdminID    int64  `json:"adminId"`
	Type       string `json:"type"` // "lmv1" or "bearer"
	AccessID   string `json:"accessId"`
	AccessKey  string `json:"accessKey"`
	Status     int    `json:"status"`
	Note       string `json:"note"`
	CreatedOn  int64  `json:"createdOn"`
	LastUsedOn int64  `json:"lastUsedOn"`
	CreatedBy  string `json:"createdBy"`
	LastAuthIP string `json:"lastAuthIp"`
}

// Fault changes how the portal answers the next Count matching requests.
type Fault struct {
	Count  int    // how many requests it applies to (default 1)
	Method string // only this method, if set
	Path   string // only resource paths containing this, if set
	// Status answers with this HTTP status and LogicMonitor's error body.
	Status int
	// Drop closes the connection without an answer.
	Drop bool
	// Latency delays the request (with AfterProcessing: the answer, after
	// the portal acted).
	Latency time.Duration
	// AfterProcessing carries out the request first and then fails the
	// answer (a create that happened but whose response was lost).
	AfterProcessing bool
	// RetryAfter is sent with a 429 fault (in seconds, with milliseconds).
	RetryAfter time.Duration
	// Body replaces the answer's body with these bytes (with Status, or the
	// real status when Status is 0): HTML from a proxy, an error envelope
	// with 200, a truncated JSON document.
	Body string
	// StallAfter, with Stall, sends the headers and this many bytes of the
	// body, then holds the connection for Stall (or until the client gives
	// up) and closes it: an answer that never finishes.
	StallAfter int
	Stall      time.Duration
	// Then runs after the request was carried out and before its answer
	// goes (outside the portal's lock): a change another user makes
	// between two of the client's requests.
	Then func(p *Portal)
}

// Request records one request the portal received.
type Request struct {
	Method string
	Path   string // resource path after RestPrefix
	Query  string
	Status int // 0 for a dropped connection
	AuthID string
	// Epoch is the LMv1 epoch the request was signed with (0 for bearer).
	Epoch    int64
	Received time.Time
}

// Portal is the sandbox's state and HTTP handler.
type Portal struct {
	cfg Config

	mu       sync.Mutex
	admins   map[int64]*Admin
	tokens   map[int64]*Token
	nextID   int64
	faults   []*Fault
	rateLog  map[string][]time.Time
	requests []Request
	stripped map[int64][]string // fields left out of a token's records
	// byAccessID remembers which token signed with an access id, so that a
	// portal of thousands does not scan them all on every request; each
	// hit is checked against the token itself (tests change tokens in place).
	byAccessID map[string]*Token
	// readOnlyCaller: the request being served comes from a user whose
	// role may only read tokens (userPermission "read").
	readOnlyCaller bool
}

// New returns an empty portal.
func New(cfg Config) *Portal {
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 10000
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = 60 * time.Second
	}
	if cfg.MaxEpochSkew <= 0 {
		cfg.MaxEpochSkew = 30 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Variance = cfg.Variance || VarianceFromEnv()
	return &Portal{cfg: cfg, admins: map[int64]*Admin{}, tokens: map[int64]*Token{}, nextID: 1, rateLog: map[string][]time.Time{}, stripped: map[int64][]string{}, byAccessID: map[string]*Token{}}
}

// AddAdmin adds (or replaces) a user.
func (p *Portal) AddAdmin(a Admin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := a
	p.admins[a.ID] = &cp
}

// SetAdminStatus suspends ("suspended") or reactivates ("active") a user.
func (p *Portal) SetAdminStatus(id int64, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.admins[id]; ok {
		a.Status = status
	}
}

// RemoveAdmin deletes a user but, as a user deleted by hand in a portal may
// leave them behind, not its tokens.
func (p *Portal) RemoveAdmin(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.admins, id)
}

// TokenSpec seeds a token. Empty access ids and keys are generated; ages are
// relative to the portal's clock.
type TokenSpec struct {
	AdminID  int64  `json:"adminId"`
	Type     string `json:"type,omitempty"` // default lmv1
	AccessID string `json:"accessId,omitempty"`
	// AccessKey is the LMv1 key or the bearer token.
	AccessKey string `json:"accessKey,omitempty"`
	Status    int    `json:"status,omitempty"` // default enabled
	Note      string `json:"note,omitempty"`
	// CreatedDaysAgo and LastUsedDaysAgo age the token; LastUsedDaysAgo < 0
	// (or omitted with NeverUsed) means never used.
	CreatedDaysAgo  float64 `json:"createdDaysAgo,omitempty"`
	LastUsedDaysAgo float64 `json:"lastUsedDaysAgo,omitempty"`
	NeverUsed       bool    `json:"neverUsed,omitempty"`
	// LastAuthIP is where it was last used from.
	LastAuthIP string `json:"lastAuthIp,omitempty"`
}

// AddToken seeds a token and returns it, key included.
func (p *Portal) AddToken(s TokenSpec) (Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.admins[s.AdminID]; !ok {
		return Token{}, fmt.Errorf("lmsandbox: no user %d", s.AdminID)
	}
	now := p.cfg.Now()
	t := p.newToken(s.AdminID, s.Type, s.Note, s.Status, "seed")
	if s.AccessID != "" {
		t.AccessID = s.AccessID
	}
	if s.AccessKey != "" {
		t.AccessKey = s.AccessKey
	}
	t.CreatedOn = now.Add(-days(s.CreatedDaysAgo)).Unix()
	switch {
	case s.NeverUsed || s.LastUsedDaysAgo < 0:
		t.LastUsedOn = 0
	default:
		t.LastUsedOn = now.Add(-days(s.LastUsedDaysAgo)).Unix()
	}
	t.LastAuthIP = s.LastAuthIP
	return *t, nil
}

func days(d float64) time.Duration { return time.Duration(d * 24 * float64(time.Hour)) }

// Seed is the JSON form of a portal's users and tokens.
type Seed struct {
	Admins []Admin     `json:"admins"`
	Tokens []TokenSpec `json:"tokens"`
	// ServiceAccessID names the token a local lmtokens authenticates with.
	ServiceAccessID string `json:"serviceAccessId,omitempty"`
}

// LoadSeed adds the users and tokens of a JSON seed and returns the seed.
func (p *Portal) LoadSeed(r io.Reader) (Seed, error) {
	var s Seed
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("lmsandbox: reading seed: %w", err)
	}
	for _, a := range s.Admins {
		p.AddAdmin(a)
	}
	for _, t := range s.Tokens {
		if _, err := p.AddToken(t); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Inject queues a fault; faults apply in the order queued.
func (p *Portal) Inject(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// SetClock replaces the portal's clock (nil restores time.Now).
func (p *Portal) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	p.cfg.Now = now
}

// Age moves a token's createdOn and lastUsedOn into the past (lastUsedDaysAgo
// < 0: never used).
func (p *Portal) Age(id int64, createdDaysAgo, lastUsedDaysAgo float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tokens[id]
	if !ok {
		return
	}
	now := p.cfg.Now()
	t.CreatedOn = now.Add(-days(createdDaysAgo)).Unix()
	t.LastUsedOn = 0
	if lastUsedDaysAgo >= 0 {
		t.LastUsedOn = now.Add(-days(lastUsedDaysAgo)).Unix()
	}
}

// PassTime makes d pass for the portal's tokens: their creation and last
// use move d into the past (a function reads the real clock, so this is how
// a test or the demo lets days go by).
func (p *Portal) PassTime(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	shift := int64(d / time.Second)
	for _, t := range p.tokens {
		t.CreatedOn -= shift
		if t.LastUsedOn > 0 {
			t.LastUsedOn -= shift
		}
	}
}

// StripFields leaves fields out of every record of token id the portal
// sends (a damaged or trimmed record).
func (p *Portal) StripFields(id int64, fields ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stripped[id] = append(p.stripped[id], fields...)
}

// Update changes a stored token as a person in the UI would; f runs under
// the portal's lock.
func (p *Portal) Update(id int64, f func(t *Token)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.tokens[id]; ok {
		f(t)
	}
}

// RemoveToken deletes a stored token as a person in the UI would, past
// any client.
func (p *Portal) RemoveToken(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tokens, id)
}

// ClearFaults drops every queued fault.
func (p *Portal) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Tokens returns every stored token, keys included, ordered by id.
func (p *Portal) Tokens() []Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Token, 0, len(p.tokens))
	for _, t := range p.tokens {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Token returns one stored token.
func (p *Portal) Token(id int64) (Token, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tokens[id]
	if !ok {
		return Token{}, false
	}
	return *t, true
}

// Requests returns what the portal has received, oldest first.
func (p *Portal) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// CountRequests counts received requests of method (all methods if "").
func (p *Portal) CountRequests(method string) int {
	n := 0
	for _, r := range p.Requests() {
		if method == "" || r.Method == method {
			n++
		}
	}
	return n
}

// ResetRequests forgets the recorded requests.
func (p *Portal) ResetRequests() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// The characters LogicMonitor puts in keys, odd ones included.
const (
	idChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	keyChars = idChars + "()~^{}[]=+-_!"
)

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newToken must be called with p.mu held.
func (p *Portal) newToken(adminID int64, typ, note string, status int, createdBy string) *Token {
	if typ != "bearer" {
		typ = "lmv1"
	}
	if status == 0 {
		status = 2
	}
	t := &Token{
		ID: p.nextID, AdminID: adminID, Type: typ, Status: status, Note: note,
		AccessID:  randomString(idChars, 20),
		AccessKey: randomString(keyChars, 40),
		CreatedOn: p.cfg.Now().Unix(), CreatedBy: createdBy,
	}
	if typ == "bearer" {
		t.AccessKey = "lmb_" + randomString(idChars, 60)
	}
	p.nextID++
	p.tokens[t.ID] = t
	return t
}

// apiError is LogicMonitor's v3 error body.
type apiError struct {
	status  int
	message string
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := p.cfg.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	resource := strings.TrimPrefix(r.URL.Path, RestPrefix)
	rec := Request{Method: r.Method, Path: resource, Query: r.URL.RawQuery, Received: received, Epoch: lmv1Epoch(r.Header.Get("Authorization"))}
	v3 := r.Header.Get("X-Version") == "3"

	p.mu.Lock()
	latency := p.cfg.Latency
	fault := p.takeFault(r.Method, resource)
	p.mu.Unlock()
	// A fault's latency comes before the work, unless the fault acts after
	// processing: then the portal does the work at once and is slow to
	// answer, as a portal whose answer is lost after it acted.
	var lateAnswer time.Duration
	if fault != nil && fault.AfterProcessing {
		lateAnswer = fault.Latency
	} else if fault != nil {
		latency += fault.Latency
	}
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
		}
	}

	if fault != nil && fault.Drop && !fault.AfterProcessing {
		p.record(rec)
		httpfault.Drop(w)
		return
	}

	p.mu.Lock()
	rate, limited := p.countRate(r.Method, resource)
	var status int
	var payload any
	var authID string
	switch {
	case !strings.HasPrefix(r.URL.Path, RestPrefix+"/"):
		status, payload = 404, apiError{404, "no such resource"}
	case limited:
		status, payload = 429, apiError{429, "Too Many Requests"}
	case fault != nil && fault.Status != 0 && !fault.AfterProcessing:
		status, payload = fault.Status, apiError{fault.Status, "injected failure"}
	default:
		var aerr *apiError
		authID, aerr = p.authenticate(r, resource, body, received)
		if aerr != nil {
			status, payload = aerr.status, *aerr
		} else {
			status, payload = p.route(r, resource, body, authID)
		}
	}
	p.mu.Unlock()

	if lateAnswer > 0 {
		select {
		case <-time.After(lateAnswer):
		case <-r.Context().Done():
		}
	}
	if fault != nil && fault.Then != nil {
		// Before the answer (or its loss) reaches the client: the change
		// is in place when the client's next request arrives.
		fault.Then(p)
	}
	if fault != nil && fault.AfterProcessing {
		if fault.Drop {
			rec.AuthID = authID
			p.record(rec)
			httpfault.Drop(w)
			return
		}
		if fault.Status != 0 && fault.Body == "" {
			status, payload = fault.Status, apiError{fault.Status, "injected failure"}
		}
	}
	if fault != nil && fault.Body != "" && fault.Status != 0 {
		status = fault.Status
	}
	rec.Status, rec.AuthID = status, authID
	p.record(rec)

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(rate.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(rate.remaining))
	h.Set("X-Rate-Limit-Window", strconv.Itoa(int(math.Ceil(rate.window.Seconds()))))
	if status == 429 {
		ra := rate.retryAfter
		if fault != nil && fault.RetryAfter > 0 {
			ra = fault.RetryAfter
		}
		h.Set("Retry-After", strconv.FormatFloat(math.Max(ra.Seconds(), 0.001), 'f', 3, 64))
	}
	if fault != nil && (fault.Body != "" || fault.StallAfter > 0) {
		writeFaulty(w, r, status, fault, encodeAnswer(v3, status, payload))
		return
	}
	writeAnswer(w, v3, status, payload)
}

// writeFaulty sends a broken answer: a replaced body, or a body that stalls.
func writeFaulty(w http.ResponseWriter, r *http.Request, status int, f *Fault, body []byte) {
	if f.Body != "" {
		body = []byte(f.Body)
	}
	if f.StallAfter <= 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(body[:min(f.StallAfter, len(body))])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	select {
	case <-time.After(f.Stall):
	case <-r.Context().Done():
	}
	httpfault.Drop(w)
}

// encodeAnswer is the body writeAnswer would send.
func encodeAnswer(v3 bool, status int, payload any) []byte {
	rec := &bodyRecorder{header: http.Header{}}
	writeAnswer(rec, v3, status, payload)
	return rec.body.Bytes()
}

type bodyRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (b *bodyRecorder) Header() http.Header         { return b.header }
func (b *bodyRecorder) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bodyRecorder) WriteHeader(int)             {}

func writeAnswer(w http.ResponseWriter, v3 bool, status int, payload any) {
	if e, ok := payload.(apiError); ok {
		payload = map[string]any{"errorMessage": e.message, "errorCode": 1000 + e.status, "errorDetail": nil}
	}
	if !v3 {
		// The pre-v3 envelope: HTTP 200, whatever happened.
		env := map[string]any{"status": status, "errmsg": "OK", "data": payload}
		if status >= 300 {
			env["errmsg"] = payload.(map[string]any)["errorMessage"]
			env["data"] = nil
		}
		payload, status = env, 200
	}
	var buf bytes.Buffer
	switch v := payload.(type) {
	case tokenPage:
		raw, _ := v.appendJSON(make([]byte, 0, 64+300*len(v.items)))
		buf.Write(append(raw, '\n'))
	case tokenView:
		buf.Write(append(v.appendJSON(make([]byte, 0, 320)), '\n'))
	default:
		_ = json.NewEncoder(&buf).Encode(payload)
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	// With its length known the answer goes out in one write, not chunked.
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (p *Portal) record(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, r)
}

// takeFault must be called with p.mu held.
func (p *Portal) takeFault(method, resource string) *Fault {
	for i, f := range p.faults {
		if (f.Method == "" || f.Method == method) && (f.Path == "" || strings.Contains(resource, f.Path)) {
			f.Count--
			if f.Count <= 0 {
				p.faults = append(p.faults[:i], p.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

type rateState struct {
	limit, remaining   int
	window, retryAfter time.Duration
}

// idSegment replaces the ids in a resource path, so that limits apply per
// endpoint whatever the ids.
func idSegment(path string) string {
	parts := strings.Split(path, "/")
	for i, s := range parts {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// countRate applies the per-method, per-endpoint sliding-window limit. It
// must be called with p.mu held.
func (p *Portal) countRate(method, resource string) (rateState, bool) {
	key := method + " " + idSegment(resource)
	now := p.cfg.Now()
	log := p.rateLog[key]
	cut := 0
	for cut < len(log) && now.Sub(log[cut]) >= p.cfg.RateWindow {
		cut++
	}
	log = log[cut:]
	st := rateState{limit: p.cfg.RateLimit, window: p.cfg.RateWindow}
	if len(log) >= p.cfg.RateLimit {
		p.rateLog[key] = log
		st.retryAfter = log[0].Add(p.cfg.RateWindow).Sub(now)
		return st, true
	}
	log = append(log, now)
	p.rateLog[key] = log
	st.remaining = p.cfg.RateLimit - len(log)
	return st, false
}

// lmv1Epoch reads the epoch of an LMv1 Authorization header.
func lmv1Epoch(h string) int64 {
	if !strings.HasPrefix(h, "LMv1 ") {
		return 0
	}
	n, _ := strconv.ParseInt(h[strings.LastIndexByte(h, ':')+1:], 10, 64)
	return n
}

// authenticate checks the Authorization header and returns the access id of
// the token used. It must be called with p.mu held.
// byAccess is the token of an access id, or nil.
func (p *Portal) byAccess(accessID string) *Token {
	if t := p.byAccessID[accessID]; t != nil && t.AccessID == accessID && p.tokens[t.ID] == t {
		return t
	}
	for _, t := range p.tokens {
		if t.AccessID == accessID {
			p.byAccessID[accessID] = t
			return t
		}
	}
	return nil
}

func (p *Portal) authenticate(r *http.Request, resource string, body []byte, now time.Time) (string, *apiError) {
	h := r.Header.Get("Authorization")
	unauthorized := &apiError{401, "Authentication failed"}
	var tok *Token
	switch {
	case strings.HasPrefix(h, "LMv1 "):
		cred := strings.TrimPrefix(h, "LMv1 ")
		last := strings.LastIndexByte(cred, ':')
		if last < 0 {
			return "", unauthorized
		}
		mid := strings.LastIndexByte(cred[:last], ':')
		if mid < 0 {
			return "", unauthorized
		}
		accessID, sig, epochText := cred[:mid], cred[mid+1:last], cred[last+1:]
		epoch, err := strconv.ParseInt(epochText, 10, 64)
		if err != nil {
			return "", unauthorized
		}
		if d := now.Sub(time.UnixMilli(epoch)); d > p.cfg.MaxEpochSkew || d < -p.cfg.MaxEpochSkew {
			return "", &apiError{401, "Authentication failed: request epoch too far from the portal's clock"}
		}
		if tok = p.byAccess(accessID); tok == nil || tok.Type != "lmv1" {
			return "", unauthorized
		}
		mac := hmac.New(sha256.New, []byte(tok.AccessKey))
		mac.Write([]byte(r.Method + epochText))
		mac.Write(body)
		mac.Write([]byte(resource))
		want := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(mac.Sum(nil))))
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
			return "", unauthorized
		}
	case strings.HasPrefix(h, "Bearer "):
		if r.Header.Get("X-Version") != "3" {
			return "", &apiError{401, "Bearer tokens need REST API v3"}
		}
		given := strings.TrimPrefix(h, "Bearer ")
		for _, t := range p.tokens {
			if t.Type == "bearer" && subtle.ConstantTimeCompare([]byte(t.AccessKey), []byte(given)) == 1 {
				tok = t
				break
			}
		}
		if tok == nil {
			return "", unauthorized
		}
	default:
		return "", unauthorized
	}
	if tok.Status != 2 {
		return "", &apiError{401, "Authentication failed: token is disabled"}
	}
	if !p.cfg.KeepLastUsed {
		tok.LastUsedOn = now.Unix()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		tok.LastAuthIP = host
	}
	return tok.AccessID, nil
}
