package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/storetest"
)

// TestDepartmentPicker: on a shop page whose embed asks for the picker,
// the shopper must pick a department (from /api/departments/public, read
// across origins) before writing; their conversation is then for that
// department and goes to its agent, though an agent of another department
// is online and less busy.
func TestDepartmentPicker(t *testing.T) {
	var kefu string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Teapots</title></head><body><h1>Teapots</h1>
<script src="%s/widget.js" async data-lang="en" data-department-picker></script></body></html>`, kefu)
	})
	shop := shopServer(t, mux)
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{shop}})
	kefu = srv.URL
	ctx := context.Background()
	li := srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	zhao := srv.CreateAgent(t, "zhao@shop.test", "Zhao Lei", models.RoleAgent, agentPassword)
	sales := &models.Department{Name: "Sales", Members: []string{li.ID}}
	returns := &models.Department{Name: "Returns <b>& refunds</b>", Members: []string{zhao.ID}}
	for _, d := range []*models.Department{sales, returns} {
		if err := srv.Store.CreateDepartment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Zhao already holds a chat: least-busy alone would pick Li.
	two := 2
	if _, err := srv.Store.UpdateAgent(ctx, zhao.ID, models.AgentUpdate{MaxChats: &two}); err != nil {
		t.Fatal(err)
	}
	storetest.MustAssign(t, srv.Store, storetest.MustOpenConversation(t, srv.Store, time.Now()).ID, zhao.ID, 2, time.Now())

	b := NewBrowser(t)
	lp := b.NewPage(t, "li")
	lp.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)
	zp := b.NewPage(t, "zhao")
	zp.ConsoleLogin(srv.URL, "zhao@shop.test", agentPassword)

	shopper := b.NewPage(t, "shopper")
	shopper.Go(shop + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	choice := func(id string) string { return WidgetQ(`.picker-dept[data-department="` + id + `"]`) }
	shopper.Wait("the picker with both departments, the message box waiting",
		choice(sales.ID)+` !== null && `+choice(returns.ID)+` !== null && `+WidgetQ(".panel > form")+`.hidden`,
		WidgetQ(".picker")+`.textContent`)
	if got := Eval[string](shopper, choice(returns.ID)+`.textContent`); got != returns.Name {
		t.Errorf("department shown as %q, want the name as text %q", got, returns.Name)
	}
	shopper.ClickJS("picking Returns", choice(returns.ID))
	shopper.Wait("the choice named, the message box back", WidgetQ(".picker-text")+`.textContent.includes('Returns') && !`+WidgetQ(".panel > form")+`.hidden`,
		WidgetQ(".picker")+`.textContent`)
	shopper.WidgetSend("Where is my refund?")
	shopper.WidgetHas("the message stored", "Where is my refund?")
	shopper.Wait("the picker gone once the conversation is open", WidgetQ(".picker")+`.hidden`)

	zp.Wait("the conversation in Zhao's list", `document.querySelectorAll('#mine .conv-item').length === 2`, `document.getElementById('mine').textContent`)
	shopper.Wait("Zhao's name in the widget", WidgetQ(".banner")+`.textContent.includes('Zhao Lei')`, WidgetQ(".banner")+`.textContent`)
	convs, err := srv.Store.Conversations(ctx, models.ConversationFilter{AgentID: zhao.ID})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range convs {
		if c.DepartmentID != nil && *c.DepartmentID == returns.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("no conversation of Returns assigned to Zhao: %d conversations", len(convs))
	}
	if n := Eval[int](lp, `document.querySelectorAll('#mine .conv-item').length`); n != 0 {
		t.Errorf("Li, of Sales, holds %d conversations; want none", n)
	}
}
