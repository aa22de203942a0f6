package handlers

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/models"
)

// FuzzDecode feeds arbitrary bytes to the websocket frame decoder: it must
// never panic, must refuse what has no type with EINVALID, and what it
// accepts must survive a round trip through JSON unchanged in type.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"hello","token":"kv_x","lang":"en","page":{"url":"https://s/","title":"t"},"identity":"v1.a.b"}`,
		`{"type":"message","conversation_id":"c","client_id":"1","body":"hi"}`,
		`{"type":"sync","after_seq":-1,"limit":1e309}`,
		`{"type":""}`, `{"type":null}`, `[]`, `null`, `"hello"`, `{"type":"a","type":"b"}`,
		`{"type":"message","body":"\ud800"}`, "{\"type\":\"x\"}\x00", ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decode(data)
		if err != nil {
			if models.ErrorCode(err) != models.EINVALID {
				t.Fatalf("decode error code %q, want EINVALID", models.ErrorCode(err))
			}
			return
		}
		if fr.Type == "" {
			t.Fatalf("accepted a frame without a type: %q", data)
		}
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", fr, err)
		}
		back, err := decode(again)
		if err != nil || back.Type != fr.Type || back.Body != fr.Body || back.ConversationID != fr.ConversationID {
			t.Fatalf("round trip changed the frame: %+v -> %+v (%v)", fr, back, err)
		}
		if c := clip(fr.Type, 32); len(c) > 32 || !strings.HasPrefix(fr.Type, c) {
			t.Fatalf("clip(%q) = %q", fr.Type, c)
		}
	})
}

// FuzzClientIP: whatever the X-Forwarded-For header says, the client IP is
// the socket's peer or an address that appears in the header, and never
// one from the left of an untrusted hop.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1", "203.0.113.5, 10.1.1.1")
	f.Add("198.51.100.1", "1.1.1.1")
	f.Add("127.0.0.1", "[::1]:80, garbage, ,,")
	f.Add("10.0.0.1", "")
	trusted := ipNets([]string{"10.0.0.0/8", "127.0.0.1"})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := net.ParseIP(remote)
		if r == nil {
			r = net.IPv4(192, 0, 2, 1)
		}
		got := ClientIP(r, []string{xff}, trusted)
		if got == nil {
			t.Fatalf("nil client IP for %s / %q", r, xff)
		}
		if !inNets(r, trusted) {
			if !got.Equal(r) {
				t.Fatalf("untrusted peer %s: client %s from its header", r, got)
			}
			return
		}
		if got.Equal(r) {
			return
		}
		found := false
		for _, h := range strings.Split(xff, ",") {
			if ip := parseHop(h); ip != nil && ip.Equal(got) {
				found = true
			}
		}
		if !found {
			t.Fatalf("client %s is neither the peer nor in %q", got, xff)
		}
	})
}
