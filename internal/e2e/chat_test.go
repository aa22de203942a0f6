package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

const agentPassword = "correct-horse-9"

// count is JavaScript counting stored messages with exactly body in the
// elements matched by sel (under root).
func count(root, sel, body string) string {
	return fmt.Sprintf("[...%s.querySelectorAll(%q)].filter(e => e.textContent === %q).length", root, sel, body)
}

// TestShopperAndAgent follows one conversation through the real pages: the
// shopper on the demo shop writes, the agent in the console answers, the
// shopper reloads, the server restarts, and an XSS payload stays text.
func TestShopperAndAgent(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	shopper := b.NewPage(t, "shopper")

	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)

	ok := t.Run("round trip", func(t *testing.T) {
		shopper.T, agent.T = t, t
		shopper.Go(srv.URL + "/")
		shopper.WidgetReady()
		shopper.WidgetOpen()
		shopper.WidgetSend("Do you ship to Lyon?")
		shopper.WidgetHas("the shopper's own message, stored", "Do you ship to Lyon?")

		agent.ConsoleOpenFirst()
		agent.ConsoleHas("the shopper's message in the console", "Do you ship to Lyon?")
		agent.Wait("the shopper's page in the details", `document.getElementById('d-page-url').textContent.startsWith(`+jsString(srv.URL)+`)`)
		agent.Wait("the shopper's page title", `document.getElementById('d-page-title').textContent.includes('Maison Lune')`)
		agent.ConsoleReply("Yes, in 2 days.")
		agent.ConsoleHas("the reply, stored", "Yes, in 2 days.")

		shopper.WidgetHas("the agent's reply in the widget", "Yes, in 2 days.")
		shopper.Wait("the agent's name in the widget", WidgetQ(".banner")+`.textContent.includes('Li Na')`)
	})
	if !ok {
		return
	}

	ok = t.Run("shopper reloads", func(t *testing.T) {
		shopper.T = t
		shopper.Do("reloading", reload())
		shopper.WidgetReady()
		shopper.WidgetHas("the first message after reload", "Do you ship to Lyon?")
		shopper.WidgetHas("the reply after reload", "Yes, in 2 days.")
		if n := Eval[int](shopper, count(Widget, ".msg[data-seq] .bubble", "Do you ship to Lyon?")); n != 1 {
			t.Errorf("the first message shows %d times after reload, want 1", n)
		}
		// Same conversation: the next message reaches the same agent.
		shopper.WidgetOpenIfClosed()
		shopper.WidgetSend("And to Marseille?")
		agent.ConsoleHas("the message sent after reload", "And to Marseille?")
	})
	if !ok {
		return
	}

	ok = t.Run("server restarts", func(t *testing.T) {
		shopper.T, agent.T = t, t
		srv.Restart(t)
		// Typed at once: the socket may still look open to the page; the
		// message must wait in the pending list and go out on reconnect.
		shopper.WidgetSend("Still there after the restart?")
		shopper.WidgetHas("the shopper's message stored after the restart", "Still there after the restart?")
		agent.ConsoleHas("the shopper's message in the console after the restart", "Still there after the restart?")
		agent.ConsoleConnected()
		agent.ConsoleReply("Yes, still here.")
		shopper.WidgetHas("the agent's reply after the restart", "Yes, still here.")
		for _, body := range []string{"Still there after the restart?", "Yes, still here."} {
			if n := Eval[int](shopper, count(Widget, ".msg[data-seq] .bubble", body)); n != 1 {
				t.Errorf("widget shows %q %d times, want 1", body, n)
			}
			if n := Eval[int](agent, count("document", "#messages .msg[data-seq] .bubble", body)); n != 1 {
				t.Errorf("console shows %q %d times, want 1", body, n)
			}
		}
		// What the pages show is what was stored, once each.
		convs, err := srv.Store.Conversations(context.Background(), models.ConversationFilter{})
		if err != nil || len(convs) != 1 {
			t.Fatalf("stored conversations = %d (%v), want 1", len(convs), err)
		}
		msgs, err := srv.Store.Messages(context.Background(), convs[0].ID, 0, 500)
		if err != nil {
			t.Fatalf("stored messages: %v", err)
		}
		stored := map[string]int{}
		for _, m := range msgs {
			stored[m.Body]++
		}
		for _, body := range []string{"Do you ship to Lyon?", "Yes, in 2 days.", "And to Marseille?", "Still there after the restart?", "Yes, still here."} {
			if stored[body] != 1 {
				t.Errorf("%q stored %d times, want 1", body, stored[body])
			}
		}
	})
	if !ok {
		return
	}

	t.Run("xss stays text", func(t *testing.T) {
		shopper.T, agent.T = t, t
		payload := `<img src=x onerror="window.__xss=1">`
		shopper.WidgetSend(payload)
		shopper.WidgetHas("the payload in the widget, as text", payload)
		agent.ConsoleHas("the payload in the console, as text", payload)
		for name, p := range map[string]*Page{"console": agent, "shop": shopper} {
			if got := Eval[string](p, `typeof window.__xss`); got != "undefined" {
				t.Errorf("%s: window.__xss is %s: the payload ran", name, got)
			}
		}
		if n := Eval[int](agent, `document.querySelectorAll('#messages img, #mine img').length`); n != 0 {
			t.Errorf("console has %d img elements in messages, want 0", n)
		}
		if n := Eval[int](shopper, Widget+`.querySelectorAll('img').length`); n != 0 {
			t.Errorf("widget has %d img elements, want 0", n)
		}
	})
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// shopServer serves pages on another loopback port: a shop embedding the
// widget from Kefu's origin. It returns the shop's origin.
func shopServer(t *testing.T, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: handler}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// TestHostileShop embeds the widget cross-origin on a page with CSS that
// resets everything, huge fonts, and a CSP allowing only Kefu's origin for
// scripts and connections.
func TestHostileShop(t *testing.T) {
	var kefu string
	mux := http.NewServeMux()
	mux.HandleFunc("/hostile.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, "* { all: unset !important; } html { font-size: 60px !important; } body { font-family: serif; color: red; }\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ws := "ws" + strings.TrimPrefix(kefu, "http")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src "+kefu+"; connect-src "+kefu+" "+ws)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>Hostile shop</title><link rel="stylesheet" href="/hostile.css"></head>
<body><h1>Hostile shop</h1><p>Everything here is unset and huge.</p>
<script src="%s/widget.js" async data-lang="en" data-title="Hostile Shop Help" data-color="#0f766e" data-position="left"></script>
</body></html>`, kefu)
	})
	shop := shopServer(t, mux)
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{shop}})
	kefu = srv.URL
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)

	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	shopper := b.NewPage(t, "shopper")
	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)

	shopper.Go(shop + "/")
	if got := Eval[string](shopper, `getComputedStyle(document.documentElement).fontSize`); got != "60px" {
		t.Fatalf("the hostile CSS did not apply (html font-size %s): the test would prove nothing", got)
	}
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.Screenshot("hostile-shop-open")
	checks := []struct{ what, js, want string }{
		{"panel width", `getComputedStyle(` + WidgetQ(".panel") + `).width`, "370px"},
		{"panel position", `getComputedStyle(` + WidgetQ(".panel") + `).position`, "fixed"},
		{"text size", `getComputedStyle(` + WidgetQ("textarea") + `).fontSize`, "14px"},
		{"title", WidgetQ(".title") + `.textContent`, "Hostile Shop Help"},
		{"accent colour", `getComputedStyle(` + WidgetQ(".launcher") + `).backgroundColor`, "rgb(15, 118, 110)"},
		{"left side", `getComputedStyle(` + WidgetQ(".launcher") + `).left`, "20px"},
	}
	for _, c := range checks {
		if got := Eval[string](shopper, c.js); got != c.want {
			t.Errorf("%s = %q, want %q", c.what, got, c.want)
		}
	}

	shopper.WidgetSend("Hello from a hostile page")
	shopper.WidgetHas("the shopper's message, stored", "Hello from a hostile page")
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the message in the console", "Hello from a hostile page")
	agent.Wait("the shop's page URL", `document.getElementById('d-page-url').textContent.startsWith(`+jsString(shop)+`)`)
	agent.ConsoleReply("Welcome, brave shopper")
	shopper.WidgetHas("the reply on the hostile page", "Welcome, brave shopper")

	for _, l := range shopper.Logs() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Refused to") {
			t.Errorf("CSP violation on the shop page: %s", l)
		}
	}
}

// TestWidgetAPI drives the widget through window.Kefu as a shop's own code
// would: calls queued before the script loads, identify (with an identity
// the shop's server signed), open, events.
func TestWidgetAPI(t *testing.T) {
	var kefu string
	const secret = "shop-secret-0123456789abcdef"
	signature := auth.SignIdentity([]byte(secret), auth.Identity{ID: "c-42", Name: "Ada Lovelace", Email: "ada@example.com", ExpiresAt: time.Now().Add(time.Hour)})
	shop := shopServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>API shop</title></head><body>
<button id="help">Help</button>
<script>
window.Kefu = window.Kefu || {q: []};
["open", "close", "identify", "setDepartment", "on"].forEach(function (m) {
  Kefu[m] = Kefu[m] || function () { Kefu.q.push([m, [].slice.call(arguments)]); };
});
window.__events = [];
Kefu.identify({id: "c-42", name: "Ada Lovelace", email: "ada@example.com", signature: %q});
Kefu.on("message", function (m) { __events.push(["message", m.sender_kind, m.body]); });
Kefu.on("open", function () { __events.push(["open"]); });
Kefu.on("close", function () { __events.push(["close"]); });
Kefu.on("unread", function (n) { __events.push(["unread", n]); });
</script>
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
	if got := Eval[bool](shopper, `typeof Kefu.version === "number" && Array.isArray(Kefu.q) === false`); !got {
		t.Fatalf("window.Kefu is not the loaded API")
	}
	Eval[bool](shopper, `Kefu.open(), true`)
	shopper.Wait("the panel opened by Kefu.open()", `!`+WidgetQ(".panel")+`.hidden`)
	shopper.Wait("the open event", `__events.some(e => e[0] === "open")`, `JSON.stringify(__events)`)
	shopper.Wait("focus in the message box", Widget+`.activeElement === `+WidgetQ("textarea"))

	shopper.Type("Hi, I am Ada" + Enter)
	shopper.WidgetHas("the shopper's message", "Hi, I am Ada")
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the shopper's message in the console", "Hi, I am Ada")
	agent.Wait("the signed identity in the console", `document.getElementById('d-name').textContent === "Ada Lovelace · ada@example.com"`,
		`document.getElementById('d-name').textContent`)
	agent.ConsoleReply("Hello Ada!")
	shopper.Wait("the message event with the reply", `__events.some(e => e[0] === "message" && e[1] === "agent" && e[2] === "Hello Ada!")`, `JSON.stringify(__events)`)

	// Escape closes and gives focus back to the launcher; a reply while
	// closed raises the unread count, shown on the badge.
	shopper.Type("\x1b")
	shopper.Wait("the panel closed by Escape", WidgetQ(".panel")+`.hidden && __events.some(e => e[0] === "close")`)
	shopper.Wait("focus back on the launcher", Widget+`.activeElement === `+WidgetQ(".launcher"))
	agent.ConsoleReply("Anything else?")
	shopper.Wait("the unread event", `__events.some(e => e[0] === "unread" && e[1] === 1)`, `JSON.stringify(__events)`)
	shopper.Wait("the unread badge", `!`+WidgetQ(".badge")+`.hidden && `+WidgetQ(".badge")+`.textContent === "1"`)
	if got := Eval[string](shopper, WidgetQ(".launcher")+`.getAttribute("aria-label")`); !strings.Contains(got, "1 unread") {
		t.Errorf("launcher aria-label = %q, want it to announce 1 unread message", got)
	}
	Eval[bool](shopper, `Kefu.open(), true`)
	shopper.Wait("unread back to 0 on open", `__events.some(e => e[0] === "unread" && e[1] === 0) && `+WidgetQ(".badge")+`.hidden`)
}

func reload() chromedp.Action[chromedp.Void] { return chromedp.Reload() }
