package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

// writeFile puts data in dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pngBytes is a real 8×6 PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for x := 0; x < 8; x++ {
		for y := 0; y < 6; y++ {
			img.Set(x, y, color.RGBA{R: 200, G: uint8(x * 30), B: 80, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTypingSeenAndFiles: each side sees the other typing, each side sees
// "Seen" once the other has the chat open, a picture the shopper sends shows
// inline in the console (and in the widget), and refused files (a program,
// an HTML page) show an error and add nothing to the chat on either side.
func TestTypingSeenAndFiles(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, agentPassword)
	b := NewBrowser(t)
	agent := b.NewPage(t, "agent")
	shopper := b.NewPage(t, "shopper")
	dir := t.TempDir()

	agent.ConsoleLogin(srv.URL, "li@shop.test", agentPassword)
	shopper.Go(srv.URL + "/")
	shopper.WidgetReady()
	shopper.WidgetOpen()
	shopper.WidgetSend("Is this in stock?")
	shopper.WidgetHas("the shopper's message", "Is this in stock?")
	if Eval[bool](shopper, WidgetQ(".seen")+` !== null`) {
		t.Errorf("the widget shows Seen before the agent opened the chat")
	}
	agent.ConsoleOpenFirst()
	agent.ConsoleHas("the message in the console", "Is this in stock?")

	t.Run("seen", func(t *testing.T) {
		shopper.T, agent.T = t, t
		shopper.Wait("Seen under the shopper's message", `(() => { const e = `+WidgetQ(".msg.me .seen")+`; return e && e.closest('.msg').querySelector('.bubble').textContent === 'Is this in stock?'; })()`,
			`[...`+Widget+`.querySelectorAll('.msg .meta')].map(e => e.textContent).join(' | ')`)
		agent.ConsoleReply("Yes, three left.")
		agent.ConsoleHas("the reply", "Yes, three left.")
		shopper.WidgetHas("the reply in the widget", "Yes, three left.")
		agent.Wait("Seen under the agent's reply", `(() => { const e = document.querySelector('#messages .msg.me .seen'); return e && e.closest('.msg').querySelector('.bubble').textContent === 'Yes, three left.'; })()`,
			`[...document.querySelectorAll('#messages .meta')].map(e => e.textContent).join(' | ')`)
	})

	t.Run("typing", func(t *testing.T) {
		shopper.T, agent.T = t, t
		agent.Do("typing in the console", chromedp.Click(chromedp.ID("reply-text")))
		agent.Type("Let me ch")
		shopper.Wait("the agent typing in the widget", `!`+WidgetQ(".typing")+`.hidden && `+WidgetQ(".typing")+`.textContent.includes('Li Na')`)
		shopper.Do("typing in the widget", chromedp.Click(chromedp.JSPath(WidgetQ("textarea"))))
		shopper.Type("Tha")
		agent.Wait("the shopper typing in the console", `!document.getElementById('typing').hidden && document.getElementById('typing').textContent.includes('typing')`)
		// A message from the typist takes the indicator down at once.
		agent.Type("eck." + Enter)
		shopper.WidgetHas("the finished reply", "Let me check.")
		shopper.Wait("no typing indicator after the message", WidgetQ(".typing")+`.hidden`)
		shopper.Type("nks" + Enter)
		agent.ConsoleHas("the shopper's message", "Thanks")
	})

	t.Run("picture inline", func(t *testing.T) {
		shopper.T, agent.T = t, t
		p := writeFile(t, dir, "photo.png", pngBytes(t))
		shopper.Do("choosing a picture", chromedp.SetUploadFiles(chromedp.JSPath(WidgetQ("input[type=file]")), []string{p}))
		agent.Wait("the picture inline in the console, loaded", `[...document.querySelectorAll('#messages .msg.them .bubble img')].some(i => i.complete && i.naturalWidth === 8 && new URL(i.src).pathname.startsWith('/files/'))`,
			`document.getElementById('messages').innerHTML.slice(-600)`)
		shopper.Wait("the picture in the widget", `[...`+Widget+`.querySelectorAll('.msg.me .bubble img')].some(i => i.complete && i.naturalWidth === 8)`)
	})

	t.Run("refused files", func(t *testing.T) {
		shopper.T, agent.T = t, t
		before := Eval[int](agent, `document.querySelectorAll('#messages .msg').length`)
		wBefore := Eval[int](shopper, `[...`+Widget+`.querySelectorAll('.msg[data-seq]')].length`)
		exe := writeFile(t, dir, "setup.exe", append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 200)...))
		shopper.Do("choosing a program", chromedp.SetUploadFiles(chromedp.JSPath(WidgetQ("input[type=file]")), []string{exe}))
		shopper.Wait("an error in the widget", `[...`+Widget+`.querySelectorAll('.upload.err')].some(e => e.textContent.includes('setup.exe') && e.textContent.includes('cannot be sent'))`,
			Widget+`.querySelector('.uploads').textContent`)
		html := writeFile(t, dir, "page.html", []byte("<!doctype html><html><body><script>window.__xss=1</script></body></html>"))
		agent.Do("the agent choosing an HTML page", chromedp.SetUploadFiles(chromedp.ID("attach-file"), []string{html}))
		agent.Wait("an error in the console", `document.getElementById('upload-status').classList.contains('err') && document.getElementById('upload-status').textContent.includes('page.html')`,
			`document.getElementById('upload-status').textContent`)
		// Proof that nothing was added: a later message is the next one on both sides.
		shopper.Do("focusing the widget", chromedp.Click(chromedp.JSPath(WidgetQ("textarea"))))
		shopper.Type("After the files" + Enter)
		agent.ConsoleHas("the later message", "After the files")
		if n := Eval[int](agent, `document.querySelectorAll('#messages .msg').length`); n != before+1 {
			t.Errorf("console has %d messages, want %d (only the later one added)", n, before+1)
		}
		shopper.WidgetHas("the later message in the widget", "After the files")
		if n := Eval[int](shopper, `[...`+Widget+`.querySelectorAll('.msg[data-seq]')].length`); n != wBefore+1 {
			t.Errorf("widget has %d messages, want %d", n, wBefore+1)
		}
	})
}
