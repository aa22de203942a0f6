package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/smtpsink"
	"github.com/kefu-chat/kefu/models"
)

// TestQueuePosition: with one agent who takes one chat at a time, the third
// shopper sees "number 2 in line" (and that the wait cannot be estimated
// yet), then "next in line" once the agent resolves the first chat and
// takes the second.
func TestQueuePosition(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	li := &models.Agent{Email: "li@shop.test", Name: "Li Na", Role: models.RoleAgent, MaxChats: 1, PasswordHash: apptest.FastHash(t, agentPassword)}
	if err := srv.Store.CreateAgent(context.Background(), li); err != nil {
		t.Fatal(err)
	}
	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)

	var shoppers []*Page
	for i, name := range []string{"ann", "bob", "cai"} {
		p := b.NewPage(t, name)
		p.Go(srv.URL + "/")
		p.WidgetReady()
		p.WidgetOpen()
		body := "Question from " + name
		p.WidgetSend(body)
		p.WidgetHas("the message stored", body)
		if i == 0 {
			agent.ConsoleOpenFirst()
			agent.ConsoleHas("the first shopper's message", body)
		}
		shoppers = append(shoppers, p)
	}
	cai := shoppers[2]
	banner := WidgetQ(".banner") + `.textContent`
	cai.Wait("number 2 in line, wait unknown", banner+`.includes('number 2 in line') && `+banner+`.includes("can't estimate")`, banner)
	shoppers[1].Wait("the second shopper next in line", banner+`.includes('next in line')`, banner)

	agent.Do("resolving the first chat", chromedp.Click(chromedp.ID("resolve")))
	shoppers[1].Wait("the second shopper served", banner+`.includes('Li Na')`, banner)
	cai.Wait("the third shopper now next in line", banner+`.includes('next in line')`, banner)
}

// TestTransferWithNote: an admin holding a chat transfers it to Li with a
// note; Li's console gets the conversation and shows the note; the shopper
// sees Li's name and never the note.
func TestTransferWithNote(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "boss@shop.test", "Wang Fang", models.RoleAdmin, agentPassword)
	li := srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	boss := b.NewPage(t, "boss")
	shopper := b.NewPage(t, "shopper")
	boss.ConsoleLogin(srv.URL, "boss@shop.test", agentPassword)

	shopper.Go(srv.URL + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend("I want a refund")
	boss.ConsoleOpenFirst()
	boss.ConsoleHas("the shopper's message", "I want a refund")

	agent := b.NewPage(t, "li")
	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)

	const note = "Wants a refund, not an exchange <b>now</b>"
	boss.Do("opening the transfer form", chromedp.Click(chromedp.ID("transfer")))
	boss.Wait("Li in the transfer menu", `[...document.querySelectorAll('#transfer-to option')].some(o => o.value === 'agent:`+li.ID+`')`,
		`document.getElementById('transfer-to').innerHTML + document.getElementById('transfer-error').textContent`)
	boss.Do("transferring with a note",
		chromedp.SetValue(chromedp.ID("transfer-to"), "agent:"+li.ID),
		chromedp.SendKeys(chromedp.ID("transfer-note"), note),
		chromedp.Click(chromedp.ID("transfer-send")),
	)
	boss.Wait("the form closed", `document.getElementById('transfer-form').hidden`, `document.getElementById('transfer-error').textContent`)
	boss.Wait("the chat gone from the admin's list", `document.querySelector('#mine .conv-item') === null`)

	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the shopper's message for Li", "I want a refund")
	agent.Wait("the note in Li's console", `[...document.querySelectorAll('#transfer-notes .note')].some(e => e.textContent === `+jsString(note)+`)`,
		`document.getElementById('transfer-notes').textContent`)
	if Eval[bool](agent, `document.querySelector('#transfer-notes b b, #transfer-notes .note b') !== null`) {
		t.Errorf("the note became HTML")
	}
	shopper.Wait("Li's name in the widget", WidgetQ(".banner")+`.textContent.includes('Li Na')`, WidgetQ(".banner")+`.textContent`)
	if Eval[bool](shopper, Widget+`.textContent.includes('not an exchange')`) {
		t.Errorf("the shopper sees the agents' note")
	}
}

