package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/chaos"
	"github.com/kefu-chat/kefu/models"
)

// chaosSeed is $KEFU_CHAOS_SEED, to replay a run, or a new seed.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("KEFU_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEFU_CHAOS_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// shownMessage is a stored message as a page shows it.
type shownMessage struct {
	Seq  int    `json:"seq"`
	Mine bool   `json:"mine"`
	Sys  bool   `json:"sys"`
	Body string `json:"body"`
}

// shownJS lists the stored messages (those with a seq) under root, in
// page order, as JSON for shownMessage.
func shownJS(root, sel string) string {
	return `[...` + root + `.querySelectorAll(` + jsString(sel) + `)].map(e => ({seq: Number(e.dataset.seq),
		mine: e.classList.contains('me'), sys: e.classList.contains('sys'), body: e.querySelector('.bubble').textContent}))`
}

// countSockets makes the page count the websockets it opens from now on in
// window.__sockets.
const countSockets = `(() => {
  if (window.__sockets !== undefined) return true;
  window.__sockets = 0;
  const W = window.WebSocket;
  window.WebSocket = function (...args) { window.__sockets++; return new W(...args); };
  window.WebSocket.prototype = W.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  return true;
})()`

// TestDroppedNetworksInBrowser puts the chaos proxy between Chromium and
// Kefu: the shop page, the widget's socket, the console and the agent's
// socket all go through it. While a shopper and an agent type a script
// into the real widget and console, the proxy cuts their connections at
// random moments (seeded; the seed is logged, and KEFU_CHAOS_SEED replays
// it). At the end each page shows exactly the script, each line once, in
// one order with nothing left sending or failed, and the database holds
// exactly the script in that order.
func TestDroppedNetworksInBrowser(t *testing.T) {
	const lines = 12 // each way
	seed := chaosSeed(t)
	t.Logf("chaos seed %d (KEFU_CHAOS_SEED=%d replays it)", seed, seed)
	var proxy *chaos.Proxy
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		p, err := chaos.New(c.Addr, chaos.Options{Seed: seed, MinLife: 400 * time.Millisecond, MaxLife: 2 * time.Second,
			MaxCuts: 40, Calm: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		proxy = p
		// The pages are loaded through the proxy, so that their sockets
		// go through it too: Kefu's own origin is the proxy's, and the
		// origin checks stay as they are.
		c.PublicURL = "http://" + p.Addr()
		// An agent cut off for a moment keeps the chat (the default is a
		// minute; a slow run must not hand the chat back to the queue).
		c.GracePeriod = 10 * time.Minute
	}})
	via := srv.Config.PublicURL
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	var fromShopper, fromAgent []string
	for i := 1; i <= lines; i++ {
		fromShopper = append(fromShopper, fmt.Sprintf("Shopper line %02d", i))
		fromAgent = append(fromAgent, fmt.Sprintf("Agent line %02d", i))
	}

	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	shopper := b.NewPage(t, "shopper")
	agent.ConsoleLogin(via, "li@shop.test", agentPassword)
	shopper.Go(via + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend(fromShopper[0])
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the first line in the console", fromShopper[0])

	// The storm: both sides type without waiting for anything. Each page
	// counts the sockets it opens from now on (its reconnects).
	for _, p := range []*Page{agent, shopper} {
		Eval[bool](p, countSockets)
	}
	before := proxy.Accepted()
	proxy.Storm()
	for i := range lines {
		agent.ConsoleReply(fromAgent[i])
		if i+1 < lines {
			shopper.WidgetSend(fromShopper[i+1])
		}
	}
	cuts, accepted := proxy.Cuts(), proxy.Accepted()-before
	proxy.Calm()
	reconnects := map[string]int{"widget": Eval[int](shopper, `window.__sockets`), "console": Eval[int](agent, `window.__sockets`)}
	t.Logf("proxy: %d cuts while typing, %d connections made after the storm began; reconnects %v", cuts, accepted, reconnects)

	total := 2 * lines
	shopper.Wait("the widget to show every line stored, none pending",
		fmt.Sprintf(`%s.querySelectorAll('.msg[data-seq]').length >= %d && %s.querySelectorAll('.msg.pending, .msg.failed').length === 0`, Widget, total, Widget),
		`document.querySelector('#kefu-widget') && [...`+Widget+`.querySelectorAll('.msg')].map(e => e.className + ':' + e.textContent).join(' | ')`)
	agent.Wait("the console to show every line stored, none pending",
		fmt.Sprintf(`document.querySelectorAll('#messages .msg[data-seq]').length >= %d && document.querySelectorAll('#messages .msg.pending, #messages .msg.failed').length === 0`, total),
		`[...document.querySelectorAll('#messages .msg')].map(e => e.className + ':' + e.textContent).join(' | ')`)

	convs, err := srv.Store.Conversations(context.Background(), models.ConversationFilter{})
	if err != nil || len(convs) != 1 {
		t.Fatalf("stored conversations = %d (%v), want 1", len(convs), err)
	}
	stored, err := srv.Store.Messages(context.Background(), convs[0].ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var storedShopper, storedAgent, storedOrder []string
	for i, m := range stored {
		if m.Seq != int64(i+1) {
			t.Errorf("stored message %d has seq %d", i, m.Seq)
		}
		switch m.SenderKind {
		case models.SenderVisitor:
			storedShopper = append(storedShopper, m.Body)
		case models.SenderAgent:
			storedAgent = append(storedAgent, m.Body)
		default:
			t.Errorf("stored a %s message %q: the script has none", m.SenderKind, m.Body)
		}
		storedOrder = append(storedOrder, m.Body)
	}
	if !slices.Equal(storedShopper, fromShopper) || !slices.Equal(storedAgent, fromAgent) {
		t.Errorf("stored\n shopper %q\n agent   %q\nwant the script, each line once, in order", storedShopper, storedAgent)
	}

	// Each page: the other side's lines and its own, once each, in the
	// stored order.
	for _, side := range []struct {
		name        string
		page        *Page
		js          string
		mine, other []string
	}{
		{"widget", shopper, shownJS(Widget, ".msg[data-seq]"), fromShopper, fromAgent},
		{"console", agent, shownJS("document", "#messages .msg[data-seq]"), fromAgent, fromShopper},
	} {
		shown := Eval[[]shownMessage](side.page, side.js)
		var mine, other, order []string
		for i, m := range shown {
			if m.Seq != i+1 {
				t.Errorf("%s: message %d shows seq %d", side.name, i, m.Seq)
			}
			switch {
			case m.Sys:
				t.Errorf("%s shows a system message %q", side.name, m.Body)
			case m.Mine:
				mine = append(mine, m.Body)
			default:
				other = append(other, m.Body)
			}
			order = append(order, m.Body)
		}
		if !slices.Equal(other, side.other) {
			t.Errorf("%s shows from the other side %q, want %q", side.name, other, side.other)
		}
		if !slices.Equal(mine, side.mine) {
			t.Errorf("%s shows as its own %q, want %q", side.name, mine, side.mine)
		}
		if !slices.Equal(order, storedOrder) {
			t.Errorf("%s shows %q, stored is %q", side.name, order, storedOrder)
		}
	}
	// Each socket lives at most MaxLife after the storm began, and the
	// typing lasts longer: both pages must have lost theirs.
	for name, n := range reconnects {
		if n == 0 {
			t.Errorf("the %s never reconnected during the storm (%d cuts): the test proved nothing for it", name, cuts)
		}
	}
}
