package saml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/coordinator/watch"
	"github.com/signoff/signoff/events"
)

// MaxInboundRelayState is the longest RelayState accepted from an SP.
// saml-bindings 3.4.3 and 3.5.3 say 80 bytes; some SPs send a URL, so up to
// 512 bytes are taken and echoed.
const MaxInboundRelayState = 512

// returnLifetime bounds how long the Continue link of an SP-initiated logout
// (/saml/return) answers the SP.
const returnLifetime = time.Hour

// Handlers returns signoff's SAML endpoints as http.ServeMux patterns (under
// the path of the public URL):
//
//	GET  /saml/metadata   the IdP metadata: entityID, SingleLogoutService, signing certificate
//	GET  /saml/slo        HTTP-Redirect: LogoutResponses and SP-initiated LogoutRequests
//	POST /saml/slo        HTTP-POST: the same
//	POST /saml/slo/soap   SOAP: SP-initiated LogoutRequests
//	GET  /saml/post       carries a LogoutRequest to an HTTP-POST-only SP
//	GET  /saml/return     answers an SP-initiated logout once it has ended
func (a *Adapter) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + a.base + "/saml/metadata":  http.HandlerFunc(a.serveMetadata),
		"GET " + a.base + "/saml/slo":       http.HandlerFunc(a.serveSLO),
		"POST " + a.base + "/saml/slo":      http.HandlerFunc(a.serveSLO),
		"POST " + a.base + "/saml/slo/soap": http.HandlerFunc(a.serveSOAP),
		"GET " + a.base + "/saml/post":      http.HandlerFunc(a.servePost),
		"GET " + a.base + "/saml/return":    http.HandlerFunc(a.serveReturn),
	}
}

// Metadata returns signoff's IdP metadata (saml-metadata 2.4.3): entityID =
// issuer, SingleLogoutService for HTTP-Redirect and HTTP-POST (/saml/slo)
// and SOAP (/saml/slo/soap), and the signing certificate.
func (a *Adapter) Metadata() ([]byte, error) {
	signer, err := a.cfg.Signer()
	if err != nil {
		return nil, err
	}
	return message.IdPMetadata(a.cfg.EntityID, signer.Certificate(), a.sloURL, a.sloURL, a.soapURL)
}

func (a *Adapter) serveMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := a.Metadata()
	if err != nil {
		a.log.Error("IdP metadata", "err", err)
		http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(md)
}

// refuse answers an inbound message that failed verification: 413 when it
// is too large, 400 otherwise, with the reason, which is also logged.
func (a *Adapter) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, message.ErrTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	a.refuseText(w, r, status, "SAML message refused: "+err.Error())
}

