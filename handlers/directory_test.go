package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestAgentDirectory: any logged-in agent may list the other agents to
// hand a conversation on: id, name, presence and departments, nothing
// more; disabled agents are left out; no login, no list.
func TestAgentDirectory(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	ana := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	bo := srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	gone := srv.CreateAgent(t, "gone@shop.test", "Gone", models.RoleAgent, testPassword)
	yes := true
	if _, err := srv.Store.UpdateAgent(t.Context(), gone.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	sales := mustDepartment(t, srv, admin, "Sales", "least-busy", bo.ID)
	tok := login(t, srv, "ana@shop.test", testPassword).AccessToken
	connectAgent(t, srv, login(t, srv, "bo@shop.test", testPassword).AccessToken)

	// Raw, to check no field beyond the four is sent.
	req, _ := http.NewRequest("GET", srv.URL+"/api/directory", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("directory as an agent: HTTP %d %s", resp.StatusCode, data)
	}
	var raw struct {
		Agents []map[string]any `json:"agents"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, a := range raw.Agents {
		if len(a) != 4 || a["id"] == nil || a["name"] == nil || a["status"] == nil || a["departments"] == nil {
			t.Errorf("directory entry %v; want exactly id, name, status, departments", a)
		}
		got[a["name"].(string)] = a
	}
	if _, ok := got["Gone"]; ok {
		t.Error("a disabled agent is in the directory")
	}
	if len(got) != 3 || got["Admin"] == nil || got["Ana"] == nil || got["Bo"] == nil {
		t.Fatalf("directory names %v; want Admin, Ana, Bo", raw.Agents)
	}
	if got["Bo"]["status"] != "online" || got["Ana"]["status"] != "offline" {
		t.Errorf("statuses: Bo %v, Ana %v; want online, offline", got["Bo"]["status"], got["Ana"]["status"])
	}
	if d := got["Bo"]["departments"].([]any); len(d) != 1 || d[0] != sales {
		t.Errorf("Bo's departments %v; want [%s]", d, sales)
	}
	if d := got["Ana"]["departments"].([]any); len(d) != 0 || got["Ana"]["id"] != ana.ID {
		t.Errorf("Ana's entry %v", got["Ana"])
	}

	var e apiError
	if resp := request(t, "GET", srv.URL+"/api/directory", "", nil, &e); resp.StatusCode != 401 || e.Error.Code != models.EUNAUTHORIZED {
		t.Errorf("directory without login: HTTP %d %+v; want 401", resp.StatusCode, e)
	}
	// The admin list stays admins-only.
	if resp := request(t, "GET", srv.URL+"/api/agents", tok, nil, nil); resp.StatusCode != 403 {
		t.Errorf("an agent listing /api/agents: HTTP %d, want 403", resp.StatusCode)
	}
}
