package secrets

import (
	"context"
	"slices"
	"strings"

	"github.com/lmtokens/lmtokens/pkg/portal"
)

// RegisteredPortals lists the portals registered under prefix: the names of
// the credentials secrets <prefix><name> that are not scheduled for
// deletion, sorted. ListSecrets' name filter matches prefixes without regard
// to case, so each name is checked again here.
func RegisteredPortals(ctx context.Context, api API, prefix string) ([]string, error) {
	var names []string
	in := ListInput{
		Filters:    []Filter{{Key: FilterName, Values: []string{prefix}}},
		MaxResults: 100,
	}
	for {
		out, err := api.ListSecrets(ctx, in)
		if err != nil {
			return nil, &UnavailableError{Op: "ListSecrets " + prefix, Err: err}
		}
		for _, sec := range out.Secrets {
			name, ok := strings.CutPrefix(sec.Name, prefix)
			if ok && portal.ValidRegistered(name) && sec.DeletedDate == nil {
				names = append(names, name)
			}
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	slices.Sort(names)
	return names, nil
}
