package wire

// Websocket close codes Kefu uses besides the standard ones (1000 normal,
// 1001 server going away, 1002 protocol error, 1007 invalid UTF-8, 1008
// policy violation such as flooding, 1009 frame too big, 1011 internal).
// As in centrifuge, 4000–4499 mean "reconnect is fine" and 4500–4999 mean
// "do not reconnect with the same credentials".
const (
	// CloseSlowClient: the client did not read fast enough and its send
	// queue filled. Reconnect and resume.
	CloseSlowClient = 4000
	// CloseHelloTimeout: a visitor socket sent no hello in time.
	CloseHelloTimeout = 4008
	// CloseTokenExpired: the agent's access token expired and no fresh one
	// arrived in an auth frame. Refresh the token and reconnect.
	CloseTokenExpired = 4401
	// CloseRevoked: the agent logged out, changed password or was disabled.
	// Log in again.
	CloseRevoked = 4503
)
