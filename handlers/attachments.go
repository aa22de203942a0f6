package handlers

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// The signer app wires into chat for attachment links.
var _ chat.Signer = (*auth.Signer)(nil)

// uploadPath is where files are sent. It is outside /api because the
// widget posts to it from shop pages, which /api's same-origin rule for
// state changes would refuse; it has its own origin rules (CORS for the
// configured shops) instead.
const uploadPath = "/files"

// uploadSlack is what the body limit allows beyond the largest file, so
// that a file just over the limit reaches the handler and gets a clear 413
// rather than a connection cut by the server mid-request.
const uploadSlack = 1 << 20

// bodyLimit is the server-wide body limit: large enough for uploads.
// limitBody holds every other route to MaxBodyBytes.
func bodyLimit(c config.Config) int {
	return max(c.MaxBodyBytes, c.MaxAttachmentBytes+uploadSlack)
}

// limitBody refuses bodies over MaxBodyBytes on every route but the upload.
func (s *Server) limitBody(c *fiber.Ctx) error {
	if c.Path() == uploadPath && c.Method() == fiber.MethodPost {
		return c.Next()
	}
	if len(c.Request().Body()) > s.Config.MaxBodyBytes {
		return models.Errorf(models.ETOOLARGE, "the request body is larger than %d bytes", s.Config.MaxBodyBytes)
	}
	return c.Next()
}

// attachmentRoutes adds uploading, signed downloads, and fresh links.
func (s *Server) attachmentRoutes() {
	s.app.Options(uploadPath, s.filesPreflight)
	s.app.Options(uploadPath+"/:id/link", s.filesPreflight)
	s.app.Post(uploadPath, s.upload)
	s.app.Get(uploadPath+"/:id/link", s.attachmentLink)
	s.app.Get(uploadPath+"/:id", s.download)
}

// filesPreflight answers CORS preflights from the configured shop origins
// (and Kefu's own): the widget sends its visitor token in Authorization,
// which needs one.
func (s *Server) filesPreflight(c *fiber.Ctx) error {
	origin := normalizeOrigin(c.Get(fiber.HeaderOrigin))
	if origin == "" || !s.shopOrigins[origin] {
		return models.Errorf(models.EFORBIDDEN, "this origin may not send files; add it to KEFU_ALLOWED_ORIGINS")
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, c.Get(fiber.HeaderOrigin))
	c.Set(fiber.HeaderVary, "Origin")
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// uploader is who sends a file: a shopper (Authorization: Visitor kv_…)
// or an agent (Authorization: Bearer …).
type uploader struct {
	visitor *models.Visitor
	agent   *models.Agent
}

// identifyUploader authenticates the request and checks its origin: a
// shopper's may come from the shops' pages, an agent's only from Kefu's
// own (or none, for programs). Allowed browser origins get the CORS header.
func (s *Server) identifyUploader(c *fiber.Ctx) (uploader, error) {
	h := c.Get(fiber.HeaderAuthorization)
	var u uploader
	var allowed func(string) bool
	if token, ok := strings.CutPrefix(h, "Visitor "); ok {
		if !auth.ValidSecretFormat(auth.VisitorPrefix, token) {
			return u, models.Errorf(models.EUNAUTHORIZED, "invalid visitor token")
		}
		v, err := s.Store.VisitorByTokenHash(c.UserContext(), auth.HashSecret(token))
		if models.ErrorCode(err) == models.ENOTFOUND {
			return u, models.Errorf(models.EUNAUTHORIZED, "unknown visitor token")
		} else if err != nil {
			return u, err
		}
		u.visitor = v
		allowed = func(o string) bool { return s.shopOrigins[o] }
	} else if strings.HasPrefix(h, "Bearer ") {
		a, _, err := s.authenticate(c)
		if err != nil {
			return u, err
		}
		u.agent = a
		allowed = func(o string) bool { return o == s.ownOrigin }
	} else {
		return u, models.Errorf(models.EUNAUTHORIZED, "send Authorization: Visitor <visitor token> or Bearer <access token>")
	}
	if !originAllowed(c, allowed) {
		return u, models.Errorf(models.EFORBIDDEN, "requests from this origin are not allowed")
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, o)
		c.Set(fiber.HeaderVary, "Origin")
	}
	return u, nil
}

// uploadResponse is the answer to an upload: the acknowledgement, as the
// websocket would send it, and the stored message with its attachment.
type uploadResponse struct {
	Ack     wire.ServerFrame `json:"ack"`
	Message wire.MessageView `json:"message"`
}

// upload stores the request body as a file sent in a conversation.
func (s *Server) upload(c *fiber.Ctx) error {
	who, err := s.identifyUploader(c)
	if err != nil {
		return err
	}
	if int64(len(c.Body())) > int64(s.Config.MaxAttachmentBytes) {
		return models.Errorf(models.ETOOLARGE, "the file is larger than %d bytes", s.Config.MaxAttachmentBytes)
	}
	// The body stays in Fiber's memory until the handler returns, and is
	// fully read before: nothing of the request escapes.
	up := chat.Upload{ConversationID: c.Query("conversation_id"), ClientID: c.Query("client_id"),
		Name: c.Query("name"), Body: bytes.NewReader(c.Body())}
	var res chat.UploadResult
	if who.visitor != nil {
		res, err = s.Chat.VisitorUpload(c.UserContext(), who.visitor, up)
	} else {
		res, err = s.Chat.AgentUpload(c.UserContext(), who.agent, up)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(uploadResponse{Ack: res.Ack, Message: res.Message})
}

// attachmentLink returns a fresh signed link, for a client whose link
// expired.
func (s *Server) attachmentLink(c *fiber.Ctx) error {
	who, err := s.identifyUploader(c)
	if err != nil {
		return err
	}
	var link string
	var exp time.Time
	if who.visitor != nil {
		link, exp, err = s.Chat.VisitorAttachmentURL(c.UserContext(), who.visitor, c.Params("id"))
	} else {
		link, exp, err = s.Chat.AgentAttachmentURL(c.UserContext(), who.agent, c.Params("id"))
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"url": link, "expires_at": exp})
}

// download serves a file to whoever holds a valid signed link. The file is
// served as the type detected at upload, never sniffed (nosniff), inline
// only for images, in a sandbox with no right to load or run anything.
func (s *Server) download(c *fiber.Ctx) error {
	a, r, err := s.Chat.OpenAttachment(c.UserContext(), c.Params("id"), c.Query("exp"), c.Query("sig"))
	if err != nil {
		return err
	}
	typ := a.ContentType
	if strings.HasPrefix(typ, "text/") {
		typ += "; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderContentDisposition, chat.ContentDisposition(a))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox; frame-ancestors 'none'")
	c.Set("Cross-Origin-Resource-Policy", "cross-origin") // shown in the widget, on shops' pages
	c.Set(fiber.HeaderCacheControl, "private, max-age="+strconv.Itoa(300))
	return c.SendStream(r, int(a.Size))
}
