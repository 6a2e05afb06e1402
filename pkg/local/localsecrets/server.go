// Package localsecrets is a local server speaking the AWS Secrets Manager
// JSON 1.1 protocol (X-Amz-Target: secretsmanager.<Operation>), so tests and
// the local demo drive the real AWS SDK client over HTTP.
//
// It keeps secrets in memory and implements what lmtokens uses: CreateSecret,
// GetSecretValue, PutSecretValue, DescribeSecret, DeleteSecret (recovery
// window or forced), TagResource, UntagResource, ListSecrets (whose entries
// name the versions' labels SecretVersionsToStages, as AWS's do),
// UpdateSecretVersionStage, RotateSecret and CancelRotateSecret, with AWS's
// documented rules:
//   - ClientRequestToken is the version id: the same token and value again is
//     a no-op, the same token with another value is ResourceExistsException;
//   - a secret scheduled for deletion keeps its name: CreateSecret,
//     GetSecretValue, PutSecretValue, TagResource and DeleteSecret on it answer
//     InvalidRequestException; DescribeSecret still describes it;
//   - version stages AWSCURRENT, AWSPREVIOUS and AWSPENDING move as AWS moves
//     them; versions without a label drop out of VersionIdsToStages;
//   - RotateSecret adds a valueless AWSPENDING version and invokes the
//     rotation function (Rotator) for createSecret, setSecret, testSecret and
//     finishSecret with the secret's ARN, asynchronously; a rotation that
//     failed blocks the next until it is retried with its token; without an
//     immediate rotation it runs testSecret alone, as AWS's configuration
//     test does;
//   - reads are eventually consistent when SetLag is set: GetSecretValue,
//     DescribeSecret and ListSecrets see the state as it was that long ago,
//     while writes always act on the latest state.
//
// Fail queues errors for the next calls of an operation, before or after the
// call was carried out (an answer lost after Secrets Manager acted). It does
// not verify SigV4 signatures, only that one is present.
package localsecrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lmtokens/lmtokens/pkg/local/httpfault"
	"github.com/lmtokens/lmtokens/pkg/secrets"
)

// Region and Account appear in the ARNs the server makes.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// Version stages.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// Secret is a stored secret.
type Secret struct {
	ARN          string
	Name         string
	Description  string
	KmsKeyID     string
	Tags         map[string]string
	Value        string              // the AWSCURRENT version's SecretString
	VersionID    string              // the AWSCURRENT version
	Versions     map[string]string   // version id (ClientRequestToken) -> value
	Stages       map[string][]string // version id -> its staging labels
	Created      time.Time
	DeletedDate  time.Time // zero unless scheduled for deletion
	RecoveryDays int64
	// Rotation, as RotateSecret configures it.
	RotationEnabled   bool
	RotationLambdaARN string
	RotationDays      int64

	// history holds what reads may still see while SetLag is in force.
	history []snapshot
}

type snapshot struct {
	at    time.Time
	state *Secret // nil: the secret did not exist (force-deleted)
}

// clone copies sec without its history.
func (sec *Secret) clone() *Secret {
	cp := *sec
	cp.Tags = maps.Clone(sec.Tags)
	cp.Versions = maps.Clone(sec.Versions)
	cp.Stages = map[string][]string{}
	for k, v := range sec.Stages {
		cp.Stages[k] = slices.Clone(v)
	}
	cp.history = nil
	return &cp
}

// Server is the in-memory Secrets Manager.
type Server struct {
	mu      sync.Mutex
	secrets map[string]*Secret // by name; includes force-deleted ones while lag lasts
	fails   map[string][]Failure
	calls   map[string][]string // operation -> SecretIds asked for
	lag     time.Duration
	srv     *httptest.Server
	// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL_SECRETS_MANAGER).
	URL string
	// Rotator runs one step of a rotation, as Secrets Manager invokes the
	// rotation function (tests and local runs invoke its real binary). Nil:
	// RotateSecret only records the pending version.
	Rotator func(ctx context.Context, lambdaARN string, step RotationStep) error

	rotations sync.WaitGroup
	outcomes  map[string][]error  // secret name -> each rotation's outcome
	kinds     map[string][]string // secret name -> each rotation's kind
	// rotationTokens are the RotationTokens of the rotations under way
	// (secret name -> token).
	rotationTokens map[string]string
}

