// Package portal holds what names a LogicMonitor portal: its company name,
// the DNS label in https://<company>.logicmonitor.com. It is the one check
// that a name may become part of a host name or a secret name.
package portal

// ValidName reports whether name is usable as a portal's DNS label: 1 to
// 63 letters, digits and hyphens, not starting or ending with a hyphen.
// (Plain code, not a regexp: compiling one at init costs every cold start.)
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidRegistered reports whether name may name a registered portal: a DNS
// label that starts with a letter (so it never looks like a user id in a
// secret's name) and is not a name lmtokens uses itself.
func ValidRegistered(name string) bool {
	if !ValidName(name) || !(name[0] >= 'a' && name[0] <= 'z') {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= 'A' && name[i] <= 'Z' {
			return false
		}
	}
	return !Reserved(name)
}

// Reserved reports whether name is one lmtokens uses itself, and so can
// never name a registered portal: "default" stands for the default portal
// (in the provider's physical ids), and "idempotency" and "rotated-out" are
// the folders of claims and records under the key prefix.
func Reserved(name string) bool {
	return name == "default" || name == "idempotency" || name == "rotated-out"
}
