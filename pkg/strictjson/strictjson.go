// Package strictjson decodes JSON objects the way a security tool must read
// input: field names match exactly (Go's encoding/json matches them
// case-insensitively, so {"DryRun": false} would set dryRun), a name given
// twice is refused (encoding/json keeps the last), unknown fields are
// refused, and nothing may follow the object.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// Error is a rejected input; Field names the offending field, if any.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

// Decode decodes the JSON object data into v, a pointer to a struct. Only
// the top level is checked for exact names; decode nested objects that need
// it with Decode too (as json.RawMessage fields).
func Decode(data []byte, v any) error {
	names := fieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return &Error{Msg: "not a JSON object"}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		name, _ := tok.(string)
		if !names[name] {
			known := ""
			for n := range names {
				if strings.EqualFold(n, name) {
					known = n
				}
			}
			if known != "" {
				return &Error{Field: name, Msg: fmt.Sprintf("unknown field %q (field names are case-sensitive: did you mean %q?)", name, known)}
			}
			return &Error{Field: name, Msg: fmt.Sprintf("unknown field %q", name)}
		}
		if seen[name] {
			return &Error{Field: name, Msg: fmt.Sprintf("field %q is given twice", name)}
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return syntax(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return syntax(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Msg: "data after the JSON object"}
	}
	return json.Unmarshal(data, v)
}

func syntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Msg: fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)}
	}
	return &Error{Msg: "not valid JSON"}
}

var cache sync.Map // reflect.Type -> map[string]bool

// fieldNames returns the JSON names of a struct's fields, embedded structs'
// included.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := cache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n := range fieldNames(f.Type) {
				m[n] = true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	cache.Store(t, m)
	return m
}
