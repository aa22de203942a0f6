package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// annQ is JavaScript for the widget's announcement banners.
const annQ = `[...` + Widget + `.querySelectorAll('.ann')]`

// TestAnnouncements: an admin composes an announcement in the console; a
// shopper whose widget is open sees it as a banner (text as text, the link
// only as http(s) with noopener), the history counts it seen, a dismissed
// banner stays dismissed after a reload, and withdrawing it takes it off a
// second shopper's screen.
func TestAnnouncements(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "boss@shop.test", "Wang Fang", models.RoleAdmin, agentPassword)
	b := NewBrowser(t)
	admin := b.NewPage(t, "admin")
	ann := b.NewPage(t, "ann")
	bob := b.NewPage(t, "bob")

	ann.Go(srv.URL + "/")
	ann.WidgetReady()
	bob.Go(srv.URL + "/")
	bob.WidgetReady()
	bob.WidgetOpen()

	admin.ConsoleLogin(srv.URL, "boss@shop.test", agentPassword)
	admin.Do("opening the admin page", chromedp.Click(chromedp.ID("tab-admin")))
	const text = `Flash sale <img src=x onerror=window.__xss=1> 20% off`
	admin.Do("composing an announcement",
		chromedp.SendKeys(chromedp.ID("ann-text"), text),
		chromedp.SendKeys(chromedp.ID("ann-link"), "https://shop.example/sale"),
		chromedp.SetValue(chromedp.ID("ann-level"), "promotion"),
		chromedp.Click(chromedp.ID("ann-send")),
	)
	admin.Wait("the announcement in the history", `document.getElementById('ann-history').textContent.includes('Flash sale')`,
		`document.getElementById('ann-error').textContent`)

	for _, p := range []*Page{ann, bob} {
		p.Wait("the banner in the widget", annQ+`.some(e => e.classList.contains('promotion') && e.querySelector('.ann-text').firstChild.textContent === `+jsString(text)+`)`,
			annQ+`.map(e => e.textContent).join(' | ')`)
		href := Eval[string](p, WidgetQ(".ann a")+`.href`)
		rel := Eval[string](p, WidgetQ(".ann a")+`.rel`)
		if href != "https://shop.example/sale" || rel != "noopener noreferrer" {
			t.Errorf("banner link href=%q rel=%q", href, rel)
		}
		if Eval[bool](p, `window.__xss === 1 || `+Widget+`.querySelector('.ann img') !== null`) {
			t.Errorf("the announcement's text became HTML")
		}
	}
	// Agents see it too, above the console.
	admin.Wait("the announcement above the console", `[...document.querySelectorAll('#console-anns .ann-text')].some(e => e.textContent === `+jsString(text)+`)`,
		`document.getElementById('console-anns').textContent`)
	if n := Eval[int](admin, `document.querySelectorAll('#ann-history tr').length`); n != 1 {
		t.Errorf("history has %d rows after one click, want 1", n)
	}
	// Both widgets showed it: the history counts two shoppers (stored about once a second; the page reloads every 5 s).
	admin.Wait("seen = 2 in the history", `document.querySelector('#ann-history .ann-seen').textContent === '2'`,
		`document.getElementById('ann-history').textContent`)

	t.Run("dismissed stays dismissed", func(t *testing.T) {
		ann.T = t
		ann.ClickJS("dismissing the banner", WidgetQ(".ann-x"))
		ann.Wait("the banner gone", annQ+`.length === 0`)
		ann.Do("reloading", reload())
		ann.WidgetReady()
		// Active announcements come again right after welcome, before any
		// later one on the same socket: once a second announcement shows,
		// the first one has arrived too and must have stayed hidden.
		admin.T = t
		admin.Do("composing a second announcement",
			chromedp.SendKeys(chromedp.ID("ann-text"), "Second notice"),
			chromedp.Click(chromedp.ID("ann-send")),
		)
		ann.Wait("the second banner", annQ+`.some(e => e.textContent === 'Second notice')`, annQ+`.map(e => e.textContent).join(' | ')`)
		if n := Eval[int](ann, annQ+`.length`); n != 1 {
			t.Errorf("after reload %d banners show, want only the second (the first was dismissed)", n)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("withdraw", func(t *testing.T) {
		admin.T, bob.T = t, t
		Eval[bool](admin, `window.confirm = () => true, true`)
		bob.Wait("both banners", annQ+`.length === 2`, annQ+`.map(e => e.textContent).join(' | ')`)
		admin.ClickJS("withdrawing the first", `[...document.querySelectorAll('#ann-history tr')].find(r => r.textContent.includes('Flash sale')).querySelector('button[data-withdraw]')`)
		bob.Wait("the first banner withdrawn, the second kept", annQ+`.length === 1 && `+annQ+`[0].textContent === 'Second notice'`, annQ+`.map(e => e.textContent).join(' | ')`)
		admin.Wait("the withdrawn one gone from above the console", `![...document.querySelectorAll('#console-anns .ann-text')].some(e => e.textContent.startsWith('Flash sale'))`)
		admin.Wait("status withdrawn", `[...document.querySelectorAll('#ann-history tr')].find(r => r.textContent.includes('Flash sale')).querySelector('.ann-status').textContent === 'withdrawn'`)
	})
}
