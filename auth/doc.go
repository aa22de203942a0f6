// Package auth owns Kefu's credentials: the agents' access tokens (JWT), the
// opaque secrets that identify visitors and refresh tokens, password hashing,
// the server's signing key on disk, and shop-signed shopper identities. It is
// plain Go with no Fiber in it, so the command line, the HTTP handlers and
// tests all use the same functions. Every function and method is safe for
// concurrent use; an Issuer or Signer is immutable once made.
//
// # Access tokens
//
// An access token is an HS256 JWT made by [Issuer.IssueAccess] and checked by
// [Issuer.VerifyAccess]. Its claims are iss (the public URL), aud
// ("kefu-console"), sub (the agent id), role, ver (the agent's TokenVersion),
// typ ("access"), jti (random), iat, nbf and exp, with exp-iat at most 15
// minutes. Verification accepts HS256 only, requires every one of those
// claims, allows 30 seconds of clock skew, and refuses any token that is not
// in the one canonical encoding IssueAccess produces (base64url without
// padding, zero trailing bits, no stray characters), so a token that verifies
// was issued byte for byte as presented. A valid signature is not enough: the
// caller loads the agent and calls [CheckAgent], which refuses disabled
// agents, revoked tokens (TokenVersion raised by logout, password change or
// disable) and tokens whose role is no longer the agent's.
//
// # Opaque secrets
//
// Visitor tokens ("kv_") and refresh tokens ("kr_") are a prefix followed by
// 32 random bytes in base64url (43 characters). Only their SHA-256 hash, in
// hex, is stored. They have no dots and no signature, so a visitor or refresh
// token can never be taken for an access token, nor the other way round.
// [ValidSecretFormat] rejects anything of the wrong shape before a database
// is asked.
//
// # Passwords
//
// Passwords are hashed with bcrypt at cost 12. They must be 10 to 72 bytes:
// bcrypt ignores everything past byte 72, so longer passwords are refused
// rather than silently truncated. [DummyCheck] spends the same time as a real
// check, for logins naming an unknown e-mail.
//
// # Signed identity
//
// A shop that knows who its logged-in customer is may say so to the widget,
// signed with the identity secret it shares with Kefu. The signature string
// is
//
//	"v1." + P + "." + base64url(HMAC-SHA256(secret, "kefu-identity-v1." + P))
//
// where P is base64url (RFC 4648 §5, no padding) of a UTF-8 JSON object with
// the fields "id" (the shop's customer id, required, at most 200 bytes),
// "name" (at most 200 bytes), "email" (at most 254 bytes) and "exp" (Unix
// seconds, required, in the future but at most 24 hours ahead). The MAC covers
// P exactly as sent, so any JSON encoder will do. In PHP:
//
//	$p = rtrim(strtr(base64_encode(json_encode(
//	    ['id' => $id, 'name' => $name, 'email' => $email, 'exp' => time() + 3600])), '+/', '-_'), '=');
//	$mac = rtrim(strtr(base64_encode(hash_hmac('sha256', "kefu-identity-v1.$p", $secret, true)), '+/', '-_'), '=');
//	$sig = "v1.$p.$mac";
//
// [SignIdentity] makes the same string in Go; [VerifyIdentity] checks it.
package auth
