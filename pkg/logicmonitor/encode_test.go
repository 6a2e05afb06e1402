package logicmonitor_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/lmtokens/lmtokens/pkg/logicmonitor"
)

// plainToken is Token as encoding/json encodes it by reflection: the hand-
// written encoder must produce exactly the same bytes.
type plainToken struct {
	ID             int64    `json:"id"`
	AdminID        int64    `json:"adminId,omitempty"`
	AdminName      string   `json:"adminName,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	AccessID       string   `json:"accessId,omitempty"`
	Status         int      `json:"status,omitempty"`
	Note           string   `json:"note,omitempty"`
	CreatedOn      int64    `json:"createdOn,omitempty"`
	LastUsedOn     int64    `json:"lastUsedOn,omitempty"`
	CreatedBy      string   `json:"createdBy,omitempty"`
	UserPermission string   `json:"userPermission,omitempty"`
	LastAuthIP     string   `json:"lastAuthIp,omitempty"`
	Type           string   `json:"type,omitempty"`
}

func checkEncoding(t *testing.T, tok logicmonitor.Token) {
	t.Helper()
	got, _ := json.Marshal(tok)
	want, _ := json.Marshal(plainToken{tok.ID, tok.AdminID, tok.AdminName, tok.Roles, tok.AccessID, tok.Status, tok.Note, tok.CreatedOn, tok.LastUsedOn, tok.CreatedBy, tok.UserPermission, tok.LastAuthIP, tok.Type})
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%s\nwant\n%s", got, want)
	}
	var back logicmonitor.Token
	if err := json.Unmarshal(got, &back); err != nil || back.ID != tok.ID || back.Type != tok.Type && utf8.ValidString(tok.Type) || utf8.ValidString(tok.Note) && back.Note != tok.Note {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestTokenEncodesAsEncodingJSONWould(t *testing.T) {
	for _, tok := range []logicmonitor.Token{
		{},
		{ID: 1, AdminID: 2, AdminName: "ci@example.com", Roles: logicmonitor.RoleNames{"readonly", "a<b>&c"}, AccessID: "A1", Status: 2,
			Note: "ci \"deploys\" \\ <script>&amp;\n\t\r\b\f\x01\x1f é 日本 \u2028\u2029 \xff\xfe", CreatedOn: 1700000000, LastUsedOn: -5, CreatedBy: "ops", UserPermission: "write", LastAuthIP: "10.0.0.1", Type: "lmv1"},
		{ID: -9, Roles: logicmonitor.RoleNames{}, Note: "\x00"},
	} {
		checkEncoding(t, tok)
	}
}

func FuzzTokenEncoding(f *testing.F) {
	f.Add(int64(1), "note", "name", "role")
	f.Add(int64(0), "\xff<>&\u2028", "", "\"")
	f.Fuzz(func(t *testing.T, id int64, note, name, role string) {
		checkEncoding(t, logicmonitor.Token{ID: id, Note: note, AdminName: name, Roles: logicmonitor.RoleNames{role}, AccessID: note, Type: role})
	})
}
