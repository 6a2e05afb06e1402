// Package localsecrets is a local server speaking the AWS Secrets Manager
// JSON 1.1 protocol (X-Amz-Target: secretsmanager.<Operation>), so tests and
// the local demo drive the real AWS SDK client over HTTP.
//
// It keeps secrets in memory and implements what lmtokens uses: CreateSecret,
// GetSecretValue, PutSecretValue, DescribeSecret, DeleteSecret (recovery
// window or forced), TagResource and ListSecrets, with AWS's error types and
// ClientRequestToken idempotency. Fail queues errors for the next calls of an
// operation. It does not verify SigV4 signatures, only that one is present.
package localsecrets

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Region and Account appear in the ARNs the server makes.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// Secret is a stored secret.
type Secret struct {
	ARN          string
	Name         string
	Description  string
	KmsKeyID     string
	Tags         map[string]string
	Value        string // AWSCURRENT SecretString
	VersionID    string
	Versions     map[string]string // version id (ClientRequestToken) -> value
	Created      time.Time
	DeletedDate  time.Time // zero unless scheduled for deletion
	RecoveryDays int64
}

// Server is the in-memory Secrets Manager.
type Server struct {
	mu      sync.Mutex
	secrets map[string]*Secret // by name
	fails   map[string][]Failure
	calls   map[string][]string // operation -> SecretIds asked for
	srv     *httptest.Server
	// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_SECRETS_MANAGER).
	URL string
}

// Failure is an error answered instead of carrying out a call.
type Failure struct {
	Type    string // e.g. InternalServiceError, AccessDeniedException
	Message string
	Status  int // default 500 for InternalServiceError, else 400
}

// New returns a server that is not listening; use it as an http.Handler.
func New() *Server {
	return &Server{secrets: map[string]*Secret{}, fails: map[string][]Failure{}, calls: map[string][]string{}}
}

// Start returns a server listening on a loopback port.
func Start() *Server {
	s := New()
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops a started server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Fail makes the next n calls of operation (e.g. "CreateSecret") fail.
func (s *Server) Fail(operation string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.fails[operation] = append(s.fails[operation], f)
	}
}

// Calls returns the SecretIds (or names) of every call of operation so far.
func (s *Server) Calls(operation string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls[operation]...)
}

// Put stores a secret directly, as a user would with the console or CLI.
func (s *Server) Put(name, value string) *Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.newSecret(name)
	sec.Value, sec.VersionID = value, newID()
	sec.Versions[sec.VersionID] = value
	return sec
}

// Get returns a copy of a stored secret by name or ARN.
func (s *Server) Get(id string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.find(id)
	if sec == nil {
		return Secret{}, false
	}
	cp := *sec
	return cp, true
}

// Secrets returns copies of every secret, by name.
func (s *Server) Secrets() []Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Secret
	for _, sec := range s.secrets {
		out = append(out, *sec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newSecret must be called with s.mu held.
func (s *Server) newSecret(name string) *Secret {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	sec := &Secret{
		Name: name, Tags: map[string]string{}, Versions: map[string]string{}, Created: time.Now(),
		ARN: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, name, hex.EncodeToString(suffix)),
	}
	s.secrets[name] = sec
	return sec
}

// find looks a secret up by name or full ARN; it must be called with s.mu held.
func (s *Server) find(id string) *Secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.ARN == id {
			return sec
		}
	}
	return nil
}

type awsError struct {
	status  int
	typ     string
	message string
}

func errNotFound() *awsError {
	return &awsError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}
}

