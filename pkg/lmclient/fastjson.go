package lmclient

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// The two answers read by the thousand, a page of token records and one
// token record, have a fast decoder: a cleanup over a hundred portals reads
// a hundred thousand records, and encoding/json spends about 8 µs on each.
//
// The fast decoder takes only the plain form of those answers: exact field
// names, integers where integers belong, strings where strings belong,
// valid JSON throughout. On anything else (an error object, the v1
// envelope, a field name in another case, a number with a fraction, a
// duplicated list) it gives up without touching its output, and the answer
// is decoded by encoding/json as before. Where it succeeds, its result is
// the one encoding/json gives: FuzzFastDecodeAgreesWithEncodingJSON holds it
// to that.

// fastDecoder is an answer type with a fast decoder; decodeFast reports
// whether it decoded data (false: out untouched).
type fastDecoder interface{ decodeFast(data []byte) bool }

// tokenFields are the field names of a token record, and pageFields and
// markFields those of a page and of what may come instead of an answer:
// a name equal to one of them but in another case is left to encoding/json
// (which matches names case-insensitively).
var (
	tokenFields = []string{"id", "adminId", "accessId", "status", "note", "createdOn", "lastUsedOn", "adminName", "roles", "createdBy", "userPermission", "lastAuthIp", "type", "accessKey"}
	pageFields  = []string{"total", "items"}
	markFields  = []string{"errorMessage", "errorCode", "errmsg", "data"}
)

func (l *tokenListWire) decodeFast(data []byte) bool {
	s := scanner{b: data}
	var w tokenListWire
	sawItems := false
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "total":
			if s.null() {
				w.Total = nil
				return true
			}
			n, ok := s.integer(strconv.IntSize)
			total := int(n)
			w.Total = &total
			return ok
		case "items":
			if sawItems { // encoding/json would decode the second into the first's records
				return false
			}
			sawItems = true
			if s.null() {
				w.Items = nil
				return true
			}
			w.Items = []logicmonitor.TokenRecord{}
			if w.Total != nil && *w.Total > 0 { // the page's records, when the total came first
				w.Items = make([]logicmonitor.TokenRecord, 0, min(*w.Total, logicmonitor.MaxPageSize))
			}
			return s.array(func() bool {
				var r logicmonitor.TokenRecord
				if !s.record(&r, nil) {
					return false
				}
				w.Items = append(w.Items, r)
				return true
			})
		}
		if foldsTo(string(key), pageFields) || matches(string(key), markFields) {
			return false
		}
		return s.skip(0)
	})
	if !ok || !s.end() {
		return false
	}
	*l = w
	return true
}

func (t *tokenWire) decodeFast(data []byte) bool {
	s := scanner{b: data}
	var r logicmonitor.TokenRecord
	var key string
	if !s.record(&r, &key) || !s.end() {
		return false
	}
	tok, err := r.Token()
	if err != nil {
		return false
	}
	*t = tokenWire{logicmonitor.CreatedToken{Token: tok, AccessKey: key}}
	return true
}

// scanner reads JSON from b; each method reports false on anything it does
// not take, and the whole decode then gives up.
type scanner struct {
	b []byte
	i int
	// seen holds the strings read into string fields, which repeat from
	// record to record (a user's name, a permission, a type): one copy
	// each, not one per record.
	seen map[string]string
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips space and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether nothing but space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// null consumes a null if one comes next.
func (s *scanner) null() bool {
	s.space()
	if strings.HasPrefix(string(s.b[s.i:min(s.i+4, len(s.b))]), "null") {
		s.i += 4
		return true
	}
	return false
}

// object reads an object, calling field after each name and its colon; field
// reads the value. The name's bytes are valid only during the call.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		key, ok := s.strBytes()
		if !ok || !s.next(':') || !field(key) {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next('}')
	}
}

// array reads an array, calling item for each element.
func (s *scanner) array(item func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !item() {
			return false
		}
		if s.next(',') {
			continue
		}
		return s.next(']')
	}
}

