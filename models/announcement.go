package models

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// AnnouncementLevel says how a banner looks: an ordinary notice, a sale, or
// a warning (a shipping delay, maintenance).
type AnnouncementLevel string

// The announcement levels.
const (
	LevelInfo      AnnouncementLevel = "info"
	LevelPromotion AnnouncementLevel = "promotion"
	LevelWarning   AnnouncementLevel = "warning"
)

// Valid reports whether l is a known level.
func (l AnnouncementLevel) Valid() bool {
	return l == LevelInfo || l == LevelPromotion || l == LevelWarning
}

// Why an announcement ended.
const (
	EndWithdrawn = "withdrawn" // an admin withdrew it
	EndExpired   = "expired"   // its ExpiresAt passed
)

// Limits on what an announcement may hold.
const (
	MaxAnnouncementText = 1000 // bytes
	MaxAnnouncementLink = 2048 // bytes
	MaxPagePattern      = 512  // bytes
	MaxTargetLangs      = 20
)

// Announcement is a store-wide notice an admin sends to every connected
// shopper (a banner in the widget) and agent. It goes out at StartsAt (at
// once when nil) and stays active, reaching shoppers who connect later,
// until it is withdrawn or ExpiresAt passes.
type Announcement struct {
	ID    string            `json:"id" gorm:"primaryKey;size:36"`
	Text  string            `json:"text" gorm:"type:text;not null"` // plain text, never markup
	Link  string            `json:"link,omitempty" gorm:"size:2048"`
	Level AnnouncementLevel `json:"level" gorm:"size:16;not null"`

	StartsAt  *time.Time `json:"starts_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	// Targeting limits which shoppers see it; agents always do.
	PagePattern string `json:"page_pattern,omitempty" gorm:"size:512"`
	// Langs is a comma-separated list of language tags (see Targeting).
	Langs string `json:"langs,omitempty" gorm:"size:512"`

	// IdempotencyKey, when set, is unique per creator: a second create with
	// the same key by the same agent stores nothing and returns the first.
	IdempotencyKey *string   `json:"-" gorm:"size:200;uniqueIndex:idx_announcements_idem,priority:2"`
	CreatedBy      string    `json:"created_by" gorm:"size:36;not null;uniqueIndex:idx_announcements_idem,priority:1"`
	CreatedAt      time.Time `json:"created_at" gorm:"not null"`

	// SentAt is when it went out; nil while scheduled.
	SentAt *time.Time `json:"sent_at,omitempty" gorm:"index"`
	// EndedAt is when it was withdrawn or expired; EndReason says which.
	EndedAt   *time.Time `json:"ended_at,omitempty" gorm:"index"`
	EndReason string     `json:"end_reason,omitempty" gorm:"size:16"`

	// Delivered counts the connections it was queued to, on every instance:
	// at send time and to shoppers who connected while it was active.
	Delivered int64 `json:"delivered" gorm:"not null;default:0"`
	// Seen counts distinct shoppers whose widget reported showing it.
	Seen int64 `json:"seen" gorm:"not null;default:0"`
}

// Active reports whether a is showing at now: sent, not ended, not expired.
func (a *Announcement) Active(now time.Time) bool {
	return a.SentAt != nil && a.EndedAt == nil && (a.ExpiresAt == nil || now.Before(*a.ExpiresAt))
}

// Targeting returns who among shoppers a is for; nil means everyone.
func (a *Announcement) Targeting() *Targeting {
	t := &Targeting{PagePattern: a.PagePattern, Langs: SplitLangs(a.Langs)}
	if t.PagePattern == "" && len(t.Langs) == 0 {
		return nil
	}
	return t
}

// Validate checks what a caller may set. It returns EINVALID or ETOOLARGE
// with a message for the user.
func (a *Announcement) Validate() error {
	switch {
	case strings.TrimSpace(a.Text) == "":
		return Errorf(EINVALID, "text is required")
	case len(a.Text) > MaxAnnouncementText:
		return Errorf(ETOOLARGE, "text is longer than %d bytes", MaxAnnouncementText)
	case !utf8.ValidString(a.Text):
		return Errorf(EINVALID, "text is not valid UTF-8")
	case !a.Level.Valid():
		return Errorf(EINVALID, "level must be info, promotion or warning")
	case len(a.Link) > MaxAnnouncementLink:
		return Errorf(EINVALID, "link is longer than %d bytes", MaxAnnouncementLink)
	case a.Link != "" && !httpURL(a.Link):
		return Errorf(EINVALID, "link must be an absolute http or https URL")
	case a.StartsAt != nil && a.ExpiresAt != nil && !a.ExpiresAt.After(*a.StartsAt):
		return Errorf(EINVALID, "expires_at must be after starts_at")
	case len(a.PagePattern) > MaxPagePattern:
		return Errorf(EINVALID, "page_pattern is longer than %d bytes", MaxPagePattern)
	case !utf8.ValidString(a.PagePattern) || !utf8.ValidString(a.Langs):
		return Errorf(EINVALID, "targeting is not valid UTF-8")
	case len(SplitLangs(a.Langs)) > MaxTargetLangs:
		return Errorf(EINVALID, "at most %d languages", MaxTargetLangs)
	case a.CreatedBy == "":
		return Errorf(EINVALID, "an announcement needs its creator")
	}
	for _, l := range SplitLangs(a.Langs) {
		if len(l) > 35 || strings.ContainsAny(l, " \t\r\n") {
			return Errorf(EINVALID, "%q is not a language tag", l)
		}
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// SplitLangs splits a comma-separated list of language tags, dropping
// blanks, in lower case.
func SplitLangs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Targeting narrows an audience's visitor connections by what their widget
// reported at hello: the page URL and the language. Agents are never
// filtered. The zero value matches everyone.
type Targeting struct {
	// PagePattern matches the whole page URL; "*" stands for any run of
	// characters (including none), everything else is literal and
	// case-sensitive. Empty matches every page. Example:
	// "https://shop.example/sale/*".
	PagePattern string `json:"page_pattern,omitempty"`
	// Langs are language tags in lower case; a shopper matches when their
	// language equals one, or starts with one followed by "-" ("en" matches
	// "en-GB"), case-insensitively. Empty matches every language.
	Langs []string `json:"langs,omitempty"`
}

// Matches reports whether a shopper on pageURL speaking lang is targeted. A
// nil Targeting matches everyone.
func (t *Targeting) Matches(pageURL, lang string) bool {
	if t == nil {
		return true
	}
	if t.PagePattern != "" && !globMatch(t.PagePattern, pageURL) {
		return false
	}
	if len(t.Langs) == 0 {
		return true
	}
	lang = strings.ToLower(strings.TrimSpace(lang))
	for _, l := range t.Langs {
		if lang == l || (strings.HasPrefix(lang, l) && len(lang) > len(l) && lang[len(l)] == '-') {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern where '*' is any run of bytes. It is
// linear in len(s)·len(pattern) at worst (no backtracking explosion).
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// AnnouncementStore keeps announcements and who saw them. Sending and ending
// are conditional updates, so that when several instances run the same
// schedule exactly one of them sends (or ends) each announcement.
type AnnouncementStore interface {
	// CreateAnnouncement validates and stores a (see Announcement.Validate;
	// EINVALID or ETOOLARGE, nothing stored). When a.IdempotencyKey is set
	// and the same creator already stored one with that key, it stores
	// nothing and returns the stored one with existed true, whatever its
	// state now; concurrent creates with one key store exactly one.
	CreateAnnouncement(ctx context.Context, a *Announcement) (stored *Announcement, existed bool, err error)
	// Announcement returns the announcement with the id; ENOTFOUND if none.
	Announcement(ctx context.Context, id string) (*Announcement, error)
	// Announcements lists up to limit announcements, newest created first
	// (limit 0 means 100; at most 500).
	Announcements(ctx context.Context, limit int) ([]*Announcement, error)
	// LiveAnnouncements returns every announcement that has not ended:
	// scheduled (SentAt nil) and sent ones, oldest created first. The
	// scheduler works from it; callers filter with Active.
	LiveAnnouncements(ctx context.Context) ([]*Announcement, error)
	// MarkAnnouncementSent sets SentAt to now if it is nil and the
	// announcement has not ended, and returns it as stored. ECONFLICT if it
	// was already sent or has ended (someone else was faster); ENOTFOUND if
	// none.
	MarkAnnouncementSent(ctx context.Context, id string, now time.Time) (*Announcement, error)
	// EndAnnouncement sets EndedAt to now and EndReason to reason
	// (EndWithdrawn or EndExpired; EINVALID otherwise) if it has not ended,
	// and returns it as stored. ECONFLICT if it already ended; ENOTFOUND if
	// none.
	EndAnnouncement(ctx context.Context, id, reason string, now time.Time) (*Announcement, error)
	// AddAnnouncementDeliveries adds n (≥ 0) to Delivered. An unknown id
	// is not an error (it may have been created on a store that is gone).
	AddAnnouncementDeliveries(ctx context.Context, id string, n int64) error
	// MarkAnnouncementSeen records that the visitor saw it and raises Seen,
	// once per visitor: it reports whether this call counted. ENOTFOUND if
	// the announcement does not exist.
	MarkAnnouncementSeen(ctx context.Context, id, visitorID string, now time.Time) (bool, error)
}

// AnnouncementSeen is the stored record that a visitor saw an announcement,
// which keeps Seen counting each shopper once.
type AnnouncementSeen struct {
	AnnouncementID string    `gorm:"primaryKey;size:36"`
	VisitorID      string    `gorm:"primaryKey;size:36"`
	CreatedAt      time.Time `gorm:"not null"`
}
