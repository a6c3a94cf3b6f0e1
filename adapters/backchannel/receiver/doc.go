// Package receiver is the relying-party (RP) side of Single Logout: an
// http.Handler for the RP's backchannel_logout_uri (OpenID Connect
// Back-Channel Logout 1.0 incorporating errata set 1,
// https://openid.net/specs/openid-connect-backchannel-1_0.html) and one for
// its frontchannel_logout_uri (OpenID Connect Front-Channel Logout 1.0,
// https://openid.net/specs/openid-connect-frontchannel-1_0.html).
//
// It works with any OpenID Provider. It depends only on the standard
// library and github.com/go-jose/go-jose/v4, so RPs can vendor it.
//
// # Back-channel
//
// BackChannel verifies the logout token as section 2.6 requires
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation)
// and then calls the RP's Logout callback. It answers:
//
//   - 200 with an empty body once the callback has returned nil;
//   - 400 with {"error":"invalid_request","error_description":"…"} for an
//     invalid request or token (section 2.8); the OP does not retry;
//   - 503 with {"error":"temporarily_unavailable",…} when the callback
//     failed, the replay store failed, the OP's keys could not be fetched,
//     or the token's kid is unknown and the keys were fetched too recently
//     to fetch them again (with Retry-After; the OP may have just rotated
//     its key). The spec has no code for "try again", but its section 2.8
//     lets the OP retransmit after a temporary failure, and signoff retries
//     5xx until the logout deadline, whereas 400 is final. The jti of a
//     token whose callback failed is not remembered, so the retry (or the
//     same token again) is accepted.
//
// Every answer carries Cache-Control: no-store.
//
// # Front-channel and the signoff acknowledgement
//
// FrontChannel serves the page that the OP loads in an iframe
// (https://openid.net/specs/openid-connect-frontchannel-1_0.html#RPLogout).
// An iframe that merely loaded proves nothing, so signoff's logout page
// counts a front-channel RP as signed out only when the page inside the
// iframe says so with this message:
//
//	window.parent.postMessage(
//	  {"type":"signoff:frontchannel-logout","ok":true,"sid":"<sid, or empty>"},
//	  "<origin of signoff, e.g. https://auth.example.com>");
//
// or, when the RP could not end the session:
//
//	{"type":"signoff:frontchannel-logout","ok":false,"error":"<short text>"}
//
// signoff accepts the message only when event.origin is the origin of the
// RP's frontchannel_logout_uri and event.source is that RP's iframe. An RP
// written in another language sends the same message from its own page,
// ideally from a script allowed by a CSP nonce and with
// frame-ancestors set to signoff's origin.
package receiver