func errInvalidRequest(msg string) *awsError { return &awsError{400, "InvalidRequestException", msg} }
func errInvalidParameter(msg string) *awsError {
	return &awsError{400, "InvalidParameterException", msg}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var out any
	var aerr *awsError
	switch {
	case r.Method != http.MethodPost || !ok:
		aerr = &awsError{400, "UnknownOperationException", "expected POST with X-Amz-Target: secretsmanager.<Operation>"}
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		aerr = &awsError{400, "MissingAuthenticationTokenException", "Request is missing a SigV4 Authorization header."}
	default:
		out, aerr = s.dispatch(op, body)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newID())
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.typ)
		w.WriteHeader(aerr.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.typ, "message": aerr.message})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) dispatch(op string, body []byte) (any, *awsError) {
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errInvalidParameter("malformed JSON request")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op] = append(s.calls[op], in.SecretID+in.Name)
	if q := s.fails[op]; len(q) > 0 {
		f := q[0]
		s.fails[op] = q[1:]
		if f.Status == 0 {
			f.Status = 400
			if f.Type == "" || f.Type == "InternalServiceError" {
				f.Status = 500
			}
		}
		if f.Type == "" {
			f.Type = "InternalServiceError"
		}
		if f.Message == "" {
			f.Message = "injected failure"
		}
		return nil, &awsError{f.Status, f.Type, f.Message}
	}
	switch op {
	case "CreateSecret":
		return s.create(in)
	case "GetSecretValue":
		return s.getValue(in)
	case "PutSecretValue":
		return s.putValue(in)
	case "DescribeSecret":
		return s.describe(in)
	case "DeleteSecret":
		return s.delete(in)
	case "TagResource":
		return s.tag(in)
	case "ListSecrets":
		return s.list(in)
	}
	return nil, &awsError{400, "UnknownOperationException", "operation " + op + " is not supported by the local server"}
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type filterIn struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type request struct {
	Name                       string     `json:"Name"`
	SecretID                   string     `json:"SecretId"`
	SecretString               *string    `json:"SecretString"`
	ClientRequestToken         string     `json:"ClientRequestToken"`
	Description                string     `json:"Description"`
	KmsKeyID                   string     `json:"KmsKeyId"`
	Tags                       []tag      `json:"Tags"`
	RecoveryWindowInDays       int64      `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery bool       `json:"ForceDeleteWithoutRecovery"`
	Filters                    []filterIn `json:"Filters"`
	MaxResults                 int        `json:"MaxResults"`
	NextToken                  string     `json:"NextToken"`
	IncludePlannedDeletion     bool       `json:"IncludePlannedDeletion"`
}

func (s *Server) create(in request) (any, *awsError) {
	if !secrets.ValidName(in.Name) {
		return nil, errInvalidParameter("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if in.SecretString == nil {
		return nil, errInvalidParameter("You must provide either SecretString or SecretBinary.")
	}
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) < 32 || len(in.ClientRequestToken) > 64) {
		return nil, errInvalidParameter("ClientRequestToken must be 32 to 64 characters.")
	}
	if sec := s.secrets[in.Name]; sec != nil {
		if !sec.DeletedDate.IsZero() {
			return nil, errInvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A repeated request with the same token and value is a no-op.
		if in.ClientRequestToken != "" {
			if v, ok := sec.Versions[in.ClientRequestToken]; ok {
				if v == *in.SecretString {
					return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": in.ClientRequestToken}, nil
				}
				return nil, errInvalidRequest("You can't modify an existing version, you can only create a new version.")
			}
		}
		return nil, &awsError{400, "ResourceExistsException", fmt.Sprintf("The operation failed because the secret %s already exists.", in.Name)}
	}
	sec := s.newSecret(in.Name)
	sec.Description, sec.KmsKeyID = in.Description, in.KmsKeyID
	for _, t := range in.Tags {
		sec.Tags[t.Key] = t.Value
	}
	sec.VersionID = in.ClientRequestToken
	if sec.VersionID == "" {
		sec.VersionID = newID()
	}
	sec.Value = *in.SecretString
	sec.Versions[sec.VersionID] = sec.Value
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": sec.VersionID}, nil
}

// live finds a secret that is not scheduled for deletion.
func (s *Server) live(id string) (*Secret, *awsError) {
	sec := s.find(id)
	if sec == nil {
		return nil, errNotFound()
	}
	if !sec.DeletedDate.IsZero() {
		return nil, errInvalidRequest("You can't perform this operation on the secret because it was marked for deletion.")
	}
	return sec, nil
}

func (s *Server) getValue(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"ARN": sec.ARN, "Name": sec.Name, "SecretString": sec.Value, "VersionId": sec.VersionID,
		"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": float64(sec.Created.UnixMilli()) / 1000,
	}, nil
}

func (s *Server) putValue(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.SecretString == nil {
		return nil, errInvalidParameter("You must provide either SecretString or SecretBinary.")
	}
	token := in.ClientRequestToken
	if token == "" {
		token = newID()
	}
	if v, ok := sec.Versions[token]; ok {
		if v != *in.SecretString {
			return nil, errInvalidRequest("You can't modify an existing version, you can only create a new version.")
		}
	} else {
		sec.Versions[token] = *in.SecretString
		sec.Value, sec.VersionID = *in.SecretString, token
	}
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": token, "VersionStages": []string{"AWSCURRENT"}}, nil
}

func (s *Server) describeOut(sec *Secret) map[string]any {
	tags := []tag{}
	keys := make([]string, 0, len(sec.Tags))
	for k := range sec.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, tag{k, sec.Tags[k]})
	}
	out := map[string]any{
		"ARN": sec.ARN, "Name": sec.Name, "Tags": tags, "CreatedDate": float64(sec.Created.UnixMilli()) / 1000,
		"VersionIdsToStages": map[string][]string{sec.VersionID: {"AWSCURRENT"}},
	}
	if sec.Description != "" {
		out["Description"] = sec.Description
	}
	if sec.KmsKeyID != "" {
		out["KmsKeyId"] = sec.KmsKeyID
	}
	if !sec.DeletedDate.IsZero() {
		out["DeletedDate"] = float64(sec.DeletedDate.UnixMilli()) / 1000
	}
	return out
}

func (s *Server) describe(in request) (any, *awsError) {
	sec := s.find(in.SecretID)
	if sec == nil {
		return nil, errNotFound()
	}
	return s.describeOut(sec), nil
}

func (s *Server) delete(in request) (any, *awsError) {
	sec := s.find(in.SecretID)
	if sec == nil {
		return nil, errNotFound()
	}
	if in.ForceDeleteWithoutRecovery {
		if in.RecoveryWindowInDays != 0 {
			return nil, errInvalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		delete(s.secrets, sec.Name)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": float64(time.Now().Unix())}, nil
	}
	days := in.RecoveryWindowInDays
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return nil, errInvalidParameter("RecoveryWindowInDays must be between 7 and 30 days.")
	}
	if sec.DeletedDate.IsZero() {
		sec.DeletedDate = time.Now()
		sec.RecoveryDays = days
	}
	deletion := sec.DeletedDate.Add(time.Duration(sec.RecoveryDays) * 24 * time.Hour)
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": float64(deletion.Unix())}, nil
}

func (s *Server) tag(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	for _, t := range in.Tags {
		sec.Tags[t.Key] = t.Value
	}
	return map[string]any{}, nil
}

func (s *Server) list(in request) (any, *awsError) {
	var names []string
	for name, sec := range s.secrets {
		if !sec.DeletedDate.IsZero() && !in.IncludePlannedDeletion {
			continue
		}
		if matchFilters(sec, in.Filters) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	start := 0
	if in.NextToken != "" {
		fmt.Sscanf(in.NextToken, "%d", &start)
	}
	size := in.MaxResults
	if size <= 0 || size > 100 {
		size = 100
	}
	list := []any{}
	end := min(start+size, len(names))
	for _, n := range names[min(start, len(names)):end] {
		list = append(list, s.describeOut(s.secrets[n]))
	}
	out := map[string]any{"SecretList": list}
	if end < len(names) {
		out["NextToken"] = fmt.Sprint(end)
	}
	return out, nil
}

func matchFilters(sec *Secret, filters []filterIn) bool {
	for _, f := range filters {
		ok := false
		for _, v := range f.Values {
			switch f.Key {
			case "name":
				ok = ok || strings.HasPrefix(sec.Name, v)
			case "tag-key":
				_, has := sec.Tags[v]
				ok = ok || has
			case "tag-value":
				for _, tv := range sec.Tags {
					ok = ok || tv == v
				}
			case "description":
				ok = ok || strings.HasPrefix(sec.Description, v)
			case "all":
				ok = ok || strings.Contains(sec.Name, v) || strings.Contains(sec.Description, v)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
