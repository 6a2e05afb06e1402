package logicmonitor

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// MarshalJSON encodes a token as encoding/json would (the same fields,
// omitempty, escaping), without reflection: an inventory encodes thousands.
func (t Token) MarshalJSON() ([]byte, error) {
	return t.AppendJSON(make([]byte, 0, 256)), nil
}

// AppendJSON appends the token's JSON to b.
func (t Token) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	if t.AdminID != 0 {
		b = strconv.AppendInt(append(b, `,"adminId":`...), t.AdminID, 10)
	}
	b = appendField(b, "adminName", t.AdminName)
	if len(t.Roles) > 0 {
		b = append(b, `,"roles":[`...)
		for i, r := range t.Roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, r)
		}
		b = append(b, ']')
	}
	b = appendField(b, "accessId", t.AccessID)
	if t.Status != 0 {
		b = strconv.AppendInt(append(b, `,"status":`...), int64(t.Status), 10)
	}
	b = appendField(b, "note", t.Note)
	if t.CreatedOn != 0 {
		b = strconv.AppendInt(append(b, `,"createdOn":`...), t.CreatedOn, 10)
	}
	if t.LastUsedOn != 0 {
		b = strconv.AppendInt(append(b, `,"lastUsedOn":`...), t.LastUsedOn, 10)
	}
	b = appendField(b, "createdBy", t.CreatedBy)
	b = appendField(b, "userPermission", t.UserPermission)
	b = appendField(b, "lastAuthIp", t.LastAuthIP)
	b = appendField(b, "type", t.Type)
	if t.ExpiresAt != nil {
		b = append(append(b, `,"expiresAt":"`...), t.ExpiresAt.Format(time.RFC3339Nano)...)
		b = append(b, '"')
	}
	if t.OverMaxLifetime {
		b = append(b, `,"overMaxLifetime":true`...)
	}
	return append(b, '}')
}

// appendField appends ,"name":"value" unless value is empty (omitempty).
func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(append(append(b, ',', '"'), name...), '"', ':')
	return appendString(b, value)
}

const hex = "0123456789abcdef"

// appendString quotes s as encoding/json does: HTML-safe, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