// RotationStep is the event Secrets Manager sends a rotation function; its
// SecretId is the secret's ARN, as AWS sends it.
type RotationStep struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
	// RotationToken identifies the rotation; a PutSecretValue that passes
	// one back must pass this one.
	RotationToken string `json:"RotationToken,omitempty"`
}

// Rotation steps, in the order Secrets Manager runs them.
var RotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// Failure is an error answered instead of carrying out a call.
type Failure struct {
	Type    string // e.g. InternalServiceError, AccessDeniedException
	Message string
	Status  int // default 500 for InternalServiceError, else 400
	// AfterProcessing carries the call out first and then answers the
	// error: the caller cannot tell that Secrets Manager acted.
	AfterProcessing bool
	// Drop closes the connection instead of answering (with
	// AfterProcessing: after acting).
	Drop bool
	// Match, if set, limits the failure to calls whose SecretId (or Name)
	// contains it; other calls pass it by.
	Match string
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

// SetLag makes reads (GetSecretValue, DescribeSecret, ListSecrets) see the
// state as it was d ago, as Secrets Manager's eventual consistency may.
func (s *Server) SetLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag = d
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
	s.addVersion(sec, newID(), value, []string{StageCurrent})
	s.commit(sec)
	return sec.clone()
}

// PutTagged is Put with tags, as a secret lmtokens made would have them.
func (s *Server) PutTagged(name, value string, tags map[string]string) *Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.newSecret(name)
	s.addVersion(sec, newID(), value, []string{StageCurrent})
	for k, v := range tags {
		sec.Tags[k] = v
	}
	s.commit(sec)
	return sec.clone()
}

// Get returns a copy of a stored secret by name or ARN, as it is now.
func (s *Server) Get(id string) (Secret, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.find(id)
	if sec == nil {
		return Secret{}, false
	}
	return *sec.clone(), true
}

// Secrets returns copies of every secret, by name.
func (s *Server) Secrets() []Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Secret
	for _, sec := range s.secrets {
		if !sec.purged() {
			out = append(out, *sec.clone())
		}
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

// purged says the secret was deleted without recovery and is kept only so
// that lagging reads may still see it.
func (sec *Secret) purged() bool { return sec.Versions == nil }

// newSecret must be called with s.mu held.
func (s *Server) newSecret(name string) *Secret {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	sec := &Secret{
		Name: name, Tags: map[string]string{}, Versions: map[string]string{}, Stages: map[string][]string{}, Created: time.Now(),
		ARN: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, Account, name, hex.EncodeToString(suffix)),
	}
	if old := s.secrets[name]; old != nil {
		sec.history = old.history // a lagging read may still see the old one
	}
	s.secrets[name] = sec
	return sec
}

// commit records sec's new state for lagging reads; it must be called with
// s.mu held after every change.
func (s *Server) commit(sec *Secret) {
	now := time.Now()
	var state *Secret
	if !sec.purged() {
		state = sec.clone()
	}
	// Keep only what a read within the lag can still see.
	keep := 0
	for i, h := range sec.history {
		if now.Sub(h.at) > s.lag {
			keep = i
		}
	}
	sec.history = append(sec.history[keep:], snapshot{at: now, state: state})
}

// find looks up the latest state of a secret by name or full ARN; it must be
// called with s.mu held.
func (s *Server) find(id string) *Secret {
	if sec, ok := s.secrets[id]; ok && !sec.purged() {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.ARN == id && !sec.purged() {
			return sec
		}
	}
	return nil
}

// seen looks a secret up as a read sees it, lag included.
func (s *Server) seen(id string) *Secret {
	if s.lag <= 0 {
		return s.find(id)
	}
	cutoff := time.Now().Add(-s.lag)
	for _, sec := range s.secrets {
		if sec.Name != id && sec.ARN != id {
			continue
		}
		var view *Secret
		for _, h := range sec.history {
			if !h.at.After(cutoff) {
				view = h.state
			}
		}
		if view != nil && (view.Name == id || view.ARN == id) {
			return view
		}
	}
	return nil
}

// addVersion stores a version with stages, moving each stage off the
// version that had it (AWSCURRENT's old version becomes AWSPREVIOUS). It
// must be called with s.mu held.
func (s *Server) addVersion(sec *Secret, id, value string, stages []string) {
	sec.Versions[id] = value
	if _, ok := sec.Stages[id]; !ok {
		sec.Stages[id] = []string{}
	}
	for _, st := range stages {
		s.moveStage(sec, st, id)
	}
}

