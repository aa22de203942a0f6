// Package e2e proves Kefu's pages in a real browser: Debian's Chromium,
// headless, driven with chromedp, against a real Kefu on a loopback port
// (internal/apptest). This file is the harness later browser tests reuse:
// a Browser per test, a Page per person (each in its own browser context,
// so cookies and localStorage are separate), and helpers for the widget,
// whose elements live in a shadow root.
//
// Waiting is always by polling a JavaScript condition with a generous
// deadline, which only bounds a failure; nothing sleeps for a fixed time.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kefu-chat/kefu/internal/testenv"
)

// Deadline bounds every wait: long enough for a loaded 2-core machine, and
// only ever reached when something is broken.
const Deadline = 45 * time.Second

// ChromiumPath is where the browser is: $KEFU_CHROMIUM, else Debian's.
func ChromiumPath() string {
	if p := os.Getenv("KEFU_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Browser is one headless Chromium process with a fresh profile.
type Browser struct {
	ctx context.Context
}

// NewBrowser starts Chromium for t and stops it at cleanup. extra adds
// flags, e.g. chromedp.Flag("lang", "zh-CN").
func NewBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	path := ChromiumPath()
	if _, err := os.Stat(path); err != nil {
		testenv.Need(t, "chromium ("+path+"; set KEFU_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Hidden tabs must keep their timers running at full speed, or a
		// backgrounded page reconnects late.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &Browser{ctx: bctx}
}

// Page is a tab in its own browser context: a person with their own
// cookies and storage.
type Page struct {
	T   testing.TB
	Ctx context.Context
	mu  sync.Mutex
	log []string
}

// NewPage opens a tab in a new browser context. The page's console output
// and uncaught exceptions are printed if the test fails.
func (b *Browser) NewPage(t testing.TB, name string) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening tab %s: %v", name, err)
	}
	p := &Page{T: t, Ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.log = append(p.log, m.String())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			for _, l := range p.log {
				t.Logf("[%s console] %s", name, l)
			}
		}
	})
	return p
}

// Logs returns what the page wrote to its console so far.
func (p *Page) Logs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// Do runs steps with Deadline and fails the test on error.
func (p *Page) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, Deadline)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.T.Fatalf("%s: %v", what, err)
	}
}

// Go navigates to url and waits for the load event.
func (p *Page) Go(url string) {
	p.T.Helper()
	p.Do("navigating to "+url, chromedp.Navigate(url))
}

// Eval evaluates js in the page and decodes its value into T.
func Eval[T any](p *Page, js string) T {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, Deadline)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.T.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// Wait polls the JavaScript condition js until it is truthy, failing the
// test with what (and the value of explain, if given) at Deadline.
func (p *Page) Wait(what, js string, explain ...string) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, Deadline+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(Deadline)))
	if err != nil {
		detail := ""
		if len(explain) > 0 {
			ctx2, cancel2 := context.WithTimeout(p.Ctx, 5*time.Second)
			v, err2 := chromedp.Run(ctx2, chromedp.Evaluate[any](explain[0]))
			cancel2()
			b, _ := json.Marshal(v)
			detail = fmt.Sprintf(" (%s = %s %v)", explain[0], b, err2)
		}
		p.T.Fatalf("waiting for %s: %v%s", what, err, detail)
	}
}

// Type sends keystrokes to the focused element, as a person types them;
// "\r" (Enter) is pressed as a real keyboard does: one keyDown carrying the
// text, so a page that prevents the keydown (send on Enter) gets no newline.
// (chromedp's KeyEvent sends a separate char event that inserts one anyway.)
func (p *Page) Type(text string) {
	p.T.Helper()
	for i, part := range strings.Split(text, Enter) {
		if i > 0 {
			p.Do("pressing Enter", pressEnter())
		}
		if part != "" {
			p.Do("typing", chromedp.KeyEvent(part))
		}
	}
}

func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", UnmodifiedText: "\r", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

// Enter is the Enter key for Type.
const Enter = kb.Enter

// Screenshot saves a PNG of the viewport as dir/name.png, where dir is
// $KEFU_SCREENSHOTS or a folder of the test's own.
func (p *Page) Screenshot(name string) string {
	p.T.Helper()
	dir := ScreenshotDir(p.T)
	ctx, cancel := context.WithTimeout(p.Ctx, Deadline)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.T.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.T.Fatalf("writing screenshot: %v", err)
	}
	return path
}

var (
	shotOnce sync.Once
	shotDir  string
)

// ScreenshotDir is where screenshots go: $KEFU_SCREENSHOTS (created if
// needed), else a temporary folder that lives as long as the test binary's
// first user of it.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("KEFU_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("screenshot folder: %v", err)
		}
		return d
	}
	shotOnce.Do(func() { shotDir, _ = os.MkdirTemp("", "kefu-screenshots-") })
	return shotDir
}

