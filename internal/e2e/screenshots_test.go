package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestScreenshots walks through the pages in English and in Simplified
// Chinese, chosen by the browser's language as a shopper's would be, checks
// the strings changed, and saves screenshots (widget closed and open, on a
// phone, console, admin page) to ScreenshotDir.
func TestScreenshots(t *testing.T) {
	cases := []struct {
		lang                           string
		launcher, send, resolve, admin string // expected strings
		shopper, reply                 string
	}{
		{"en", "Open chat", "Send", "Resolve", "Agents", "Hello! Is the celadon cup dishwasher safe?", "Hi! Yes, it is — the glaze is fired at 1280 °C."},
		{"zh-CN", "打开聊天", "发送", "结束会话", "客服", "你好，青瓷杯可以用洗碗机洗吗？", "您好！可以的，釉面经过 1280 °C 烧制。"},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			srv := apptest.Start(t, apptest.Options{})
			srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAdmin, agentPassword)
			b := NewBrowser(t, chromedp.Flag("lang", c.lang), chromedp.Flag("accept-lang", c.lang), chromedp.Env("LANGUAGE="+c.lang))
			shopper := b.NewPage(t, "shopper")
			agent := b.NewPage(t, "agent")

			shopper.Go(srv.URL + "/")
			if got := Eval[string](shopper, `navigator.language`); !strings.HasPrefix(got, c.lang[:2]) {
				t.Fatalf("navigator.language = %q, want %s: the browser flag did not apply", got, c.lang)
			}
			shopper.WidgetReady()
			if got := Eval[string](shopper, WidgetQ(".launcher")+`.getAttribute('aria-label')`); got != c.launcher {
				t.Errorf("launcher label = %q, want %q", got, c.launcher)
			}
			shopper.Screenshot("widget-closed-" + c.lang)

			agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)
			if got := Eval[string](agent, `document.getElementById('resolve').textContent`); got != c.resolve {
				t.Errorf("resolve button = %q, want %q", got, c.resolve)
			}
			shopper.WidgetOpen()
			if got := Eval[string](shopper, WidgetQ(".send")+`.getAttribute('aria-label')`); got != c.send {
				t.Errorf("send button label = %q, want %q", got, c.send)
			}
			shopper.WidgetSend(c.shopper)
			agent.ConsoleOpenFirst()
			agent.ConsoleHas("the shopper's message", c.shopper)
			agent.ConsoleReply(c.reply)
			shopper.WidgetHas("the reply", c.reply)
			shopper.Do("blurring", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(), undefined`))
			shopper.Screenshot("widget-open-" + c.lang)
			agent.Screenshot("console-" + c.lang)

			agent.Do("opening the admin page", chromedp.Click(chromedp.ID("tab-admin")))
			agent.Wait("the agents list", `document.getElementById('agents').textContent.includes('li@shop.test')`)
			if got := Eval[string](agent, `document.querySelector('#admin h2 span, #admin h2').textContent`); got != c.admin {
				t.Errorf("admin heading = %q, want %q", got, c.admin)
			}
			agent.Screenshot("admin-" + c.lang)

			shopper.Do("phone width", chromedp.EmulateViewport(390, 760))
			shopper.Wait("the panel full width", `Math.round(`+WidgetQ(".panel")+`.getBoundingClientRect().width) === 390`,
				WidgetQ(".panel")+`.getBoundingClientRect().width`)
			shopper.Screenshot("widget-phone-" + c.lang)
			t.Logf("screenshots in %s", ScreenshotDir(t))
		})
	}
}
