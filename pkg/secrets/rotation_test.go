package secrets

import (
	"strings"
	"testing"
)

// A rotated credentials value keeps every field but the key: the portal's
// endpoint, cleanup overrides and lifetime cap survive a rotation.
func TestRotatedCredentialsKeepEveryOtherField(t *testing.T) {
	old := `{"company":"acme","accessId":"OLD","accessKey":"old-key","adminId":1,"tokenId":7,"baseUrl":"https://acme.example.net/santaba/rest",` +
		`"cleanup":{"unusedDays":120},"maxLifetimeDays":30}`
	v, err := RotatedCredentials(old, 1, 8, "NEW", "new-key")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCredentials(v)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessID != "NEW" || c.TokenID != 8 || c.BaseURL != "https://acme.example.net/santaba/rest" || string(c.Cleanup) != `{"unusedDays":120}` ||
		c.MaxLifetimeDays != 30 || strings.Contains(v, "old-key") {
		t.Fatalf("rotated value %s reads as %+v", v, c)
	}
}
