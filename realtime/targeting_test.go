package realtime_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
)

// TestDeliverTargeting checks that Audience.Match narrows visitor
// connections by the attributes they reported, leaves agents alone, and
// that OnDeliver reports how many connections each event was queued to.
func TestDeliverTargeting(t *testing.T) {
	type delivered struct {
		frame string
		conns int
	}
	var mu sync.Mutex
	var reports []delivered
	hub := MustNewHub(t, realtime.Options{OnDeliver: func(e models.Event, conns int, took time.Duration) {
		if took < 0 {
			t.Errorf("OnDeliver took %v", took)
		}
		mu.Lock()
		reports = append(reports, delivered{string(e.Frame), conns})
		mu.Unlock()
	}})
	ts := MustServe(t, hub, nil)
	clients := map[string]*client{
		"A":    ts.MustDial(t, agent("A"), 0),
		"sale": ts.MustDial(t, visitor("V1"), 0),
		"de":   ts.MustDial(t, visitor("V2"), 0),
		"cart": ts.MustDial(t, visitor("V3"), 0),
		"none": ts.MustDial(t, visitor("V4"), 0), // reported nothing
	}
	clients["sale"].conn.SetAttrs("https://shop.example/sale/shoes", "en-GB")
	clients["de"].conn.SetAttrs("https://shop.example/sale/hats", "de-DE")
	clients["cart"].conn.SetAttrs("https://shop.example/cart", "EN")

	tests := []struct {
		name  string
		match *models.Targeting
		want  []string
	}{
		{"no targeting", nil, []string{"A", "cart", "de", "none", "sale"}},
		{"empty targeting", &models.Targeting{}, []string{"A", "cart", "de", "none", "sale"}},
		{"sale pages", &models.Targeting{PagePattern: "https://shop.example/sale/*"}, []string{"A", "de", "sale"}},
		{"english", &models.Targeting{Langs: []string{"en"}}, []string{"A", "cart", "sale"}},
		{"english on sale pages", &models.Targeting{PagePattern: "*/sale/*", Langs: []string{"en"}}, []string{"A", "sale"}},
		{"german or french", &models.Targeting{Langs: []string{"fr", "de"}}, []string{"A", "de"}},
		{"exact page", &models.Targeting{PagePattern: "https://shop.example/cart"}, []string{"A", "cart"}},
		{"no page matches", &models.Targeting{PagePattern: "https://other.example/*"}, []string{"A"}},
	}
	want := map[string][]string{}
	for _, tt := range tests {
		hub.Deliver(models.Event{Type: models.EventAnnouncement, Frame: []byte(tt.name),
			To: models.Audience{AllAgents: true, AllVisitors: true, Match: tt.match}})
		for _, who := range tt.want {
			want[who] = append(want[who], tt.name)
		}
	}
	// Listed visitors are filtered too.
	hub.Deliver(models.Event{Type: models.EventMessage, Frame: []byte("listed"),
		To: models.Audience{Visitors: []string{"V1", "V2"}, Match: &models.Targeting{Langs: []string{"de"}}}})
	want["de"] = append(want["de"], "listed")
	hub.Deliver(event("end", everyone))

	for who, c := range clients {
		t.Run(who, func(t *testing.T) {
			got, code := c.readAll(t)
			if code != 0 {
				t.Fatalf("closed with %d", code)
			}
			if fmt.Sprint(got) != fmt.Sprint(want[who]) {
				t.Errorf("got %q, want %q", got, want[who])
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != len(tests)+2 {
		t.Fatalf("OnDeliver called %d times, want %d", len(reports), len(tests)+2)
	}
	for i, tt := range tests {
		if reports[i].frame != tt.name || reports[i].conns != len(tt.want) {
			t.Errorf("OnDeliver #%d = %+v, want {%s %d}", i, reports[i], tt.name, len(tt.want))
		}
	}
}

func TestTargetingMatches(t *testing.T) {
	tests := []struct {
		t          *models.Targeting
		page, lang string
		want       bool
	}{
		{nil, "", "", true},
		{&models.Targeting{PagePattern: "*"}, "", "", true},
		{&models.Targeting{PagePattern: "a*b*c"}, "aXXbYYc", "", true},
		{&models.Targeting{PagePattern: "a*b*c"}, "aXXbYY", "", false},
		{&models.Targeting{PagePattern: "https://s/*"}, "https://s/", "", true},
		{&models.Targeting{PagePattern: "https://s/*"}, "http://s/", "", false},
		{&models.Targeting{PagePattern: "**x"}, "yyyx", "", true},
		{&models.Targeting{Langs: []string{"en"}}, "", "en", true},
		{&models.Targeting{Langs: []string{"en"}}, "", "en-us", true},
		{&models.Targeting{Langs: []string{"en"}}, "", "eng", false},
		{&models.Targeting{Langs: []string{"en"}}, "", "", false},
		{&models.Targeting{Langs: []string{"pt-br"}}, "", "PT-BR", true},
		{&models.Targeting{Langs: []string{"pt-br"}}, "", "pt", false},
	}
	for _, tt := range tests {
		if got := tt.t.Matches(tt.page, tt.lang); got != tt.want {
			t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tt.t, tt.page, tt.lang, got, tt.want)
		}
	}
}
