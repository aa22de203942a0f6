package models

import (
	"errors"
	"fmt"
)

// Code classifies an error for the people who see it. Codes are stable: they
// appear in HTTP error bodies and websocket error frames, and clients branch
// on them.
type Code string

// The error codes. handlers maps each to an HTTP status and a websocket
// reaction in one table.
const (
	EINVALID      Code = "invalid"      // the request is malformed or breaks a rule
	EUNAUTHORIZED Code = "unauthorized" // no identity, or a bad or expired credential
	EFORBIDDEN    Code = "forbidden"    // a known identity that may not do this
	ENOTFOUND     Code = "not_found"    // no such thing (or not one the caller may know of)
	ECONFLICT     Code = "conflict"     // the thing is not in a state that allows this
	ECAPACITY     Code = "capacity"     // the agent already holds as many chats as allowed
	ETOOLARGE     Code = "too_large"    // a body, text or file is over its limit
	ERATELIMIT    Code = "rate_limited" // too many requests; try again later
	EUNAVAILABLE  Code = "unavailable"  // a dependency is down; try again later
	EINTERNAL     Code = "internal"     // a bug or an unexpected failure; details only in logs
)

// Error is Kefu's one error type. Message is written for the user and is
// shown to them; Err, when set, is the underlying cause, logged but never
// shown.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure. Users see only "internal error".
func Internal(err error, context string) *Error {
	return &Error{Code: EINTERNAL, Message: context, Err: err}
}

// ErrorCode returns the code of err: "" for nil, EINTERNAL for any error that
// is not an *Error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the text a user may see for err. Internal errors, and
// errors that are not an *Error, say only "internal error" so that no detail
// of the server leaks to a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}
