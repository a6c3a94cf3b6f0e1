// Package ssfin is signoff's Shared Signals receiver ("SSF in"): it accepts
// Security Event Tokens (SETs, RFC 8417) from configured transmitters,
// pushed to POST /ssf/events (RFC 8935) or polled from the transmitter
// (RFC 8936), validates them as the OpenID Shared Signals Framework 1.0
// (SSF) profiles them, and turns CAEP and RISC events that end a user's
// access into logout.requested events (initiator idp):
//
//   - CAEP session-revoked (CAEP 1.0 section 3.1) naming a session (a
//     complex sub_id with a session member, or a simple opaque sub_id as in
//     the CAEP example "Simple Subject") ends every signoff session that
//     rests on that upstream session: logout.requested with upstream
//     {id: transmitter id, sid: session id};
//   - CAEP session-revoked naming a user, and RISC account-disabled,
//     account-purged, credential-compromise and the deprecated
//     sessions-revoked (RISC 1.0 section 2), end every session of that
//     user: logout.requested with subject.
//
// Verification events (SSF 1.0 section 8.1.4.1) are accepted and logged
// with their state; stream-updated events (section 8.1.5) are accepted and
// logged. Any other event type is refused (invalid_request).
//
// A SET is accepted only when its JWS header has typ secevent+jwt (RFC 8417
// section 2.3, SSF 1.0 section 4.1.1) and an asymmetric alg (RS256, ES256,
// PS256 or EdDSA), its signature verifies with the transmitter's keys (its
// jwks_uri, or the jwks_uri of its /.well-known/ssf-configuration), iss and
// aud match the configured transmitter exactly, iat is present, there is no
// sub (SSF 1.0 section 4.1.2) and no exp (section 4.1.7) claim, events holds
// exactly one event (section 4.2.1), and its jti was not processed before
// (remembered durably for JTIRetention). Refusals carry the error codes of
// RFC 8935 section 2.4.
//
// The package imports no other adapter: it needs a JTIStore (the sqlite
// store) and a Logouts publisher (the app's durable RequestLogout).
package ssfin