func (a *Adapter) refuseText(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.refused.Add(1)
	a.log.Info("SAML request refused", "path", r.URL.Path, "method", r.Method, "remote", r.RemoteAddr, "status", status, "reason", msg)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

// serveSLO is /saml/slo: HTTP-Redirect (GET; the signature is verified over
// the raw query as received, saml-bindings 3.4.4.1) and HTTP-POST (POST,
// saml-bindings 3.5.4). Destination must be this URL, IssueInstant within
// the skew, the ID not seen before, and the Issuer a configured SP whose
// certificate signed it.
func (a *Adapter) serveSLO(w http.ResponseWriter, r *http.Request) {
	exp := a.expect(a.sloURL, a.certsOf)
	max := int64(2 * a.cfg.Limits.MaxMessage)
	var (
		in  *message.Inbound
		err error
	)
	switch r.Method {
	case http.MethodGet:
		if int64(len(r.URL.RawQuery)) > max {
			a.refuse(w, r, message.ErrTooLarge)
			return
		}
		in, err = message.ParseRedirect(r.URL.RawQuery, exp)
	default:
		r.Body = http.MaxBytesReader(w, r.Body, max)
		if perr := r.ParseForm(); perr != nil {
			var mbe *http.MaxBytesError
			if errors.As(perr, &mbe) {
				a.refuse(w, r, message.ErrTooLarge)
			} else {
				a.refuseText(w, r, http.StatusBadRequest, "SAML message refused: the form cannot be read")
			}
			return
		}
		in, err = message.ParsePOST(r.PostForm, exp)
	}
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	sp, ok := a.byEntity[in.Issuer]
	switch {
	case !ok:
		a.refuse(w, r, message.ErrUnknownIssuer)
	case in.Response != nil:
		a.browserResponse(w, r, sp, in)
	case in.Request != nil:
		a.spInitiated(w, r, sp, in)
	default:
		a.refuse(w, r, message.ErrMalformed)
	}
}

// browserResponse settles a participant with the LogoutResponse its SP
// sent through the browser: the RelayState made by Frame binds it to the
// logout, the SP and the request (InResponseTo).
func (a *Adapter) browserResponse(w http.ResponseWriter, r *http.Request, sp SP, in *message.Inbound) {
	lr := in.Response
	logoutID, ok := a.checkRelayState(in.RelayState, sp.ID, lr.InResponseTo)
	if !ok {
		a.refuseText(w, r, http.StatusBadRequest, "SAML message refused: its RelayState and InResponseTo do not match a LogoutRequest signoff sent to this service provider")
		return
	}
	res := events.Result{LogoutID: logoutID, RPID: sp.ID, Attempts: 1}
	success := lr.StatusCode == message.StatusSuccess
	if success {
		res.Outcome, res.Detail = events.OutcomeSucceeded, "signed LogoutResponse: Success"
		if lr.SubStatusCode == message.StatusPartialLogout {
			res.Detail += " (PartialLogout)"
		}
	} else {
		res.Outcome, res.Detail = events.OutcomeFailed, "LogoutResponse status "+statusDetail(lr)
	}
	if err := a.publishNow(r.Context(), res); err != nil {
		a.log.Error("publishing a SAML result", "logout_id", logoutID, "rp_id", sp.ID, "err", err)
		http.Error(w, "The sign-out could not be recorded. Please try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	a.markSettled(logoutID, sp.ID)
	a.log.Info("SAML LogoutResponse", "logout_id", logoutID, "rp_id", sp.ID, "outcome", res.Outcome, "detail", res.Detail)
	if sp.mode() == ModeIframe {
		errText := ""
		if !success {
			errText = res.Detail
		}
		a.ackPage(w, http.StatusOK, success, errText)
		return
	}
	// The page must not send the browser to this SP again: wait a moment
	// until the coordinator has applied the result.
	a.awaitSettled(r.Context(), logoutID, sp.ID, 5*time.Second)
	http.Redirect(w, r, a.base+"/logout/"+url.PathEscape(logoutID), http.StatusSeeOther)
}

func (a *Adapter) markSettled(logoutID, rpID string) {
	now := a.now()
	a.settled.Store(logoutID+"\x00"+rpID, now)
	a.settled.Range(func(k, v any) bool {
		if now.Sub(v.(time.Time)) > 10*time.Minute {
			a.settled.Delete(k)
		}
		return true
	})
}

// awaitSettled waits until participant rpID of logoutID is no longer
// pending, or max passes; it wakes on the saga's change notification.
func (a *Adapter) awaitSettled(ctx context.Context, logoutID, rpID string, max time.Duration) {
	if a.cfg.Sagas == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	changed, stop := a.cfg.Changes.Watch(logoutID)
	defer stop()
	for {
		if l, found, err := a.cfg.Sagas.Logout(ctx, logoutID); err == nil && found {
			if p, ok := l.participant(rpID); !ok || p.Outcome != events.OutcomePending || l.Status != events.StatusRunning {
				return
			}
		}
		if !watch.Await(ctx, changed, min(max, a.cfg.Recheck)) {
			return
		}
	}
}

// nameIDMatches compares a NameID from an SP with one signoff registered:
// the value exactly; Format, NameQualifier and SPNameQualifier when both
// sides carry them (saml-core 3.3.4; SPs often leave the qualifiers out).
func nameIDMatches(stored events.SAMLSession, got message.NameID) bool {
	if stored.NameID != got.Value {
		return false
	}
	const unspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	if stored.Format != "" && got.Format != "" && stored.Format != unspecified && got.Format != unspecified && stored.Format != got.Format {
		return false
	}
	if stored.NameQualifier != "" && got.NameQualifier != "" && stored.NameQualifier != got.NameQualifier {
		return false
	}
	if stored.SPNameQualifier != "" && got.SPNameQualifier != "" && stored.SPNameQualifier != got.SPNameQualifier {
		return false
	}
	return true
}

// findSessions returns the IdP sessions an SP's LogoutRequest names: its
// NameID at that SP and, when it lists SessionIndexes, one of them
// (a registered session without a SessionIndex matches any).
func (a *Adapter) findSessions(ctx context.Context, sp SP, req *message.LogoutRequest) ([]Session, error) {
	if a.cfg.Sessions == nil {
		return nil, errors.New("no session registry")
	}
	all, err := a.cfg.Sessions.SessionsByNameID(ctx, sp.ID, req.NameID.Value)
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, s := range all {
		if !nameIDMatches(s.SAML, req.NameID) {
			continue
		}
		if len(req.SessionIndexes) > 0 && s.SAML.SessionIndex != "" && !contains(req.SessionIndexes, s.SAML.SessionIndex) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// spInitiated handles a verified LogoutRequest from an SP (saml-core
// 3.7.3.2, saml-profiles 4.4.3.2): the IdP session(s) it names are logged
// out everywhere with initiator rp. A NameID without a registered session
// is answered Success at once (there is nothing left to end). Browser
// bindings: the browser is bound to the logout and sent to /logout/{id};
// its Continue (/saml/return) answers the SP once the saga has ended. SOAP:
// the answer waits for the end of the saga.
func (a *Adapter) spInitiated(w http.ResponseWriter, r *http.Request, sp SP, in *message.Inbound) {
	req := in.Request
	soap := in.Binding == message.BindingSOAP
	if len(in.RelayState) > MaxInboundRelayState {
		a.refuseText(w, r, http.StatusBadRequest, fmt.Sprintf("SAML message refused: RelayState longer than %d bytes", MaxInboundRelayState))
		return
	}
	sessions, err := a.findSessions(r.Context(), sp, req)
	if err != nil {
		a.log.Error("finding the sessions of a SAML LogoutRequest", "rp_id", sp.ID, "err", err)
		http.Error(w, "The sign-out could not be started. Please try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	if len(sessions) == 0 {
		a.log.Info("SP-initiated SAML logout for a NameID without a registered session; answering Success",
			"rp_id", sp.ID, "request_id", req.ID, "binding", in.Binding)
		a.answer(w, r, sp, req.ID, in.RelayState, false, soap)
		return
	}
	id := uuid.NewString()
	lr := events.LogoutRequested{
		EventID: uuid.NewString(), LogoutID: id, OccurredAt: a.now().UTC(),
		Initiator: events.InitiatorRP, InitiatingRPID: sp.ID, Scope: events.ScopeGlobal,
		Reason: "SAML LogoutRequest from " + sp.Name,
	}
	if req.Reason != "" {
		lr.Reason += " (" + delivery.Sanitize(req.Reason) + ")"
	}
	lr.SessionID, lr.Subject = sessionOrSubject(sessions)
	if !soap {
		lr.Browser = true
		tok := a.seal("return", returnToken{LogoutID: id, RPID: sp.ID, InResponseTo: req.ID, RelayState: in.RelayState,
			Exp: a.now().Add(returnLifetime).Unix()})
		lr.ReturnTo = a.returnURL + "?" + url.Values{"t": {tok}}.Encode()
	}
	if err := a.cfg.Logouts.RequestLogout(r.Context(), lr); err != nil {
		a.log.Error("starting an SP-initiated logout", "rp_id", sp.ID, "err", err)
		http.Error(w, "The sign-out could not be started. Please try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	a.spInit.Add(1)
	a.log.Info("SP-initiated SAML logout started", "logout_id", id, "rp_id", sp.ID, "binding", in.Binding, "request_id", req.ID)
	if !soap {
		if a.cfg.Browser != nil {
			a.cfg.Browser.Bind(w, r, id)
		}
		http.Redirect(w, r, a.base+"/logout/"+id, http.StatusSeeOther)
		return
	}
	partial := a.awaitEnd(r.Context(), id, sp.ID)
	a.answer(w, r, sp, req.ID, "", partial, true)
}

// sessionOrSubject picks what to log out: the one IdP session, or, when the
// NameID (without a SessionIndex) matches several sessions of one user, the
// user; with several users, the most recently joined session.
func sessionOrSubject(ss []Session) (sessionID, subject string) {
	ids := map[string]bool{}
	subjects := map[string]bool{}
	for _, s := range ss {
		ids[s.SessionID] = true
		subjects[s.Subject] = true
	}
	if len(ids) == 1 || len(subjects) > 1 {
		return ss[0].SessionID, ""
	}
	return "", ss[0].Subject
}

// awaitEnd waits until logout id has ended (at most until its deadline plus
// 10 s, or LogoutDeadline plus 10 s while it is not readable yet) and
// reports whether any participant other than rpID did not confirm. It
// wakes on the saga's change notification.
func (a *Adapter) awaitEnd(ctx context.Context, id, rpID string) (partial bool) {
	limit := a.now().Add(a.cfg.LogoutDeadline + 10*time.Second)
	changed, stop := a.cfg.Changes.Watch(id)
	defer stop()
	for {
		l, found, err := a.cfg.Sagas.Logout(ctx, id)
		if err == nil && found {
			if l.Status != events.StatusRunning {
				for _, p := range l.Participants {
					if p.RPID != rpID && p.Outcome != events.OutcomeSucceeded {
						return true
					}
				}
				return false
			}
			if !l.Deadline.IsZero() {
				limit = l.Deadline.Add(10 * time.Second)
			}
		}
		left := limit.Sub(a.now())
		if left < 0 || !watch.Await(ctx, changed, min(left, a.cfg.Recheck)) {
			return true
		}
	}
}

// serveSOAP is POST /saml/slo/soap (saml-bindings 3.2): an SP-initiated
// LogoutRequest, answered synchronously with a signed LogoutResponse in the
// SOAP envelope once the saga has ended. Destination may be absent (the
// binding is point to point); when present it must be this URL.
func (a *Adapter) serveSOAP(w http.ResponseWriter, r *http.Request) {
	max := int64(a.cfg.Limits.MaxMessage) * 2
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.refuse(w, r, message.ErrTooLarge)
		} else {
			a.refuseText(w, r, http.StatusBadRequest, "SAML message refused: the body cannot be read")
		}
		return
	}
	// An absent Destination is accepted (saml-bindings 3.2); a present one
	// must be this endpoint.
	in, err := message.ParseSOAP(body, a.expect(a.soapURL, a.certsOf))
	if err != nil {
		a.refuse(w, r, err)
		return
	}
	sp, ok := a.byEntity[in.Issuer]
	switch {
	case !ok:
		a.refuse(w, r, message.ErrUnknownIssuer)
	case in.Request == nil:
		a.refuseText(w, r, http.StatusBadRequest, "SAML message refused: the SOAP endpoint takes LogoutRequests")
	default:
		in.Binding = message.BindingSOAP
		a.spInitiated(w, r, sp, in)
	}
}

// serveReturn is /saml/return?t=…, the Continue of an SP-initiated browser
// logout: once the saga has ended it answers the SP's LogoutRequest with a
// signed LogoutResponse at the SP's ResponseLocation (HTTP-Redirect
// preferred, else HTTP-POST): Success, with a nested PartialLogout when any
// other participant did not confirm (saml-core 3.7.3.2), RelayState echoed.
func (a *Adapter) serveReturn(w http.ResponseWriter, r *http.Request) {
	var tok returnToken
	if err := a.open("return", r.URL.Query().Get("t"), &tok); err != nil || expired(tok.Exp, a.now()) {
		a.refuseText(w, r, http.StatusBadRequest, "this return link is not valid (or has expired)")
		return
	}
	sp, ok := a.sps[tok.RPID]
	if !ok {
		a.refuseText(w, r, http.StatusBadRequest, "this return link names an application that is no longer configured")
		return
	}
	partial := a.awaitEnd(r.Context(), tok.LogoutID, sp.ID)
	a.answer(w, r, sp, tok.InResponseTo, tok.RelayState, partial, false)
}

// answer sends the LogoutResponse to an SP's own LogoutRequest: in the SOAP
// envelope, or through the browser (HTTP-Redirect, else HTTP-POST).
func (a *Adapter) answer(w http.ResponseWriter, r *http.Request, sp SP, inResponseTo, relayState string, partial, soap bool) {
	resp := message.LogoutResponse{ID: message.NewID(), Issuer: a.cfg.EntityID, InResponseTo: inResponseTo,
		IssueInstant: a.now().UTC(), StatusCode: message.StatusSuccess}
	if partial {
		resp.SubStatusCode = message.StatusPartialLogout
	}
	signer, err := a.cfg.Signer()
	if err != nil {
		a.log.Error("no SAML signing key", "err", err)
		http.Error(w, "the answer could not be signed", http.StatusInternalServerError)
		return
	}
	if soap {
		signed, err := signer.SignResponse(resp)
		if err != nil {
			a.log.Error("signing a LogoutResponse", "rp_id", sp.ID, "err", err)
			http.Error(w, "the answer could not be signed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(message.SOAPEnvelope(signed))
		return
	}
	binding, loc, ok := sp.responseEndpoint()
	if !ok {
		a.log.Warn("no browser SingleLogoutService to answer the SP at", "rp_id", sp.ID)
		http.Error(w, "You are signed out. "+sp.Name+" has no address signoff can return you to.", http.StatusOK)
		return
	}
	resp.Destination = loc
	a.log.Info("answering an SP-initiated SAML logout", "rp_id", sp.ID, "in_response_to", inResponseTo, "partial", partial, "binding", binding)
	if binding == message.BindingRedirect {
		xml, err := message.MarshalResponse(resp)
		var u string
		if err == nil {
			u, err = signer.RedirectURL(loc, "SAMLResponse", xml, relayState)
		}
		if err != nil {
			a.log.Error("signing a LogoutResponse", "rp_id", sp.ID, "err", err)
			http.Error(w, "the answer could not be signed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	signed, err := signer.SignResponse(resp)
	if err != nil {
		a.log.Error("signing a LogoutResponse", "rp_id", sp.ID, "err", err)
		http.Error(w, "the answer could not be signed", http.StatusInternalServerError)
		return
	}
	a.writeForm(w, sp, loc, "SAMLResponse", signed, relayState)
}