// TestOfflineForm: with nobody online the widget asks for an e-mail when
// Kefu can mail replies and confirms the saved address; without SMTP it
// says replies wait in the chat and asks for nothing.
func TestOfflineForm(t *testing.T) {
	sink := smtpsink.Start(t)
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) { c.SMTPURL = "smtp://" + sink.Addr + "?from=help@shop.test" }})
	plain := apptest.Start(t, apptest.Options{})
	b := NewBrowser(t)

	t.Run("mailed", func(t *testing.T) {
		p := b.NewPage(t, "ann")
		p.Go(srv.URL + "/")
		p.WidgetReady()
		p.WidgetOpen()
		p.WidgetSend("Anyone there?")
		p.Wait("the offline form", `!`+WidgetQ(".away")+`.hidden && !`+WidgetQ(".away-form")+`.hidden && `+WidgetQ(".away-text")+`.textContent.includes('Leave your e-mail')`,
			WidgetQ(".away")+`.textContent`)
		p.Do("entering an e-mail", chromedp.Click(chromedp.JSPath(WidgetQ("#kefu-email"))))
		p.Type("ann@example.com" + Enter)
		p.Wait("the address confirmed", WidgetQ(".away-text")+`.textContent.includes('mail our reply to ann@example.com') && `+WidgetQ(".away-form")+`.hidden`,
			WidgetQ(".away")+`.textContent`)
		// The server stored it: the visitor row has the address.
		vs, err := srv.Store.Conversations(context.Background(), models.ConversationFilter{})
		if err != nil || len(vs) != 1 {
			t.Fatalf("conversations = %d (%v)", len(vs), err)
		}
		v, err := srv.Store.Visitor(context.Background(), vs[0].VisitorID)
		if err != nil || v.Email != "ann@example.com" {
			t.Errorf("stored visitor e-mail = %q (%v), want ann@example.com", v.Email, err)
		}
	})

	t.Run("not mailed", func(t *testing.T) {
		p := b.NewPage(t, "bob")
		p.Go(plain.URL + "/")
		p.WidgetReady()
		p.WidgetOpen()
		p.WidgetSend("Anyone there?")
		p.Wait("the notice that replies wait here", `!`+WidgetQ(".away")+`.hidden && `+WidgetQ(".away-text")+`.textContent.includes('wait here')`,
			WidgetQ(".away")+`.textContent`)
		if !Eval[bool](p, WidgetQ(".away-form")+`.hidden`) {
			t.Errorf("the widget asks for an e-mail though Kefu cannot mail")
		}
	})
}

// TestAgentTransfersToNamedAgent: a regular agent, who may not read the
// admins' agent list, finds a colleague by name in the transfer menu (an
// offline one is shown but cannot be picked, and no e-mail is shown) and
// hands the chat over with a note.
func TestAgentTransfersToNamedAgent(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	zhao := srv.CreateAgent(t, "zhao@shop.test", "Zhao Lei", models.RoleAgent, agentPassword)
	wu := srv.CreateAgent(t, "wu@shop.test", "Wu Fei", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	li := b.NewPage(t, "li")
	li.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)
	shopper := b.NewPage(t, "shopper")
	shopper.Go(srv.URL + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend("My parcel is lost")
	li.ConsoleOpenFirst()
	li.ConsoleHas("the shopper's message", "My parcel is lost")

	zp := b.NewPage(t, "zhao")
	zp.ConsoleLogin(srv.URL, "zhao@shop.test", agentPassword)

	li.Do("opening the transfer form", chromedp.Click(chromedp.ID("transfer")))
	opt := func(id string) string {
		return `document.querySelector('#transfer-to option[value="agent:` + id + `"]')`
	}
	menu := `document.getElementById('transfer-to').textContent + document.getElementById('transfer-error').textContent`
	li.Wait("Zhao, online, in the menu", opt(zhao.ID)+` !== null && !`+opt(zhao.ID)+`.disabled && `+opt(zhao.ID)+`.textContent.includes('Zhao Lei')`, menu)
	if !Eval[bool](li, opt(wu.ID)+` !== null && `+opt(wu.ID)+`.disabled`) {
		t.Errorf("offline Wu Fei should be listed and not selectable: %s", Eval[string](li, menu))
	}
	if m := Eval[string](li, menu); strings.Contains(m, "@") {
		t.Errorf("the transfer menu shows e-mail addresses: %q", m)
	}
	const note = "Tracking number is in the first message"
	li.Do("transferring to Zhao with a note",
		chromedp.SetValue(chromedp.ID("transfer-to"), "agent:"+zhao.ID),
		chromedp.SendKeys(chromedp.ID("transfer-note"), note),
		chromedp.Click(chromedp.ID("transfer-send")),
	)
	li.Wait("the form closed", `document.getElementById('transfer-form').hidden`, `document.getElementById('transfer-error').textContent`)
	li.Wait("the chat gone from Li's list", `document.querySelector('#mine .conv-item') === null`)

	zp.ConsoleOpenFirst()
	zp.ConsoleHas("the shopper's message for Zhao", "My parcel is lost")
	zp.Wait("the note in Zhao's console", `[...document.querySelectorAll('#transfer-notes .note')].some(e => e.textContent === `+jsString(note)+`)`,
		`document.getElementById('transfer-notes').textContent`)
	shopper.Wait("Zhao's name in the widget", WidgetQ(".banner")+`.textContent.includes('Zhao Lei')`, WidgetQ(".banner")+`.textContent`)
}
