package tokens

import (
	"errors"
	"strconv"
)

// ErrBadID is the refusal of an id not written canonically.
var ErrBadID = errors.New("must be a positive whole number written canonically (digits only, no sign, no leading zero)")

// ParseID accepts only the canonical spelling of an id: IAM policies match
// API Gateway's method ARNs by the literal path, so /admins/002 must not
// reach user 2 through a policy that names admins/2.
func ParseID(s string) (int64, error) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, ErrBadID
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, ErrBadID
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadID
	}
	return n, nil
}
