package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

const shopOrigin = "https://shop.example"

// pngBytes is a PNG signature followed by filler: what
// http.DetectContentType calls image/png.
func pngBytes(n int) []byte {
	b := make([]byte, n)
	copy(b, "\x89PNG\r\n\x1a\n")
	for i := 8; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

type uploadAnswer struct {
	Ack     wire.ServerFrame `json:"ack"`
	Message wire.MessageView `json:"message"`
	apiError
}

// uploadFile posts data to /files with the given Authorization and Origin.
func uploadFile(t *testing.T, srv *apptest.Server, authz, origin string, q url.Values, data []byte) (*http.Response, uploadAnswer) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/files?"+q.Encode(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "image/png") // declared, never trusted
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	var out uploadAnswer
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("upload answer %q is not JSON: %v", body, err)
	}
	return resp, out
}

func fetch(t *testing.T, rawURL string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// blobFiles lists the files in the blob folder, temporary ones included.
func blobFiles(t *testing.T, srv *apptest.Server) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(srv.Config.Data, app.BlobFolder))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func q(conv, clientID, name string) url.Values {
	v := url.Values{"client_id": {clientID}, "name": {name}}
	if conv != "" {
		v.Set("conversation_id", conv)
	}
	return v
}

func startForFiles(t *testing.T) *apptest.Server {
	return apptest.Start(t, apptest.Options{AllowedOrigins: []string{shopOrigin}, Config: func(c *config.Config) {
		c.MaxAttachmentBytes = 64 << 10
	}})
}

