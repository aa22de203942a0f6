package cluster_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/chaos"
	"github.com/kefu-chat/kefu/internal/testenv"
)

// TestReadyzBusDown: /readyz answers 200 while the bus answers, and 503
// naming the bus once it does not (the proxy in front of it is closed),
// while /healthz stays 200.
func TestReadyzBusDown(t *testing.T) {
	for _, bus := range []struct {
		name string
		url  func(testing.TB) string
	}{{"redis", testenv.Redis}, {"nats", testenv.NATS}} {
		t.Run(bus.name, func(t *testing.T) {
			u, err := url.Parse(bus.url(t))
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := chaos.New(u.Host, chaos.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			u.Host = proxy.Addr()
			srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
				c.Bus, c.BusPrefix = u.String(), "kr"+randomHex(6)
			}})
			readyz := func() (int, map[string]string) {
				resp, err := http.Get(srv.URL + "/readyz")
				if err != nil {
					t.Fatalf("GET /readyz: %v", err)
				}
				defer resp.Body.Close()
				var body map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("decoding /readyz: %v", err)
				}
				return resp.StatusCode, body
			}
			if code, body := readyz(); code != http.StatusOK || body["bus"] != "ok" || body["database"] != "ok" {
				t.Fatalf("with the bus up: %d %v, want 200 and both ok", code, body)
			}
			proxy.Close()
			waitFor(t, 20*time.Second, "/readyz to report the bus down", func() bool {
				code, body := readyz()
				return code == http.StatusServiceUnavailable && body["bus"] == "unreachable" && body["database"] == "ok"
			})
			resp, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz with the bus down: %d, want 200 (the process is alive)", resp.StatusCode)
			}
		})
	}
}
