package wire

import "github.com/kefu-chat/kefu/models"

// NewMessageView returns the view of m; senderName is the agent's name for
// agent messages and empty otherwise.
func NewMessageView(m *models.Message, senderName string) MessageView {
	return MessageView{
		ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq,
		SenderKind: m.SenderKind, SenderName: senderName, ClientID: m.ClientID,
		Body: m.Body, CreatedAt: m.CreatedAt,
	}
}

// NewConversationView returns the view of c. agent may be nil (queued or
// unknown); visitor is included only when non-nil, which callers do for
// agents' eyes only.
func NewConversationView(c *models.Conversation, agent *models.Agent, visitor *models.Visitor) ConversationView {
	v := ConversationView{
		ID: c.ID, Status: c.Status, Priority: c.Priority, LastSeq: c.LastSeq,
		VisitorReadSeq: c.VisitorReadSeq, AgentReadSeq: c.AgentReadSeq,
		QueuedAt: c.QueuedAt, AssignedAt: c.AssignedAt, ResolvedAt: c.ResolvedAt,
		LastMessageAt: c.LastMessageAt,
	}
	if c.AgentID != nil {
		v.AgentID = *c.AgentID
	}
	if c.DepartmentID != nil {
		v.DepartmentID = *c.DepartmentID
	}
	if agent != nil {
		v.AgentName = agent.Name
	}
	if visitor != nil {
		vv := NewVisitorView(visitor)
		v.Visitor = &vv
	}
	return v
}

// NewVisitorView returns the view of v.
func NewVisitorView(v *models.Visitor) VisitorView {
	return VisitorView{
		ID: v.ID, Name: v.Name, Email: v.Email, Verified: v.Verified,
		PageURL: v.PageURL, PageTitle: v.PageTitle, Lang: v.Lang,
	}
}

// NewAgentView returns the view of a.
func NewAgentView(a *models.Agent) AgentView {
	return AgentView{
		ID: a.ID, Email: a.Email, Name: a.Name, Role: a.Role, MaxChats: a.MaxChats,
		OpenChats: a.OpenChats, Disabled: a.Disabled, MustChangePassword: a.MustChangePassword,
	}
}

// NewAnnouncementView returns the view of a.
func NewAnnouncementView(a *models.Announcement) AnnouncementView {
	return AnnouncementView{ID: a.ID, Text: a.Text, Link: a.Link, Level: a.Level,
		StartsAt: a.StartsAt, ExpiresAt: a.ExpiresAt, SentAt: a.SentAt}
}

// NewTransferView returns the view of r.
func NewTransferView(r *models.TransferRecord) TransferView {
	return TransferView{ID: r.ID, ConversationID: r.ConversationID, FromAgentID: r.FromAgentID, ToAgentID: r.ToAgentID,
		ToDepartmentID: r.ToDepartmentID, ByAgentID: r.ByAgentID, Note: r.Note, CreatedAt: r.CreatedAt}
}
