package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestAdmin manages agents through the admin page: adding one shows a
// one-time password that works once and must be changed at first login;
// max chats and disabling reach the store; the live view shows load.
func TestAdmin(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "boss@shop.test", "Wang Fang", models.RoleAdmin, agentPassword)
	li := srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	admin := b.NewPage(t, "admin")
	admin.ConsoleLogin(srv.URL, "boss@shop.test", agentPassword)
	admin.Do("opening the admin page", chromedp.Click(chromedp.ID("tab-admin")))
	admin.Wait("the agents list", `document.getElementById('agents').textContent.includes('li@shop.test')`, `document.getElementById('agents').textContent`)

	var oneTime string
	t.Run("add an agent", func(t *testing.T) {
		admin.T = t
		admin.Do("filling the form",
			chromedp.SendKeys(chromedp.ID("add-name"), "Zhao Lei"),
			chromedp.SendKeys(chromedp.ID("add-email"), "zhao@shop.test"),
			chromedp.Click(chromedp.CSS("#add-agent button[type=submit]")),
		)
		admin.Wait("the one-time password", `!document.getElementById('one-time').hidden`, `document.getElementById('admin-error').textContent`)
		oneTime = Eval[string](admin, `document.getElementById('one-time-password').textContent`)
		if len(oneTime) < 10 {
			t.Fatalf("one-time password %q is too short", oneTime)
		}
		admin.Wait("the new agent in the list", `document.getElementById('agents').textContent.includes('zhao@shop.test')`)
		admin.Do("dismissing the password", chromedp.Click(chromedp.ID("one-time-done")))
		if got := Eval[string](admin, `document.getElementById('one-time-password').textContent`); got != "" {
			t.Errorf("the one-time password stays on the page after Done: %q", got)
		}

		zhao := b.NewPage(t, "zhao")
		zhao.Go(srv.URL + ConsolePath)
		zhao.Wait("the login form", `!document.getElementById('login').hidden`)
		zhao.Do("signing in with the one-time password",
			chromedp.SendKeys(chromedp.ID("login-email"), "zhao@shop.test"),
			chromedp.SendKeys(chromedp.ID("login-password"), oneTime+Enter))
		zhao.Wait("the change-password form", `!document.getElementById('change').hidden`, `document.getElementById('login-error').textContent`)
		zhao.Do("choosing a password",
			chromedp.SendKeys(chromedp.ID("change-current"), oneTime),
			chromedp.SendKeys(chromedp.ID("change-new"), "zhao-own-password-1"+Enter))
		zhao.Wait("the console after the change", `!document.getElementById('app').hidden`, `document.getElementById('change-error').textContent`)
		zhao.ConsoleConnected()
		if got := Eval[string](zhao, `document.getElementById('me').textContent`); got != "Zhao Lei" {
			t.Errorf("console shows %q as the agent, want Zhao Lei", got)
		}
		if got := Eval[bool](zhao, `document.getElementById('tab-admin').hidden`); !got {
			t.Errorf("an agent sees the Admin tab")
		}
	})

	t.Run("max chats and disable", func(t *testing.T) {
		admin.T = t
		Eval[bool](admin, `window.confirm = () => true, true`) // the page asks before disabling
		row := `document.querySelector('#agents tr[data-id="` + li.ID + `"]')`
		// In one step in the page: the rows re-render every 5 s.
		admin.ClickJS("setting max chats", `(() => { const r = `+row+`; if (!r) return null; r.querySelector('input').value = '3'; return r.querySelector('button[data-act=max]'); })()`)
		admin.Wait("max chats saved", row+`.textContent.includes('0 / 3')`, row+`.textContent`)
		admin.ClickJS("disabling Li Na", row+`.querySelector('button[data-act=toggle]')`)
		admin.Wait("Li Na shown disabled", `document.querySelector('#agents tr[data-id="`+li.ID+`"]').classList.contains('off')`)
		got, err := srv.Store.Agent(context.Background(), li.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Disabled || got.MaxChats != 3 {
			t.Errorf("stored Li Na: disabled %v, max chats %d; want true, 3", got.Disabled, got.MaxChats)
		}
	})

	t.Run("live load", func(t *testing.T) {
		admin.T = t
		shopper := b.NewPage(t, "shopper")
		shopper.Go(srv.URL + "/")
		shopper.WidgetReady()
		shopper.WidgetOpen()
		shopper.WidgetSend("Is anyone there?")
		shopper.WidgetHas("the message, stored", "Is anyone there?")
		admin.Wait("a conversation in an agent's load", `[...document.querySelectorAll('#load .num')].some(e => e.textContent.startsWith('1 /'))`,
			`document.getElementById('load').textContent`)
		if strings.Contains(Eval[string](admin, `document.getElementById('load').textContent`), "Li Na") {
			t.Errorf("a disabled agent is in the load view")
		}
	})
}