func TestAttachmentRoundTrip(t *testing.T) {
	srv := startForFiles(t)
	p := mustPair(t, srv, "files@shop.test")
	visitorAuth := "Visitor " + p.shop.token
	img := pngBytes(5000)

	resp, up := uploadFile(t, srv, visitorAuth, shopOrigin, q(p.convID, "up-1", `C:\Users\me\<i>cat.png`), img)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: HTTP %d %+v", resp.StatusCode, up.Error)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != shopOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, shopOrigin)
	}
	a := up.Message.Attachment
	if a == nil || a.Type != "image/png" || a.Size != int64(len(img)) || a.Name != "<i>cat.png" || a.URL == "" {
		t.Fatalf("upload answer message = %+v attachment %+v", up.Message, a)
	}
	if up.Ack.Seq != 2 || up.Ack.ClientID != "up-1" || up.Message.Seq != 2 {
		t.Fatalf("ack %+v, want seq 2 for up-1", up.Ack)
	}

	// The agent is told like of any message, with a link that works
	// without credentials.
	got := p.agent.next("attachment message", func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeMessage && f.Message.Attachment != nil
	})
	if got.Message.Attachment.ID != a.ID || got.Message.SenderKind != models.SenderVisitor {
		t.Fatalf("agent got %+v", got.Message)
	}
	fresp, body := fetch(t, got.Message.Attachment.URL)
	if fresp.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Fatalf("GET the link: HTTP %d, %d bytes; want 200 and the file", fresp.StatusCode, len(body))
	}
	for h, want := range map[string]string{
		"Content-Type":           "image/png",
		"X-Content-Type-Options": "nosniff",
		"Content-Disposition":    `inline; filename="<i>cat.png"`,
	} {
		if got := fresp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if csp := fresp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'none'", csp)
	}

	t.Run("stored once on retry", func(t *testing.T) {
		before := len(blobFiles(t, srv))
		resp, again := uploadFile(t, srv, visitorAuth, shopOrigin, q(p.convID, "up-1", "cat.png"), img)
		if resp.StatusCode != http.StatusCreated || again.Ack.MessageID != up.Ack.MessageID || again.Message.Attachment == nil ||
			again.Message.Attachment.ID != a.ID {
			t.Fatalf("retry: HTTP %d ack %+v; want the first upload's answer", resp.StatusCode, again.Ack)
		}
		if after := len(blobFiles(t, srv)); after != before {
			t.Fatalf("blob folder went from %d to %d files on a retry", before, after)
		}
		if n := len(mustMessages(t, srv, p.convID)); n != 2 {
			t.Fatalf("%d messages after a retry, want 2", n)
		}
	})

	t.Run("agent sends a PDF, served as a download", func(t *testing.T) {
		pdf := []byte("%PDF-1.4\n% test document\n")
		resp, up := uploadFile(t, srv, "Bearer "+p.token, srv.URL, q(p.convID, "a-pdf", "invoice.pdf"), pdf)
		if resp.StatusCode != http.StatusCreated || up.Message.Attachment == nil || up.Message.Attachment.Type != "application/pdf" {
			t.Fatalf("agent upload: HTTP %d %+v", resp.StatusCode, up)
		}
		m := p.shop.next("pdf message", func(f wire.ServerFrame) bool {
			return f.Type == wire.TypeMessage && f.Message.Attachment != nil && f.Message.Attachment.Type == "application/pdf"
		})
		if m.Message.SenderKind != models.SenderAgent || m.Message.SenderName != "Agent files@shop.test" {
			t.Errorf("shopper got %+v", m.Message)
		}
		fresp, body := fetch(t, m.Message.Attachment.URL)
		if fresp.StatusCode != 200 || !bytes.Equal(body, pdf) {
			t.Fatalf("GET: HTTP %d", fresp.StatusCode)
		}
		if d := fresp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment;") {
			t.Errorf("Content-Disposition %q, want attachment", d)
		}
	})

	t.Run("history carries fresh links", func(t *testing.T) {
		p.shop.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: p.convID})
		page := p.shop.nextType(wire.TypeMessages)
		var withFile int
		for _, m := range page.Messages {
			if m.Attachment != nil {
				withFile++
				if r, _ := fetch(t, m.Attachment.URL); r.StatusCode != 200 {
					t.Errorf("history link of %s: HTTP %d", m.Attachment.Name, r.StatusCode)
				}
			}
		}
		if withFile != 2 {
			t.Fatalf("history has %d messages with files, want 2", withFile)
		}
	})

	link, _ := url.Parse(a.URL)
	t.Run("tampered, swapped or expired links are refused", func(t *testing.T) {
		other := mustPair(t, srv, "files2@shop.test")
		_, up2 := uploadFile(t, srv, "Visitor "+other.shop.token, shopOrigin, q(other.convID, "o-1", "other.png"), pngBytes(300))
		if up2.Message.Attachment == nil {
			t.Fatalf("second upload failed: %+v", up2.Error)
		}
		key, err := auth.LoadOrCreateKey(srv.Config.Data)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := auth.NewSigner(key, chat.SignerPurpose)
		if err != nil {
			t.Fatal(err)
		}
		expired := strings.SplitN(signer.Sign("attachment:"+a.ID, time.Now().Add(-time.Second)), ".", 2)
		otherPurpose, _ := auth.NewSigner(key, "something-else")
		foreign := strings.SplitN(otherPurpose.Sign("attachment:"+a.ID, time.Now().Add(time.Hour)), ".", 2)
		qs := link.Query()
		sig := qs.Get("sig")
		flipped := "A" + sig[1:]
		if sig[0] == 'A' {
			flipped = "B" + sig[1:]
		}
		for _, tc := range []struct{ name, url string }{
			{"tampered signature", srv.URL + "/files/" + a.ID + "?exp=" + qs.Get("exp") + "&sig=" + flipped},
			{"later expiry", srv.URL + "/files/" + a.ID + "?exp=" + "9999999999" + "&sig=" + sig},
			{"no signature", srv.URL + "/files/" + a.ID},
			{"another conversation's file with this link", srv.URL + "/files/" + up2.Message.Attachment.ID + "?" + link.RawQuery},
			{"expired", srv.URL + "/files/" + a.ID + "?exp=" + expired[0] + "&sig=" + expired[1]},
			{"signed for another purpose", srv.URL + "/files/" + a.ID + "?exp=" + foreign[0] + "&sig=" + foreign[1]},
		} {
			resp, body := fetch(t, tc.url)
			if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, img[:8]) {
				t.Errorf("%s: HTTP %d, want 401 and no file", tc.name, resp.StatusCode)
			}
		}

		// Fresh links only for the parties.
		var linkOut struct {
			URL string `json:"url"`
		}
		resp := request(t, "GET", srv.URL+"/files/"+a.ID+"/link", "", nil, &linkOut, func(r *http.Request) {
			r.Header.Set("Authorization", visitorAuth)
		})
		if resp.StatusCode != 200 || linkOut.URL == "" {
			t.Fatalf("own fresh link: HTTP %d", resp.StatusCode)
		}
		if r, _ := fetch(t, linkOut.URL); r.StatusCode != 200 {
			t.Errorf("fresh link: HTTP %d", r.StatusCode)
		}
		resp = request(t, "GET", srv.URL+"/files/"+a.ID+"/link", "", nil, nil, func(r *http.Request) {
			r.Header.Set("Authorization", "Visitor "+other.shop.token)
		})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("another shopper's fresh link: HTTP %d, want 404", resp.StatusCode)
		}
		resp = request(t, "GET", srv.URL+"/files/"+a.ID+"/link", other.token, nil, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("another agent's fresh link: HTTP %d, want 404", resp.StatusCode)
		}
		// Nor may anyone send into a conversation not theirs.
		r2, _ := uploadFile(t, srv, "Visitor "+other.shop.token, shopOrigin, q(p.convID, "x-1", "x.png"), pngBytes(100))
		if r2.StatusCode != http.StatusNotFound {
			t.Errorf("upload into another's conversation: HTTP %d, want 404", r2.StatusCode)
		}
		r3, _ := uploadFile(t, srv, "Bearer "+other.token, srv.URL, q(p.convID, "x-2", "x.png"), pngBytes(100))
		if r3.StatusCode != http.StatusNotFound {
			t.Errorf("agent upload into a conversation not theirs: HTTP %d, want 404", r3.StatusCode)
		}
	})
}

