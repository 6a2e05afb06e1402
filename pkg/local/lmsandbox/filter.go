package lmsandbox

import (
	"fmt"
	"strconv"
	"strings"
)

// A filter is LogicMonitor's filter query: conditions joined by "," (AND)
// and "||" (OR between conditions, binding looser than AND), each
// field + operator + value(s), where a:"x"|"y" is an OR over one field's
// values, string values may be quoted and * is a wildcard.
type filter [][]condition // OR of ANDs

type condition struct {
	field  string
	op     string
	values []string
}

// operators, longest first so that ">:" is not read as ">".
var operators = []string{">:", "<:", "!:", "!~", ":", ">", "<", "~"}

func parseFilter(s string) (filter, error) {
	var f filter
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, group := range splitOutsideQuotes(s, "||") {
		var and []condition
		for _, part := range splitOutsideQuotes(group, ",") {
			c, err := parseCondition(part)
			if err != nil {
				return nil, err
			}
			and = append(and, c)
		}
		f = append(f, and)
	}
	return f, nil
}

func parseCondition(s string) (condition, error) {
	i := 0
	for i < len(s) && (isWord(s[i])) {
		i++
	}
	if i == 0 {
		return condition{}, fmt.Errorf("filter condition %q has no field name", s)
	}
	c := condition{field: s[:i]}
	rest := s[i:]
	for _, op := range operators {
		if strings.HasPrefix(rest, op) {
			c.op = op
			rest = rest[len(op):]
			break
		}
	}
	if c.op == "" {
		return condition{}, fmt.Errorf("filter condition %q has no operator", s)
	}
	for _, v := range splitOutsideQuotes(rest, "|") {
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		c.values = append(c.values, v)
	}
	return c, nil
}

func isWord(b byte) bool {
	return b == '_' || b == '.' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

func splitOutsideQuotes(s, sep string) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], sep):
			// "|" must not split "||"; the caller splits "||" first.
			if sep == "|" && strings.HasPrefix(s[i:], "||") {
				continue
			}
			parts = append(parts, s[start:i])
			i += len(sep) - 1
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// match reports whether the token fields satisfy the filter. Conditions on
// fields a token does not have are ignored, as the portal ignores them.
// fields are the names the filter's conditions test.
func (f filter) fields() []string {
	var out []string
	for _, and := range f {
		for _, c := range and {
			out = append(out, c.field)
		}
	}
	return out
}

func (f filter) match(fields map[string]any) bool {
	if len(f) == 0 {
		return true
	}
	for _, and := range f {
		ok := true
		for _, c := range and {
			v, known := fields[c.field]
			if known && !c.match(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c condition) match(v any) bool {
	negate := c.op == "!:" || c.op == "!~"
	any := false
	for _, want := range c.values {
		if c.matchOne(v, want) {
			any = true
			break
		}
	}
	if negate {
		return !any
	}
	return any
}

func (c condition) matchOne(v any, want string) bool {
	got := text(v)
	switch c.op {
	case ":", "!:":
		if strings.Contains(want, "*") {
			return wildcard(strings.ToLower(want), strings.ToLower(got))
		}
		return strings.EqualFold(got, want)
	case "~", "!~":
		return strings.Contains(strings.ToLower(got), strings.ToLower(strings.ReplaceAll(want, "*", "")))
	}
	a, err1 := strconv.ParseFloat(got, 64)
	b, err2 := strconv.ParseFloat(want, 64)
	if err1 != nil || err2 != nil {
		cmp := strings.Compare(got, want)
		a, b = float64(cmp), 0
	}
	switch c.op {
	case ">":
		return a > b
	case "<":
		return a < b
	case ">:":
		return a >= b
	case "<:":
		return a <= b
	}
	return false
}

// wildcard matches s against pattern, where * stands for any run of characters.
func wildcard(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return s == ""
}

// without drops the conditions on the given fields.
func (f filter) without(fields []string) filter {
	if len(fields) == 0 {
		return f
	}
	skip := map[string]bool{}
	for _, x := range fields {
		skip[x] = true
	}
	var out filter
	for _, and := range f {
		var kept []condition
		for _, c := range and {
			if !skip[c.field] {
				kept = append(kept, c)
			}
		}
		out = append(out, kept)
	}
	return out
}

// text is a field's value as the filter compares it (fmt.Sprint's form).
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(v)
}
