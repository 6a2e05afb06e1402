// Package localdynamo is a local server speaking the part of DynamoDB's
// JSON 1.0 protocol lmtokens uses: Query (a partition key condition,
// strongly consistent or not, paged), PutItem, GetItem and DeleteItem with
// condition expressions of attribute_exists / attribute_not_exists and
// comparisons joined by AND or OR. Anything else is refused with
// DynamoDB's ValidationException rather than half-understood. It keeps
// expired items (TTL deletes lazily, days later) so callers must ignore
// them, as on AWS. The real SDK's DynamoDB client is its test.
package localdynamo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Value is one attribute value, {"S": "..."} or {"N": "..."}.
type Value map[string]string

// Item is one item.
type Item map[string]Value

// Table is a table's key schema: its partition and sort key names.
type Table struct {
	PK, SK string
}

// Server is the in-memory DynamoDB.
type Server struct {
	mu     sync.Mutex
	tables map[string]Table
	items  map[string]map[string]Item // table → pk\x00sk → item
	calls  map[string]int
	fail   map[string]int // operation → the next calls answered with a 500
	// loseAnswer: operation → the next calls carried out, then answered
	// with a 500 (the answer lost after DynamoDB acted)
	loseAnswer map[string]int
	// PageSize is how many items one Query page holds at most (0: no
	// bound but DynamoDB's own, 1 MB of items); a small size exercises
	// paging.
	PageSize int
	// readBytes and writes count what a Query read and what was written,
	// in DynamoDB's item sizes, for read and write request units.
	readUnits, writeUnits int
	srv                   *httptest.Server
	URL                   string
}

// Start returns a server on a loopback port.
func Start() *Server {
	s := &Server{tables: map[string]Table{}, items: map[string]map[string]Item{}, calls: map[string]int{}, fail: map[string]int{}, loseAnswer: map[string]int{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CreateTable makes a table (what the stack creates).
func (s *Server) CreateTable(name string, t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[name] = t
	s.items[name] = map[string]Item{}
}

// Calls returns how many calls of op came (all operations when op is "").
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != "" {
		return s.calls[op]
	}
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// Fail makes the next n calls of op fail with HTTP 500.
func (s *Server) Fail(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] += n
}

// Units returns the read and write request units spent so far, counted
// as DynamoDB's on-demand mode bills them: a Query one read unit per 4 KB
// of items (8 KB when eventually consistent), a write one unit per 1 KB of
// the item.
func (s *Server) Units() (read, write int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readUnits, s.writeUnits
}

// size is an item's size as DynamoDB counts it: its attributes' names and
// values.
func size(it Item) int {
	n := 0
	for name, v := range it {
		n += len(name)
		for _, x := range v {
			n += len(x)
		}
	}
	return n
}

func units(bytes, per int) int { return (bytes + per - 1) / per }

// LoseAnswers makes the next n calls of op happen, then fail with HTTP 500
// as if the answer was lost on the way back.
func (s *Server) LoseAnswers(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseAnswer[op] += n
}

// Items returns a table's items, in key order.
func (s *Server) Items(table string) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.items[table] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Item, 0, len(keys))
	for _, k := range keys {
		out = append(out, clone(s.items[table][k]))
	}
	return out
}

// Update changes every item of a table in place (a test ages them).
func (s *Server) Update(table string, change func(Item)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items[table] {
		change(it)
	}
}

func clone(it Item) Item {
	c := Item{}
	for k, v := range it {
		c[k] = Value{}
		for t, x := range v {
			c[k][t] = x
		}
	}
	return c
}

type apiError struct {
	status  int
	typ     string
	message string
}

func validation(format string, args ...any) *apiError {
	return &apiError{400, "com.amazonaws.dynamodb.v20120810#ValidationException", fmt.Sprintf(format, args...)}
}

type request struct {
	TableName                 string            `json:"TableName"`
	Item                      Item              `json:"Item"`
	Key                       Item              `json:"Key"`
	KeyConditionExpression    string            `json:"KeyConditionExpression"`
	ConditionExpression       string            `json:"ConditionExpression"`
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues Item              `json:"ExpressionAttributeValues"`
	ExclusiveStartKey         Item              `json:"ExclusiveStartKey"`
	ConsistentRead            bool              `json:"ConsistentRead"`
	Limit                     int               `json:"Limit"`
}