// record reads one token record into r (zero), and the accessKey of a
// created token into accessKey when it is not nil.
func (s *scanner) record(r *logicmonitor.TokenRecord, accessKey *string) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.int64Field(&r.ID)
		case "adminId":
			return s.int64Field(&r.AdminID)
		case "createdOn":
			return s.int64Field(&r.CreatedOn)
		case "lastUsedOn":
			return s.int64Field(&r.LastUsedOn)
		case "status":
			if s.null() {
				r.Status = nil
				return true
			}
			n, ok := s.integer(strconv.IntSize)
			status := int(n)
			r.Status = &status
			return ok
		case "accessId":
			return s.stringPointer(&r.AccessID)
		case "note":
			return s.stringPointer(&r.Note)
		case "adminName":
			return s.stringField(&r.AdminName)
		case "createdBy":
			return s.stringField(&r.CreatedBy)
		case "userPermission":
			return s.stringField(&r.UserPermission)
		case "lastAuthIp":
			return s.stringField(&r.LastAuthIP)
		case "type":
			return s.stringField(&r.Type)
		case "roles":
			s.space()
			start := s.i
			if !s.skip(0) {
				return false
			}
			r.Roles = append(json.RawMessage(nil), s.b[start:s.i]...)
			return true
		case "accessKey":
			if accessKey != nil {
				return s.stringField(accessKey)
			}
		}
		name := string(key)
		if foldsTo(name, tokenFields) {
			return false
		}
		if accessKey != nil && matches(name, markFields) {
			return false // a created or changed token's answer may be an error object
		}
		return s.skip(0)
	})
}

func (s *scanner) int64Field(dst **int64) bool {
	if s.null() {
		*dst = nil
		return true
	}
	n, ok := s.integer(64)
	*dst = &n
	return ok
}

// stringPointer is a *string field: null sets it to nil.
func (s *scanner) stringPointer(dst **string) bool {
	if s.null() {
		*dst = nil
		return true
	}
	v, ok := s.str()
	*dst = &v
	return ok
}

// stringField is a string field: null leaves it as it is.
func (s *scanner) stringField(dst *string) bool {
	if s.null() {
		return true
	}
	b, ok := s.strBytes()
	if v, seen := s.seen[string(b)]; seen {
		*dst = v
		return ok
	}
	v := string(b)
	if s.seen == nil {
		s.seen = map[string]string{}
	}
	if len(s.seen) < 1000 {
		s.seen[v] = v
	}
	*dst = v
	return ok
}

// integer reads a JSON number that is an integer of the given bits (no
// fraction, no exponent).
func (s *scanner) integer(bits int) (int64, bool) {
	s.space()
	start := s.i
	if !s.number() {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, bits)
	return n, err == nil
}

// number reads a JSON number.
func (s *scanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// str reads a JSON string.
func (s *scanner) str() (string, bool) {
	b, ok := s.strBytes()
	return string(b), ok
}

// strBytes reads a JSON string: the bytes between its quotes when it has no
// escape (valid only until the next read), else its value as decoded by
// encoding/json itself. One that is not valid UTF-8 is left to
// encoding/json whole.
func (s *scanner) strBytes() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start, escaped, high := s.i, false, false
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if escaped {
				var v string
				err := json.Unmarshal(s.b[start-1:s.i], &v)
				return []byte(v), err == nil && utf8.ValidString(v)
			}
			return raw, !high || utf8.Valid(raw)
		case c == '\\':
			escaped = true
			s.i++ // the escaped character; encoding/json checks the escape
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, false
}

// skip reads any JSON value, nested at most 1,000 deep, and drops it.
func (s *scanner) skip(depth int) bool {
	if depth > 1000 {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == '"':
		_, ok := s.strBytes()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(string(s.b[s.i:min(s.i+len(lit), len(s.b))]), lit) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// matches reports whether name equals one of names in any case.
func matches(name string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// foldsTo reports whether name equals one of names in another case (as
// encoding/json would match it).
func foldsTo(name string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(name, n) && name != n {
			return true
		}
	}
	return false
}
