package e2e

import (
	"context"
	"reflect"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestBusinessHoursPage: an admin sets the shop's hours on the admin page;
// a bad span is refused with the server's words and nothing is stored; a
// good week is stored as typed. With every day closed, a shopper who writes
// is told the shop is closed (and still gets an agent who is online).
func TestBusinessHoursPage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "boss@shop.test", "Wang Fang", models.RoleAdmin, agentPassword)
	ctx := context.Background()
	b := NewBrowser(t)
	admin := b.NewPage(t, "admin")
	admin.ConsoleLogin(srv.URL, "boss@shop.test", agentPassword)
	admin.Do("opening the admin page", chromedp.Click(chromedp.ID("tab-admin")))
	state := `document.getElementById('hours-state').textContent`
	admin.Wait("the hours form, always open", state+`.includes('always open')`, state)

	admin.Do("a span that closes before it opens",
		chromedp.SetValue(chromedp.ID("hours-zone"), "Asia/Shanghai"),
		chromedp.SetValue(chromedp.ID("hours-mon"), "9:00-12:00, 13:00-18:00"),
		chromedp.SetValue(chromedp.ID("hours-tue"), "18:00-09:00"),
		chromedp.Click(chromedp.ID("hours-save")),
	)
	errText := `document.getElementById('hours-error').textContent`
	admin.Wait("the server's refusal", errText+`.includes('close after it opens')`, errText)
	if all, err := srv.Store.AllBusinessHours(ctx); err != nil || len(all) != 0 {
		t.Fatalf("after a refused save: %d schedules (%v); want none", len(all), err)
	}
	admin.Do("a span that is not a time", chromedp.SetValue(chromedp.ID("hours-tue"), "mornings"), chromedp.Click(chromedp.ID("hours-save")))
	admin.Wait("the page's own refusal", errText+`.includes('mornings')`, errText)

	admin.Do("a good week",
		chromedp.SetValue(chromedp.ID("hours-tue"), " "),
		chromedp.SetValue(chromedp.ID("hours-sat"), "10:00-16:00"),
		chromedp.SetValue(chromedp.ID("hours-closed"), "2030-01-01\n2029-12-31"),
		chromedp.Click(chromedp.ID("hours-save")),
	)
	admin.Wait("the saved hours", `document.getElementById('hours-error').hidden && !`+state+`.includes('always open') && !document.getElementById('hours-remove').hidden`, errText+` + ' / ' + `+state)
	h, err := srv.Store.BusinessHours(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []models.OpeningSpan{{Day: "mon", Open: "09:00", Close: "12:00"}, {Day: "mon", Open: "13:00", Close: "18:00"}, {Day: "sat", Open: "10:00", Close: "16:00"}}
	if h.TimeZone != "Asia/Shanghai" || !reflect.DeepEqual(h.Weekly, want) || !reflect.DeepEqual(h.ClosedDates, []string{"2029-12-31", "2030-01-01"}) {
		t.Errorf("stored hours %+v; want Shanghai, %v, two closed dates", h, want)
	}
	if got := Eval[string](admin, `document.getElementById('hours-mon').value`); got != "09:00-12:00, 13:00-18:00" {
		t.Errorf("Monday shown as %q after saving", got)
	}

	admin.Do("closing every day",
		// (a blank: chromedp cannot set an empty value)
		chromedp.SetValue(chromedp.ID("hours-mon"), " "),
		chromedp.SetValue(chromedp.ID("hours-sat"), " "),
		chromedp.Click(chromedp.ID("hours-save")),
	)
	admin.Wait("closed with no opening", state+`.includes('no opening')`, state)

	// The admin steps away, so the notice stays up (an online agent would
	// take the chat at once, and the widget would show them instead).
	setStatus := func(s string) {
		admin.Wait("setting status "+s, `(e => { e.value = '`+s+`'; e.dispatchEvent(new Event('change')); return true })(document.getElementById('status'))`)
		admin.Wait("the server's status "+s, `document.getElementById('status').className === '`+s+`'`)
	}
	setStatus("away")
	shopper := b.NewPage(t, "shopper")
	shopper.Go(srv.URL + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend("Are you open?")
	away := WidgetQ(".away-text") + `.textContent`
	shopper.Wait("the closed notice", `!`+WidgetQ(".away")+`.hidden && `+away+`.includes('closed right now')`, away)
	// Back online: closed hours do not stop the chat reaching the admin,
	// and the shopper sees who answers.
	setStatus("online")
	admin.Do("back to the chats", chromedp.Click(chromedp.ID("tab-chats")))
	admin.ConsoleOpenFirst()
	admin.ConsoleHas("the shopper's message", "Are you open?")
	shopper.Wait("the admin's name in the widget", WidgetQ(".banner")+`.textContent.includes('Wang Fang') && `+WidgetQ(".away")+`.hidden`, WidgetQ(".banner")+`.textContent`)
}
