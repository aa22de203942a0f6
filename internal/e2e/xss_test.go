package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// TestXSSInNameAndFileName: a shopper whose verified name and whose file's
// name are HTML and script payloads shows up in the console as text, links
// only to Kefu's own signed file URL, and nothing runs on either page.
func TestXSSInNameAndFileName(t *testing.T) {
	var kefu string
	const secret = "shop-secret-0123456789abcdef"
	const name = `<img src=x onerror=window.__xss=1><svg onload=window.__xss=2>`
	signature := auth.SignIdentity([]byte(secret), auth.Identity{ID: "c-666", Name: name, Email: "evil@example.com", ExpiresAt: time.Now().Add(time.Hour)})
	shop := shopServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Evil shop</title></head><body>
<script>window.Kefu = {q: [["identify", [%q]]]};</script>
<script src="%s/widget.js" async data-lang="en"></script>
</body></html>`, signature, kefu)
	}))
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{shop}, Config: func(c *config.Config) { c.IdentitySecret = secret }})
	kefu = srv.URL
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	shopper := b.NewPage(t, "shopper")
	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)

	shopper.Go(shop + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend("hello")
	shopper.WidgetHas("the message", "hello")
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the message in the console", "hello")
	agent.Wait("the payload name as text in the details", `document.getElementById('d-name').textContent.startsWith(`+jsString(name)+`)`,
		`document.getElementById('d-name').textContent`)
	agent.Wait("the payload name as text in the list and title", `document.querySelector('#mine .conv-item').textContent.includes(`+jsString(name)+`) && document.getElementById('conv-title').textContent === `+jsString(name),
		`document.querySelector('#mine').textContent + ' / ' + document.getElementById('conv-title').textContent`)

	fileName := `<img src=x onerror=window.__xss=3>javascript:alert(1).txt`
	p := writeFile(t, t.TempDir(), fileName, []byte("just some plain text\n"))
	shopper.Do("sending the file", chromedp.SetUploadFiles(chromedp.JSPath(WidgetQ("input[type=file]")), []string{p}))
	agent.Wait("the file as a download link", `[...document.querySelectorAll('#messages .bubble a.file')].some(a => a.textContent.includes('onerror') && a.textContent.includes('javascript:'))`,
		`[...document.querySelectorAll('#messages .bubble')].map(e => e.innerHTML).join(' | ')`)
	href := Eval[string](agent, `[...document.querySelectorAll('#messages .bubble a.file')].pop().href`)
	if want := srv.URL + "/files/"; len(href) < len(want) || href[:len(want)] != want {
		t.Errorf("file link goes to %q, want a signed link under %s", href, want)
	}
	shopper.Wait("the file link in the widget", `[...`+Widget+`.querySelectorAll('.bubble a.file')].some(a => a.textContent.includes('onerror'))`)

	for what, pg := range map[string]*Page{"console": agent, "shop": shopper} {
		if got := Eval[string](pg, `typeof window.__xss`); got != "undefined" {
			t.Errorf("%s: window.__xss is set: a payload ran", what)
		}
	}
	if n := Eval[int](agent, `document.querySelectorAll('#mine img, #mine svg, #conv-head img, #details img, #details svg, #messages img, #messages svg, #conv-title *').length`); n != 0 {
		t.Errorf("the console has %d elements made from the payloads", n)
	}
	if n := Eval[int](shopper, Widget+`.querySelectorAll('.log img').length`); n != 0 {
		t.Errorf("the widget has %d img elements in the chat", n)
	}
}