var known = map[string]bool{"TableName": true, "Item": true, "Key": true, "KeyConditionExpression": true, "ConditionExpression": true,
	"ExpressionAttributeNames": true, "ExpressionAttributeValues": true, "ExclusiveStartKey": true, "ConsistentRead": true, "Limit": true,
	"ReturnConsumedCapacity": true, "ReturnValues": true}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	var out any
	var aerr *apiError
	switch {
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || !strings.Contains(r.Header.Get("Authorization"), "/dynamodb/aws4_request"):
		aerr = &apiError{400, "com.amazon.coral.service#MissingAuthenticationTokenException", "Request is missing a SigV4 signature for dynamodb"}
	case !ok:
		aerr = &apiError{400, "com.amazon.coral.service#UnknownOperationException", "unknown target"}
	default:
		aerr, out = s.serve(op, body)
		s.mu.Lock()
		if aerr == nil && s.loseAnswer[op] > 0 {
			s.loseAnswer[op]--
			aerr = &apiError{500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "the answer was lost after the call was carried out"}
		}
		s.mu.Unlock()
	}
	if aerr != nil {
		w.WriteHeader(aerr.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.typ, "message": aerr.message})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) serve(op string, body []byte) (*apiError, any) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return validation("the body is not a JSON object"), nil
	}
	for k := range raw {
		if !known[k] {
			return validation("localdynamo does not support %s", k), nil
		}
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return validation("%v", err), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.fail[op] > 0 {
		s.fail[op]--
		return &apiError{500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "injected failure"}, nil
	}
	t, ok := s.tables[in.TableName]
	if !ok {
		return &apiError{400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "Requested resource not found"}, nil
	}
	items := s.items[in.TableName]
	ex := expr{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
	switch op {
	case "PutItem", "DeleteItem", "GetItem":
		key := in.Key
		if op == "PutItem" {
			key = in.Item
		}
		k, aerr := keyOf(t, key, op != "PutItem")
		if aerr != nil {
			return aerr, nil
		}
		if op == "GetItem" {
			if it, ok := items[k]; ok {
				return nil, map[string]any{"Item": it}
			}
			return nil, map[string]any{}
		}
		if in.ConditionExpression != "" {
			ok, aerr := ex.holds(in.ConditionExpression, items[k])
			if aerr != nil {
				return aerr, nil
			}
			if !ok {
				return &apiError{400, "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "The conditional request failed"}, nil
			}
		}
		if op == "PutItem" {
			s.writeUnits += units(size(in.Item), 1024)
			items[k] = clone(in.Item)
		} else {
			if old, ok := items[k]; ok {
				s.writeUnits += units(size(old), 1024)
			} else {
				s.writeUnits++
			}
			delete(items, k)
		}
		return nil, map[string]any{}
	case "Query":
		pk, aerr := ex.partition(t, in.KeyConditionExpression)
		if aerr != nil {
			return aerr, nil
		}
		var keys []string
		for k, it := range items {
			if it[t.PK]["S"] == pk {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if in.ExclusiveStartKey != nil {
			start, aerr := keyOf(t, in.ExclusiveStartKey, true)
			if aerr != nil {
				return aerr, nil
			}
			keys = keys[sort.SearchStrings(keys, start+"\x01"):]
		}
		page := len(keys)
		if s.PageSize > 0 {
			page = min(page, s.PageSize)
		}
		if in.Limit > 0 {
			page = min(page, in.Limit)
		}
		// A page ends at 1 MB of items, as DynamoDB's do.
		bytes, n := 0, 0
		for n < page && bytes < 1<<20 {
			bytes += size(items[keys[n]])
			n++
		}
		out := map[string]any{}
		if n < len(keys) {
			keys = keys[:n]
			last := items[keys[n-1]]
			out["LastEvaluatedKey"] = Item{t.PK: last[t.PK], t.SK: last[t.SK]}
		}
		found := []Item{}
		for _, k := range keys {
			found = append(found, items[k])
		}
		unit := 4096 // a strongly consistent read: one unit per 4 KB
		if !in.ConsistentRead {
			unit = 8192
		}
		s.readUnits += max(units(bytes, unit), 1)
		out["Items"], out["Count"], out["ScannedCount"] = found, len(found), len(found)
		return nil, out
	}
	return &apiError{400, "com.amazon.coral.service#UnknownOperationException", "localdynamo does not serve " + op}, nil
}

// keyOf returns an item's key; exact says the item must be the key alone.
func keyOf(t Table, it Item, exact bool) (string, *apiError) {
	pk, sk := it[t.PK]["S"], it[t.SK]["S"]
	if pk == "" || sk == "" {
		return "", validation("One or more parameter values were invalid: Missing the key %s or %s in the item", t.PK, t.SK)
	}
	if exact && len(it) != 2 {
		return "", validation("The provided key element does not match the schema")
	}
	return pk + "\x00" + sk, nil
}

// expr evaluates expressions with their names and values.
type expr struct {
	names  map[string]string
	values Item
}

func (e expr) name(tok string) (string, *apiError) {
	if strings.HasPrefix(tok, "#") {
		n, ok := e.names[tok]
		if !ok {
			return "", validation("An expression attribute name used in the document path is not defined; attribute name: %s", tok)
		}
		return n, nil
	}
	if !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`).MatchString(tok) {
		return "", validation("localdynamo does not support the path %q", tok)
	}
	return tok, nil
}

func (e expr) value(tok string) (Value, *apiError) {
	v, ok := e.values[tok]
	if !ok {
		return nil, validation("An expression attribute value used in expression is not defined; attribute value: %s", tok)
	}
	return v, nil
}

var comparison = regexp.MustCompile(`^(\S+)\s*(=|<>|<=|>=|<|>)\s*(\S+)$`)
var function = regexp.MustCompile(`^(attribute_exists|attribute_not_exists)\(\s*(\S+?)\s*\)$`)

// partition reads "<pk> = :v" and returns the partition key's value.
func (e expr) partition(t Table, cond string) (string, *apiError) {
	m := comparison.FindStringSubmatch(strings.TrimSpace(cond))
	if m == nil || m[2] != "=" {
		return "", validation("localdynamo supports only a partition key equality as KeyConditionExpression, not %q", cond)
	}
	n, aerr := e.name(m[1])
	if aerr != nil {
		return "", aerr
	}
	if n != t.PK {
		return "", validation("Query condition missed key schema element: %s", t.PK)
	}
	v, aerr := e.value(m[3])
	if aerr != nil {
		return "", aerr
	}
	return v["S"], nil
}

// holds evaluates a condition of clauses joined by OR, each of clauses
// joined by AND (AND binds tighter, as in DynamoDB); parentheses and other
// functions are refused.
func (e expr) holds(cond string, it Item) (bool, *apiError) {
	if strings.ContainsAny(cond, "[]") || strings.Count(cond, "(") != strings.Count(cond, "attribute_") {
		return false, validation("localdynamo does not support %q", cond)
	}
	any := false
	for _, alt := range strings.Split(cond, " OR ") {
		all := true
		for _, c := range strings.Split(alt, " AND ") {
			ok, aerr := e.clause(strings.TrimSpace(c), it)
			if aerr != nil {
				return false, aerr
			}
			all = all && ok
		}
		any = any || all
	}
	return any, nil
}

func (e expr) clause(c string, it Item) (bool, *apiError) {
	if m := function.FindStringSubmatch(c); m != nil {
		n, aerr := e.name(m[2])
		if aerr != nil {
			return false, aerr
		}
		_, exists := it[n]
		return exists == (m[1] == "attribute_exists"), nil
	}
	m := comparison.FindStringSubmatch(c)
	if m == nil {
		return false, validation("localdynamo does not support the condition %q", c)
	}
	n, aerr := e.name(m[1])
	if aerr != nil {
		return false, aerr
	}
	want, aerr := e.value(m[3])
	if aerr != nil {
		return false, aerr
	}
	have, exists := it[n]
	if !exists {
		return false, nil // a comparison with a missing attribute is false
	}
	cmp, comparable := compare(have, want)
	if !comparable {
		return m[2] == "<>", nil
	}
	switch m[2] {
	case "=":
		return cmp == 0, nil
	case "<>":
		return cmp != 0, nil
	case "<":
		return cmp < 0, nil
	case "<=":
		return cmp <= 0, nil
	case ">":
		return cmp > 0, nil
	default:
		return cmp >= 0, nil
	}
}

// compare orders two values of the same type (numbers as numbers).
func compare(a, b Value) (int, bool) {
	if x, ok := a["N"]; ok {
		y, ok := b["N"]
		if !ok {
			return 0, false
		}
		fx, _ := strconv.ParseFloat(x, 64)
		fy, _ := strconv.ParseFloat(y, 64)
		switch {
		case fx < fy:
			return -1, true
		case fx > fy:
			return 1, true
		}
		return 0, true
	}
	x, ok1 := a["S"]
	y, ok2 := b["S"]
	if !ok1 || !ok2 {
		return 0, false
	}
	return strings.Compare(x, y), true
}
