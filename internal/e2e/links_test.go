package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/blobfs"
)

// linkTTL is how long a signed file link works on the test server: short,
// so that links expire while the pages stay open, long enough that a fresh
// one outlives a few steps of a busy test (its expiry is signed in whole
// seconds, so a link works for between linkTTL-1s and linkTTL).
const linkTTL = 5 * time.Second

// countLinkFetches wraps the page's fetch and window.open so that the test
// can count the fresh links the page asked for (window.__links, by
// attachment id) and see what it opened (window.__opened) without a new tab.
const countLinkFetches = `(() => {
  window.__links = window.__links || {};
  window.__opened = window.__opened || [];
  if (!window.__fetchWrapped) {
    const f = window.fetch;
    window.fetch = function (u, o) {
      const m = /\/files\/([^/?]+)\/link/.exec(String(u));
      if (m) window.__links[decodeURIComponent(m[1])] = (window.__links[decodeURIComponent(m[1])] || 0) + 1;
      return f.apply(this, arguments);
    };
    window.open = function (u) { window.__opened.push(String(u)); return null; };
    window.__fetchWrapped = true;
  }
  return true;
})()`

// attachmentID is the id in a file link's path (/files/{id}).
func attachmentID(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || path.Dir(u.Path) != "/files" {
		t.Fatalf("%q is not a file link", link)
	}
	return path.Base(u.Path)
}

