// Package handlers is Kefu's HTTP face: the Fiber app with its REST API,
// the two websocket endpoints, the embedded front end, and the one table
// that turns error codes into HTTP statuses and websocket error frames.
//
// Handlers stay thin: parse, make one call into chat, routing or the store,
// render. Nothing here keeps conversation state; each websocket has one
// reader (its handler goroutine) and one writer (its realtime.Conn), and the
// handler unregisters the connection from the hub, waiting for its writer
// to stop, before it returns, because gofiber/contrib/websocket reuses the
// connection object afterwards.
package handlers