// Widget is a JavaScript expression for the widget's shadow root.
const Widget = `document.querySelector('#kefu-widget').shadowRoot`

// WidgetQ is a JavaScript expression for the first element matching css in
// the widget's shadow root (css must not contain a backquote).
func WidgetQ(css string) string {
	return Widget + ".querySelector(`" + css + "`)"
}

// WidgetReady waits until the widget is on the page and connected.
func (p *Page) WidgetReady() {
	p.T.Helper()
	p.Wait("the widget to connect",
		`!!document.querySelector('#kefu-widget') && `+WidgetQ(".status.online")+` !== null`,
		`document.querySelector('#kefu-widget') && `+WidgetQ(".status")+`.textContent`)
}

// WidgetOpen clicks the launcher and waits for the panel.
func (p *Page) WidgetOpen() {
	p.T.Helper()
	p.Do("clicking the launcher", chromedp.Click(chromedp.JSPath(WidgetQ(".launcher"))))
	p.Wait("the chat panel", `!`+WidgetQ(".panel")+`.hidden`)
}

// WidgetSend types text into the widget's message box and presses Enter.
func (p *Page) WidgetSend(text string) {
	p.T.Helper()
	p.Do("focusing the message box", chromedp.Click(chromedp.JSPath(WidgetQ("textarea"))))
	p.Type(text + Enter)
}

// WidgetHas waits for a stored (not pending) message with exactly body in
// the widget.
func (p *Page) WidgetHas(what, body string) {
	p.T.Helper()
	b, _ := json.Marshal(body)
	p.Wait(what,
		`[...`+Widget+`.querySelectorAll('.msg[data-seq] .bubble')].some(e => e.textContent === `+string(b)+`)`,
		`document.querySelector('#kefu-widget') && [...`+Widget+`.querySelectorAll('.msg .bubble')].map(e => e.textContent).join(' | ')`)
}

// ConsoleHas waits for a message with exactly body in the open
// conversation of the console.
func (p *Page) ConsoleHas(what, body string) {
	p.T.Helper()
	b, _ := json.Marshal(body)
	p.Wait(what,
		`[...document.querySelectorAll('#messages .msg[data-seq] .bubble')].some(e => e.textContent === `+string(b)+`)`,
		`[...document.querySelectorAll('#messages .msg .bubble')].map(e => e.textContent).join(' | ')`)
}

// ConsoleLogin signs in on the console page at base.
func (p *Page) ConsoleLogin(base, email, password string) {
	p.T.Helper()
	p.Go(strings.TrimRight(base, "/") + ConsolePath)
	p.Wait("the login form", `!document.getElementById('login').hidden`)
	p.Do("signing in",
		chromedp.SendKeys(chromedp.ID("login-email"), email),
		chromedp.SendKeys(chromedp.ID("login-password"), password+Enter),
	)
	p.Wait("the console", `!document.getElementById('app').hidden`, `document.getElementById('login-error').textContent`)
	p.ConsoleConnected()
}

// ConsoleConnected waits until the console's socket is connected.
func (p *Page) ConsoleConnected() {
	p.T.Helper()
	p.Wait("the console to connect", `document.getElementById('conn').classList.contains('online')`, `document.getElementById('conn').className`)
}

// ConsoleOpenFirst waits for a conversation in "My conversations" and opens it.
func (p *Page) ConsoleOpenFirst() {
	p.T.Helper()
	p.Wait("a conversation assigned to the agent", `document.querySelector('#mine .conv-item') !== null`,
		`document.getElementById('queue').textContent`)
	p.ClickJS("opening the conversation", `document.querySelector('#mine .conv-item')`)
	p.Wait("the conversation view", `!document.getElementById('conv-open').hidden`)
}

// ConsoleReply types a reply into the open conversation and presses Enter.
func (p *Page) ConsoleReply(text string) {
	p.T.Helper()
	p.Do("typing a reply", chromedp.Click(chromedp.ID("reply-text")))
	p.Type(text + Enter)
}

// ClickJS clicks the element the JavaScript expression el finds, inside the
// page in one step: lists that re-render on every frame replace their
// elements, so a CDP click on a node found a moment earlier can miss it
// ("Could not find node with given id"). It waits for the element first.
func (p *Page) ClickJS(what, el string) {
	p.T.Helper()
	p.Wait(what, `(() => { const e = `+el+`; if (!e) return false; e.click(); return true; })()`)
}

// WidgetOpenIfClosed opens the panel unless it is open (it stays open
// across a reload of the shop page).
func (p *Page) WidgetOpenIfClosed() {
	p.T.Helper()
	if Eval[bool](p, WidgetQ(".panel")+`.hidden`) {
		p.WidgetOpen()
	}
}

// ConsolePath is where tests open the console. It names index.html because
// the server answers /console/ with a redirect to itself (reported to the
// handlers' owner); switch back to "/console/" once that is fixed.
const ConsolePath = "/console/index.html"