func TestRefusedUploadsStoreNothing(t *testing.T) {
	srv := startForFiles(t)
	p := mustPair(t, srv, "refuse@shop.test")
	visitorAuth := "Visitor " + p.shop.token

	for _, tc := range []struct {
		name, fileName string
		data           []byte
		origin, authz  string
		want           int
		code           models.Code
	}{
		{"HTML, even named .png", "photo.png", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), shopOrigin, visitorAuth, 400, models.EINVALID},
		{"SVG with an XML declaration", "logo.svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), shopOrigin, visitorAuth, 400, models.EINVALID},
		{"executable", "setup.exe", append([]byte("MZ\x90\x00"), make([]byte, 200)...), shopOrigin, visitorAuth, 400, models.EINVALID},
		{"too large", "big.png", pngBytes(64<<10 + 1), shopOrigin, visitorAuth, 413, models.ETOOLARGE},
		{"much too large", "huge.png", pngBytes(900 << 10), shopOrigin, visitorAuth, 413, models.ETOOLARGE},
		{"empty", "empty.png", nil, shopOrigin, visitorAuth, 400, models.EINVALID},
		{"origin not allowed", "ok.png", pngBytes(100), "https://evil.example", visitorAuth, 403, models.EFORBIDDEN},
		{"agent token from a shop page", "ok.png", pngBytes(100), shopOrigin, "Bearer " + p.token, 403, models.EFORBIDDEN},
		{"no credentials", "ok.png", pngBytes(100), shopOrigin, "", 401, models.EUNAUTHORIZED},
		{"unknown visitor token", "ok.png", pngBytes(100), shopOrigin, "Visitor kv_" + strings.Repeat("A", 43), 401, models.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := uploadFile(t, srv, tc.authz, tc.origin, q(p.convID, "r-"+tc.name, tc.fileName), tc.data)
			if resp.StatusCode != tc.want || out.Error.Code != tc.code {
				t.Fatalf("HTTP %d %q (%s), want %d %q", resp.StatusCode, out.Error.Code, out.Error.Message, tc.want, tc.code)
			}
			if files := blobFiles(t, srv); len(files) != 0 {
				t.Fatalf("blob folder holds %v after a refused upload", files)
			}
			if n := len(mustMessages(t, srv, p.convID)); n != 1 {
				t.Fatalf("%d messages after a refused upload, want 1", n)
			}
		})
	}
	p.agent.quietFor(t, func(f wire.ServerFrame) bool { return f.Type == wire.TypeMessage && f.Message.Attachment != nil })

	t.Run("SVG without a declaration is served as plain text, as a download", func(t *testing.T) {
		svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
		resp, up := uploadFile(t, srv, visitorAuth, shopOrigin, q(p.convID, "svg-1", "logo.svg"), svg)
		if resp.StatusCode == http.StatusCreated {
			f, _ := fetch(t, up.Message.Attachment.URL)
			ct, cd := f.Header.Get("Content-Type"), f.Header.Get("Content-Disposition")
			if strings.Contains(ct, "svg") || strings.Contains(ct, "html") || strings.Contains(ct, "xml") || !strings.HasPrefix(cd, "attachment") {
				t.Fatalf("SVG served as %q, %q; want a non-rendering type as a download", ct, cd)
			}
		} else if resp.StatusCode != 400 {
			t.Fatalf("SVG upload: HTTP %d, want 201 (as text) or 400", resp.StatusCode)
		}
	})

	t.Run("CORS preflight only for shop origins", func(t *testing.T) {
		for origin, want := range map[string]int{shopOrigin: 204, srv.URL: 204, "https://evil.example": 403} {
			resp := request(t, "OPTIONS", srv.URL+"/files", "", nil, nil, func(r *http.Request) {
				r.Header.Set("Origin", origin)
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "authorization")
			})
			if resp.StatusCode != want {
				t.Errorf("preflight from %s: HTTP %d, want %d", origin, resp.StatusCode, want)
			}
			if acao := resp.Header.Get("Access-Control-Allow-Origin"); (want == 204) != (acao == origin) {
				t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", origin, acao)
			}
		}
	})

	t.Run("other routes keep the small body limit", func(t *testing.T) {
		big := `{"email":"` + strings.Repeat("a", srv.Config.MaxBodyBytes) + `"}`
		resp := request(t, "POST", srv.URL+"/api/auth/login", "", big, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized login body: HTTP %d, want 413", resp.StatusCode)
		}
	})
}