// moveStage attaches stage to version to, removing it from any other.
func (s *Server) moveStage(sec *Secret, stage, to string) {
	from := ""
	for v, sts := range sec.Stages {
		if v != to && slices.Contains(sts, stage) {
			from = v
			sec.Stages[v] = slices.DeleteFunc(sts, func(x string) bool { return x == stage })
		}
	}
	if to != "" && !slices.Contains(sec.Stages[to], stage) {
		sec.Stages[to] = append(sec.Stages[to], stage)
	}
	if stage == StageCurrent && to != "" {
		sec.VersionID, sec.Value = to, sec.Versions[to]
		if from != "" {
			s.moveStage(sec, StagePrevious, from)
		}
	}
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
func errVersionExists() *awsError {
	return &awsError{400, "ResourceExistsException", "You can't modify an existing version, you can only create a new version."}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var out any
	var aerr *awsError
	drop := false
	switch {
	case r.Method != http.MethodPost || !ok:
		aerr = &awsError{400, "UnknownOperationException", "expected POST with X-Amz-Target: secretsmanager.<Operation>"}
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		aerr = &awsError{400, "MissingAuthenticationTokenException", "Request is missing a SigV4 Authorization header."}
	default:
		out, aerr, drop = s.dispatch(op, body)
	}
	if drop {
		httpfault.Drop(w)
		return
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

func (s *Server) dispatch(op string, body []byte) (any, *awsError, bool) {
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errInvalidParameter("malformed JSON request"), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op] = append(s.calls[op], in.SecretID+in.Name)
	var fail *Failure
	for i, f := range s.fails[op] {
		if f.Match != "" && !strings.Contains(in.SecretID+in.Name, f.Match) {
			continue
		}
		fail = &f
		s.fails[op] = slices.Delete(s.fails[op], i, i+1)
		if fail.Status == 0 {
			fail.Status = 400
			if fail.Type == "" || fail.Type == "InternalServiceError" {
				fail.Status = 500
			}
		}
		if fail.Type == "" {
			fail.Type = "InternalServiceError"
		}
		if fail.Message == "" {
			fail.Message = "injected failure"
		}
		if !fail.AfterProcessing {
			return nil, &awsError{fail.Status, fail.Type, fail.Message}, fail.Drop
		}
		break
	}
	out, aerr := s.operation(op, in)
	if fail != nil {
		return nil, &awsError{fail.Status, fail.Type, fail.Message}, fail.Drop
	}
	return out, aerr, false
}

func (s *Server) operation(op string, in request) (any, *awsError) {
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
	case "UpdateSecretVersionStage":
		return s.updateStage(in)
	case "RotateSecret":
		return s.rotate(in)
	case "CancelRotateSecret":
		return s.cancelRotation(in)
	case "UntagResource":
		return s.untag(in)
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
	RotationToken              string     `json:"RotationToken"`
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
	VersionID                  string     `json:"VersionId"`
	VersionStage               string     `json:"VersionStage"`
	VersionStages              []string   `json:"VersionStages"`
	MoveToVersionID            string     `json:"MoveToVersionId"`
	RemoveFromVersionID        string     `json:"RemoveFromVersionId"`
	RotationLambdaARN          string     `json:"RotationLambdaARN"`
	RotationRules              *struct {
		AutomaticallyAfterDays int64 `json:"AutomaticallyAfterDays"`
	} `json:"RotationRules"`
	RotateImmediately *bool    `json:"RotateImmediately"`
	TagKeys           []string `json:"TagKeys"`
}

func checkToken(t string) *awsError {
	if t != "" && (len(t) < 32 || len(t) > 64) {
		return errInvalidParameter("ClientRequestToken must be 32 to 64 characters.")
	}
	return nil
}

func (s *Server) create(in request) (any, *awsError) {
	if !secrets.ValidName(in.Name) {
		return nil, errInvalidParameter("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if in.SecretString == nil {
		return nil, errInvalidParameter("You must provide either SecretString or SecretBinary.")
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if sec := s.find(in.Name); sec != nil {
		if !sec.DeletedDate.IsZero() {
			return nil, errInvalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A repeated request with the same token and value is a no-op.
		if in.ClientRequestToken != "" {
			if v, ok := sec.Versions[in.ClientRequestToken]; ok {
				if v == *in.SecretString {
					return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": in.ClientRequestToken}, nil
				}
				return nil, errVersionExists()
			}
		}
		return nil, &awsError{400, "ResourceExistsException", fmt.Sprintf("The operation failed because the secret %s already exists.", in.Name)}
	}
	sec := s.newSecret(in.Name)
	sec.Description, sec.KmsKeyID = in.Description, in.KmsKeyID
	for _, t := range in.Tags {
		sec.Tags[t.Key] = t.Value
	}
	id := in.ClientRequestToken
	if id == "" {
		id = newID()
	}
	s.addVersion(sec, id, *in.SecretString, []string{StageCurrent})
	s.commit(sec)
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": id}, nil
}

const markedForDeletion = "You can't perform this operation on the secret because it was marked for deletion."

// live finds the latest state of a secret that is not scheduled for deletion.
func (s *Server) live(id string) (*Secret, *awsError) {
	sec := s.find(id)
	if sec == nil {
		return nil, errNotFound()
	}
	if !sec.DeletedDate.IsZero() {
		return nil, errInvalidRequest(markedForDeletion)
	}
	return sec, nil
}

func (s *Server) getValue(in request) (any, *awsError) {
	sec := s.seen(in.SecretID)
	if sec == nil {
		return nil, errNotFound()
	}
	if !sec.DeletedDate.IsZero() {
		return nil, errInvalidRequest(markedForDeletion)
	}
	version := in.VersionID
	stage := in.VersionStage
	if version == "" {
		if stage == "" {
			stage = StageCurrent
		}
		for v, sts := range sec.Stages {
			if slices.Contains(sts, stage) {
				version = v
			}
		}
	}
	value, ok := sec.Versions[version]
	if !ok || (stage != "" && !slices.Contains(sec.Stages[version], stage)) {
		return nil, &awsError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + stage}
	}
	return map[string]any{
		"ARN": sec.ARN, "Name": sec.Name, "SecretString": value, "VersionId": version,
		"VersionStages": slices.Clone(sec.Stages[version]), "CreatedDate": float64(sec.Created.UnixMilli()) / 1000,
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
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.RotationToken != "" && in.RotationToken != s.rotationTokens[sec.Name] {
		return nil, errInvalidRequest("The rotation token isn't valid for this secret's rotation.")
	}
	token := in.ClientRequestToken
	if token == "" {
		token = newID()
	}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	if v, ok := sec.Versions[token]; ok {
		if v != *in.SecretString {
			return nil, errVersionExists()
		}
	} else {
		s.addVersion(sec, token, *in.SecretString, stages)
		s.commit(sec)
	}
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "VersionId": token, "VersionStages": slices.Clone(sec.Stages[token])}, nil
}

func (s *Server) updateStage(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	if in.VersionStage == "" {
		return nil, errInvalidParameter("VersionStage is required.")
	}
	if in.MoveToVersionID != "" {
		if _, ok := sec.Versions[in.MoveToVersionID]; !ok {
			return nil, errInvalidParameter("MoveToVersionId does not name a version of the secret.")
		}
	}
	holder := ""
	for v, sts := range sec.Stages {
		if slices.Contains(sts, in.VersionStage) {
			holder = v
		}
	}
	if holder != "" && holder != in.MoveToVersionID && holder != in.RemoveFromVersionID {
		return nil, errInvalidParameter(fmt.Sprintf("The staging label %s is currently attached to version %s. You must specify RemoveFromVersionId.", in.VersionStage, holder))
	}
	if in.MoveToVersionID == "" {
		if in.VersionStage == StageCurrent {
			return nil, errInvalidParameter("You can't remove AWSCURRENT from a version without moving it to another.")
		}
		if holder != "" {
			sec.Stages[holder] = slices.DeleteFunc(sec.Stages[holder], func(x string) bool { return x == in.VersionStage })
		}
	} else {
		s.moveStage(sec, in.VersionStage, in.MoveToVersionID)
	}
	s.commit(sec)
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name}, nil
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
	stages := map[string][]string{}
	for v, sts := range sec.Stages {
		if len(sts) > 0 {
			stages[v] = slices.Clone(sts)
		}
	}
	out := map[string]any{
		"ARN": sec.ARN, "Name": sec.Name, "Tags": tags, "CreatedDate": float64(sec.Created.UnixMilli()) / 1000,
		"VersionIdsToStages": stages,
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
	if sec.RotationEnabled {
		out["RotationEnabled"] = true
		out["RotationLambdaARN"] = sec.RotationLambdaARN
		out["RotationRules"] = map[string]any{"AutomaticallyAfterDays": sec.RotationDays}
	}
	return out
}

func (s *Server) describe(in request) (any, *awsError) {
	sec := s.seen(in.SecretID)
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
		sec.Versions, sec.Stages = nil, nil // purged; lagging reads may still see it
		s.commit(sec)
		return map[string]any{"ARN": sec.ARN, "Name": sec.Name, "DeletionDate": float64(time.Now().Unix())}, nil
	}
	days := in.RecoveryWindowInDays
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return nil, errInvalidParameter("RecoveryWindowInDays must be between 7 and 30 days.")
	}
	if !sec.DeletedDate.IsZero() {
		return nil, errInvalidRequest("You can't perform this operation on the secret because it was already scheduled for deletion.")
	}
	sec.DeletedDate = time.Now()
	sec.RecoveryDays = days
	s.commit(sec)
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
	s.commit(sec)
	return map[string]any{}, nil
}

// untag removes tags, as UntagResource does.
func (s *Server) untag(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(sec.Tags, k)
	}
	s.commit(sec)
	return map[string]any{}, nil
}

// cancelRotation turns rotation off, as CancelRotateSecret does. As AWS
// documents, a pending version keeps its AWSPENDING label: removing it is
// the caller's job.
func (s *Server) cancelRotation(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	sec.RotationEnabled = false
	s.commit(sec)
	return map[string]any{"ARN": sec.ARN, "Name": sec.Name}, nil
}

func (s *Server) list(in request) (any, *awsError) {
	var names []string
	views := map[string]*Secret{}
	for name := range s.secrets {
		sec := s.seen(name)
		if sec == nil || (!sec.DeletedDate.IsZero() && !in.IncludePlannedDeletion) {
			continue
		}
		if matchFilters(sec, in.Filters) {
			names = append(names, name)
			views[name] = sec
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
		// A list entry names the versions' labels SecretVersionsToStages,
		// where DescribeSecret says VersionIdsToStages.
		entry := s.describeOut(views[n])
		entry["SecretVersionsToStages"] = entry["VersionIdsToStages"]
		delete(entry, "VersionIdsToStages")
		list = append(list, entry)
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
			// As AWS documents them: every key a prefix match, case-
			// sensitive but for description's.
			case "tag-key":
				for tk := range sec.Tags {
					ok = ok || strings.HasPrefix(tk, v)
				}
			case "tag-value":
				for _, tv := range sec.Tags {
					ok = ok || strings.HasPrefix(tv, v)
				}
			case "description":
				ok = ok || strings.HasPrefix(strings.ToLower(sec.Description), strings.ToLower(v))
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

// rotate configures rotation and, unless told not to, starts one: a new
// version labelled AWSPENDING with no value, then the four steps, each
// through Rotator, asynchronously as Secrets Manager runs them. A step that
// fails ends the rotation and leaves AWSPENDING where it is; a rotation is
// refused while a previous one is unfinished.
func (s *Server) rotate(in request) (any, *awsError) {
	sec, err := s.live(in.SecretID)
	if err != nil {
		return nil, err
	}
	if err := checkToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	for v, sts := range sec.Stages {
		if slices.Contains(sts, StagePending) && !slices.Contains(sts, StageCurrent) && v != in.ClientRequestToken {
			return nil, errInvalidRequest("A previous rotation isn't complete. That rotation will be reattempted.")
		}
	}
	if in.RotationLambdaARN != "" {
		sec.RotationLambdaARN = in.RotationLambdaARN
	}
	if in.RotationRules != nil {
		sec.RotationDays = in.RotationRules.AutomaticallyAfterDays
	}
	if sec.RotationLambdaARN == "" {
		return nil, errInvalidRequest("No Lambda rotation function ARN is associated with this secret.")
	}
	sec.RotationEnabled = true
	token := in.ClientRequestToken
	if token == "" {
		token = newID()
	}
	out := map[string]any{"ARN": sec.ARN, "Name": sec.Name}
	if in.RotateImmediately != nil && !*in.RotateImmediately {
		// AWS tests the configuration instead: testSecret on a valueless
		// AWSPENDING version, which it removes afterwards.
		if s.Rotator != nil {
			if _, ok := sec.Stages[token]; !ok {
				s.pend(sec, token)
			}
			s.rotations.Add(1)
			go s.testConfiguration(sec.Name, sec.ARN, sec.RotationLambdaARN, token)
		}
		s.commit(sec)
		return out, nil
	}
	if _, ok := sec.Stages[token]; !ok {
		s.pend(sec, token) // no value until createSecret puts one
	}
	s.commit(sec)
	out["VersionId"] = token
	if s.Rotator != nil {
		s.rotations.Add(1)
		go s.runRotation(sec.Name, sec.ARN, sec.RotationLambdaARN, token)
	}
	return out, nil
}

// Pend sets up what RotateSecret leaves for its rotation function before it
// invokes it: rotation on with lambdaARN, and version token labelled
// AWSPENDING with no value, and rotationToken (if any) as the rotation's
// RotationToken. Nothing is invoked: it lets a rotation
// function's steps be driven by hand (a sample event through make invoke).
// A version the secret already has is left as it is.
func (s *Server) Pend(id, lambdaARN, token, rotationToken string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, aerr := s.live(id)
	if aerr != nil {
		return fmt.Errorf("%s: %s", aerr.typ, aerr.message)
	}
	if rotationToken != "" {
		if s.rotationTokens == nil {
			s.rotationTokens = map[string]string{}
		}
		s.rotationTokens[sec.Name] = rotationToken
	}
	if _, ok := sec.Stages[token]; ok {
		return nil
	}
	sec.RotationEnabled, sec.RotationLambdaARN = true, lambdaARN
	s.pend(sec, token)
	s.commit(sec)
	return nil
}

// pend labels a new, valueless version AWSPENDING. A label is on one
// version at a time: the version that had it (the last rotation's, now
// AWSCURRENT too) loses it. It must be called with s.mu held.
func (s *Server) pend(sec *Secret, token string) {
	sec.Stages[token] = []string{}
	s.moveStage(sec, StagePending, token)
}

// testConfiguration runs testSecret on a valueless pending version, then
// takes the version away, as RotateSecret without an immediate rotation does.
func (s *Server) testConfiguration(name, arn, lambdaARN, token string) {
	defer s.rotations.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	err := s.Rotator(ctx, lambdaARN, RotationStep{SecretID: arn, ClientRequestToken: token, Step: "testSecret", RotationToken: s.newRotationToken(name)})
	cancel()
	if err != nil {
		err = fmt.Errorf("testSecret (configuration test): %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.find(name); sec != nil {
		if _, has := sec.Versions[token]; !has {
			delete(sec.Stages, token)
		}
		s.commit(sec)
	}
	if s.outcomes == nil {
		s.outcomes, s.kinds = map[string][]error{}, map[string][]string{}
	}
	s.outcomes[name] = append(s.outcomes[name], err)
	s.kinds[name] = append(s.kinds[name], ConfigurationTest)
}

// newRotationToken issues the RotationToken of a rotation of secret name.
func (s *Server) newRotationToken(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rotationTokens == nil {
		s.rotationTokens = map[string]string{}
	}
	t := newID()
	s.rotationTokens[name] = t
	return t
}

func (s *Server) runRotation(name, arn, lambdaARN, token string) {
	defer s.rotations.Done()
	var failed error
	rt := s.newRotationToken(name)
	for _, step := range RotationSteps {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := s.Rotator(ctx, lambdaARN, RotationStep{SecretID: arn, ClientRequestToken: token, Step: step, RotationToken: rt})
		cancel()
		if err != nil {
			failed = fmt.Errorf("%s: %w", step, err)
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outcomes == nil {
		s.outcomes, s.kinds = map[string][]error{}, map[string][]string{}
	}
	s.outcomes[name] = append(s.outcomes[name], failed)
	s.kinds[name] = append(s.kinds[name], FullRotation)
}

// Kinds of rotation RotationKinds reports.
const (
	FullRotation      = "rotation"
	ConfigurationTest = "configuration test"
)

// RotationKinds returns, for a secret, what each rotation WaitRotations
// reports was: a FullRotation or RotateSecret's ConfigurationTest.
func (s *Server) RotationKinds(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.kinds[name]...)
}

// WaitRotations waits for the rotations under way and returns each
// rotation's outcome (nil: it finished) per secret name.
func (s *Server) WaitRotations() map[string][]error {
	s.rotations.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]error{}
	for k, v := range s.outcomes {
		out[k] = append([]error(nil), v...)
	}
	return out
}
