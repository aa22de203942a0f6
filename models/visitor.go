package models

import "time"

// Visitor is a shopper, known by the token their browser keeps. Visitors have
// no password: whoever holds the token is the visitor, so only its SHA-256
// hash is stored.
type Visitor struct {
	ID        string `json:"id" gorm:"primaryKey;size:36"`
	TokenHash string `json:"-" gorm:"size:64;uniqueIndex;not null"`

	// What the widget reports, shown to agents. Untrusted text.
	PageURL   string `json:"page_url" gorm:"size:2048"`
	PageTitle string `json:"page_title" gorm:"size:512"`
	Lang      string `json:"lang" gorm:"size:35"`
	UserAgent string `json:"user_agent" gorm:"size:512"`

	// What the shop says of a logged-in customer. Verified is true only
	// when the shop signed it (the security issue's signed identity).
	Name       string `json:"name" gorm:"size:200"`
	Email      string `json:"email" gorm:"size:254"`
	ExternalID string `json:"external_id" gorm:"size:200"`
	Verified   bool   `json:"verified"`

	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

// VisitorUpdate names the fields UpdateVisitor changes; nil fields are left
// as they are. LastSeenAt is always set to Now.
type VisitorUpdate struct {
	PageURL, PageTitle, Lang, UserAgent *string
	Name, Email, ExternalID             *string
	Verified                            *bool
	Now                                 time.Time
}