// waitRefused waits until the server refuses a signed link: it expired.
func waitRefused(t *testing.T, link string) {
	t.Helper()
	if link == "" {
		t.Fatal("no link to wait for")
	}
	deadline := time.Now().Add(linkTTL + Deadline)
	for {
		status := 0
		resp, err := http.Get(link)
		if err == nil {
			resp.Body.Close()
			if status = resp.StatusCode; status == http.StatusUnauthorized {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link %s still works (HTTP %d, %v) past its expiry", link, status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestExpiredFileLinks leaves the console and the widget open while file
// links expire, then shows the files: each page fetches a fresh link once
// and the image loads; a download clicked late opens a fresh link; and a
// file whose fresh link fails too (the file is gone) is shown broken
// without asking again, however often the page renders.
func TestExpiredFileLinks(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.AttachmentLinkTTL = linkTTL
		c.Blobs = config.BlobsFiles // the test deletes a file from the folder
	}})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	first := b.NewPage(t, "first shopper")
	second := b.NewPage(t, "second shopper")
	dir := t.TempDir()
	photo := writeFile(t, dir, "for-you.png", pngBytes(t))
	notes := writeFile(t, dir, "notes.txt", []byte("Care: hand wash only.\n"))
	late := writeFile(t, dir, "late.png", pngBytes(t))
	gone := writeFile(t, dir, "gone.png", pngBytes(t))

	// The first shopper's conversation is open in the console; the agent
	// sends a picture and a text file while the shopper's chat is closed,
	// so the widget has their links but does not load them.
	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)
	first.Go(srv.URL + "/")
	first.WidgetReady()
	first.WidgetOpen()
	first.WidgetSend("Can you send me the care label?")
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the first shopper's message", "Can you send me the care label?")
	first.ClickJS("closing the chat", WidgetQ(".close"))
	first.Wait("the chat closed", WidgetQ(".panel")+`.hidden`)
	agent.Do("sending a picture", chromedp.SetUploadFiles(chromedp.ID("attach-file"), []string{photo}))
	agent.Wait("the picture in the console", `[...document.querySelectorAll('#messages .msg.me img')].some(i => i.complete && i.naturalWidth === 8)`)
	agent.Do("sending a text file", chromedp.SetUploadFiles(chromedp.ID("attach-file"), []string{notes}))
	agent.Wait("the text file in the console", `[...document.querySelectorAll('#messages .msg.me a.file')].some(a => a.textContent === 'notes.txt')`)
	first.Wait("both files in the closed widget", WidgetQ(".msg.them img")+` !== null && `+WidgetQ(".msg.them a.file")+` !== null`)
	if Eval[bool](first, `(() => { const i = `+WidgetQ(".msg.them img")+`; return i.complete && i.naturalWidth > 0; })()`) {
		t.Fatal("the widget loaded the picture while the chat was closed: the test would not show an expired link")
	}
	photoLink := Eval[string](first, WidgetQ(".msg.them img")+`.closest('a').href`)
	notesLink := Eval[string](first, WidgetQ(".msg.them a.file")+`.href`)

	// A second shopper sends two pictures; the console gets them in a
	// conversation the agent has not opened, so it does not load them.
	second.Go(srv.URL + "/")
	second.WidgetReady()
	second.WidgetOpen()
	second.WidgetSend("Here are photos of the damage")
	agent.Wait("the second conversation in the console", `document.querySelectorAll('#mine .conv-item').length === 2`)
	second.Do("sending a picture", chromedp.SetUploadFiles(chromedp.JSPath(WidgetQ("input[type=file]")), []string{late}))
	second.Wait("the picture in the widget", `[...`+Widget+`.querySelectorAll('.msg.me img')].some(i => i.alt === 'late.png' && i.complete && i.naturalWidth === 8)`)
	second.Do("sending another picture", chromedp.SetUploadFiles(chromedp.JSPath(WidgetQ("input[type=file]")), []string{gone}))
	second.Wait("the other picture in the widget", `[...`+Widget+`.querySelectorAll('.msg.me img')].some(i => i.alt === 'gone.png' && i.complete && i.naturalWidth === 8)`)
	lateLink := Eval[string](second, `[...`+Widget+`.querySelectorAll('.msg.me img')].find(i => i.alt === 'late.png').src`)
	goneLink := Eval[string](second, `[...`+Widget+`.querySelectorAll('.msg.me img')].find(i => i.alt === 'gone.png').src`)
	agent.Wait("both pictures received by the console", `[...document.querySelectorAll('#mine .conv-item .ci-last')].some(e => e.textContent === 'gone.png')`)

	// Every link the pages hold expires; one file also disappears.
	for _, l := range []string{photoLink, notesLink, lateLink, goneLink} {
		waitRefused(t, l)
	}
	goneID := attachmentID(t, goneLink)
	a, err := srv.Store.Attachment(context.Background(), goneID)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobfs.Open(filepath.Join(srv.Config.Data, app.BlobFolder))
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Delete(context.Background(), a.BlobKey); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Page{agent, first} {
		Eval[bool](p, countLinkFetches)
	}

	t.Run("console", func(t *testing.T) {
		agent.T = t
		agent.ClickJS("opening the second conversation", `[...document.querySelectorAll('#mine .conv-item')].find(b => b.querySelector('.ci-last').textContent === 'gone.png')`)
		lateImg := `[...document.querySelectorAll('#messages .msg.them img')].find(i => i.alt === 'late.png')`
		goneImg := `[...document.querySelectorAll('#messages .msg.them img')].find(i => i.alt === 'gone.png')`
		agent.Wait("the expired picture, loaded from a fresh link", `(() => { const i = `+lateImg+`; return !!i && i.complete && i.naturalWidth === 8 && i.src !== `+jsString(lateLink)+`; })()`,
			`JSON.stringify({src: (`+lateImg+` || {}).src, links: window.__links})`)
		agent.Wait("the vanished picture, tried with a fresh link and shown broken", `(() => { const i = `+goneImg+`; return !!i && i.complete && i.naturalWidth === 0 && i.src !== `+jsString(goneLink)+`; })()`,
			`JSON.stringify({src: (`+goneImg+` || {}).src, links: window.__links})`)
		// Render many times (each render makes new img elements that fail
		// again): no new request for the vanished file.
		Eval[bool](agent, `(() => { for (let i = 0; i < 20; i++) document.dispatchEvent(new Event('visibilitychange')); return true; })()`)
		agent.Wait("the re-rendered picture to fail", `(() => { const i = `+goneImg+`; return !!i && i.complete && i.naturalWidth === 0; })()`)
		if n := Eval[int](agent, `window.__links[`+jsString(goneID)+`] || 0`); n != 1 {
			t.Errorf("the console asked %d times for a link to the vanished file, want 1", n)
		}
		if n := Eval[int](agent, `window.__links[`+jsString(attachmentID(t, lateLink))+`] || 0`); n < 1 {
			t.Errorf("the console asked %d times for a link to the expired picture, want at least 1", n)
		}
	})

	t.Run("widget", func(t *testing.T) {
		first.T = t
		first.WidgetOpen()
		img := WidgetQ(".msg.them img")
		first.Wait("the expired picture, loaded from a fresh link", `(() => { const i = `+img+`; return !!i && i.complete && i.naturalWidth === 8 && i.src !== `+jsString(photoLink)+`; })()`,
			`JSON.stringify({src: (`+img+` || {}).src, links: window.__links})`)
		if n := Eval[int](first, `window.__links[`+jsString(attachmentID(t, photoLink))+`] || 0`); n < 1 {
			t.Errorf("the widget asked %d times for a fresh link to the picture, want at least 1", n)
		}
		// A download clicked after its link expired opens a fresh one.
		first.ClickJS("clicking the expired download", WidgetQ(".msg.them a.file"))
		first.Wait("a fresh link opened", `window.__opened.length === 1`, `JSON.stringify(window.__opened)`)
		opened := Eval[string](first, `window.__opened[0]`)
		if opened == notesLink || attachmentID(t, opened) != attachmentID(t, notesLink) {
			t.Fatalf("opened %s, want a fresh link to %s", opened, notesLink)
		}
		resp, err := http.Get(opened)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "Care: hand wash only.\n" {
			t.Errorf("the fresh link gives HTTP %d %q, want the file", resp.StatusCode, body)
		}
	})
}