// quietFor checks that no frame matching match has arrived yet, without
// waiting: used after synchronous refusals, whose publishes (if any) would
// have been queued before the HTTP answer.
func (c *wsClient) quietFor(t *testing.T, match func(wire.ServerFrame) bool) {
	t.Helper()
	for _, f := range c.held {
		if match(f) {
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if match(f) {
				t.Fatalf("unexpected frame %+v", f)
			}
			c.held = append(c.held, f)
		default:
			return
		}
	}
}

// TestAttachmentsInTheDatabase: with KEFU_BLOBS=db a file goes to the
// database (SQLite here) and nothing to the blob folder; it downloads as
// from the folder, and a refused upload stores nothing there either.
func TestAttachmentsInTheDatabase(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{shopOrigin}, Config: func(c *config.Config) {
		c.MaxAttachmentBytes = 64 << 10
		c.Blobs = config.BlobsDB
	}})
	p := mustPair(t, srv, "dbfiles@shop.test")
	img := pngBytes(40 << 10)
	resp, up := uploadFile(t, srv, "Visitor "+p.shop.token, shopOrigin, q(p.convID, "db-1", "cat.png"), img)
	if resp.StatusCode != http.StatusCreated || up.Message.Attachment == nil {
		t.Fatalf("upload: HTTP %d %+v", resp.StatusCode, up.Error)
	}
	if fresp, body := fetch(t, up.Message.Attachment.URL); fresp.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Fatalf("GET the link: HTTP %d, %d bytes; want 200 and the file", fresp.StatusCode, len(body))
	}
	if resp, _ := uploadFile(t, srv, "Visitor "+p.shop.token, shopOrigin, q(p.convID, "db-2", "big.png"), pngBytes(65<<10)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("file over the limit: HTTP %d, want 413", resp.StatusCode)
	}
	if files, err := os.ReadDir(filepath.Join(srv.Config.Data, app.BlobFolder)); err == nil && len(files) > 0 {
		t.Errorf("blob folder holds %d files with KEFU_BLOBS=db, want none", len(files))
	}
	if n := len(mustMessages(t, srv, p.convID)); n != 2 {
		t.Errorf("%d messages, want the greeting and the one file", n)
	}
}
