package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/models"
)

// httpStatus maps each error code to its HTTP status. It is the one table of
// its kind: websocket error frames carry the code itself.
var httpStatus = map[models.Code]int{
	models.EINVALID:      http.StatusBadRequest,
	models.EUNAUTHORIZED: http.StatusUnauthorized,
	models.EFORBIDDEN:    http.StatusForbidden,
	models.ENOTFOUND:     http.StatusNotFound,
	models.ECONFLICT:     http.StatusConflict,
	models.ECAPACITY:     http.StatusConflict,
	models.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	models.ERATELIMIT:    http.StatusTooManyRequests,
	models.EUNAVAILABLE:  http.StatusServiceUnavailable,
	models.EINTERNAL:     http.StatusInternalServerError,
}

// fiberCodes maps Fiber's own errors (no route, body too large, …) to codes.
var fiberCodes = map[int]models.Code{
	http.StatusBadRequest:            models.EINVALID,
	http.StatusUnauthorized:          models.EUNAUTHORIZED,
	http.StatusForbidden:             models.EFORBIDDEN,
	http.StatusNotFound:              models.ENOTFOUND,
	http.StatusMethodNotAllowed:      models.EINVALID,
	http.StatusRequestEntityTooLarge: models.ETOOLARGE,
	http.StatusUpgradeRequired:       models.EINVALID,
	http.StatusTooManyRequests:       models.ERATELIMIT,
	http.StatusServiceUnavailable:    models.EUNAVAILABLE,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    models.Code `json:"code"`
	Message string      `json:"message"`
}

// errorHandler renders every error a handler returns as JSON. Internal
// errors are logged with their detail and shown as "internal error".
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			code, ok := fiberCodes[fe.Code]
			if !ok {
				code = models.EINTERNAL
			}
			msg := fe.Message
			if code == models.EINTERNAL {
				log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
				msg = "internal error"
			}
			return c.Status(fe.Code).JSON(errorBody{errorDetail{code, msg}})
		}
		code := models.ErrorCode(err)
		if code == models.EINTERNAL {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		if code == models.ERATELIMIT && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
			c.Set(fiber.HeaderRetryAfter, "1")
		}
		return c.Status(httpStatus[code]).JSON(errorBody{errorDetail{code, models.ErrorMessage(err)}})
	}
}
