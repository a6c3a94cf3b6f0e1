package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// The requirements quoted below are from the CAEP Interoperability Profile
// 1.0 (draft 02, "Transmitters", "Stream Control"), "interop", and the
// OpenID Shared Signals Framework 1.0, "SSF".

// TestSSFOutConformanceDiscovery checks the Transmitter Configuration
// Metadata.
func TestSSFOutConformanceDiscovery(t *testing.T) {
	a, base := startTxApp(t, 5*time.Second)
	var md map[string]json.RawMessage
	if code := txCall(t, http.DefaultClient, http.MethodGet, base+"/.well-known/ssf-configuration", "", nil, &md); code != http.StatusOK {
		t.Fatalf("GET /.well-known/ssf-configuration: %d", code)
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(md[k], &s)
		return s
	}
	// SSF 7.1: "issuer REQUIRED. URL using the https scheme with no query
	// or fragment component that the Transmitter asserts as its Issuer
	// Identifier."
	if str("issuer") != testIssuer {
		t.Errorf("issuer = %q, want %q", str("issuer"), testIssuer)
	}
	// interop "Spec Version": "The Transmitter Configuration Metadata MUST
	// have a spec_version field, and its value MUST be 1_0 or greater".
	if str("spec_version") != "1_0" {
		t.Errorf("spec_version = %q", str("spec_version"))
	}
	// interop "Delivery Method": "MUST include the
	// delivery_methods_supported field"; "Delivery": "A Transmitter MUST
	// be able to accept a Create Stream request that includes either of
	// ... urn:ietf:rfc:8935 (Push) urn:ietf:rfc:8936 (Poll)".
	var methods []string
	json.Unmarshal(md["delivery_methods_supported"], &methods)
	if !slices.Contains(methods, "urn:ietf:rfc:8935") || !slices.Contains(methods, "urn:ietf:rfc:8936") {
		t.Errorf("delivery_methods_supported = %v", methods)
	}
	// interop "JWKS URI": "MUST include the jwks_uri field, and its value
	// MUST provide the current signing key of the Transmitter".
	var jwks struct {
		Keys []struct {
			Kid, Kty, Alg string
		} `json:"keys"`
	}
	// jwks_uri is under public_url (the test config's default), which is
	// not where the test server listens: read the same path there.
	if str("jwks_uri") != config.DefaultDemoPublicURL+"/jwks.json" {
		t.Errorf("jwks_uri = %q", str("jwks_uri"))
	}
	if code := txCall(t, http.DefaultClient, http.MethodGet, base+"/jwks.json", "", nil, &jwks); code != http.StatusOK {
		t.Fatalf("jwks: %d", code)
	}
	k, err := a.Keys().Signing("RS256")
	if err != nil || !slices.ContainsFunc(jwks.Keys, func(j struct{ Kid, Kty, Alg string }) bool { return j.Kid == k.KID && j.Alg == "RS256" }) {
		t.Errorf("jwks_uri does not hold the RS256 signing key %s: %+v (%v)", k.KID, jwks.Keys, err)
	}
	// interop "Configuration Endpoint", "Status Endpoint", "Verification
	// Endpoint": the metadata "MUST include" each field.
	// The endpoints are under public_url (the test config's default).
	for _, f := range []struct{ key, path string }{{"configuration_endpoint", "/ssf/stream"}, {"status_endpoint", "/ssf/status"}, {"verification_endpoint", "/ssf/verify"}} {
		if got := str(f.key); got != config.DefaultDemoPublicURL+f.path {
			t.Errorf("%s = %q, want %q", f.key, got, config.DefaultDemoPublicURL+f.path)
		}
	}
	// interop "Authorization Schemes": "MUST include the
	// authorization_schemes field and its value MUST include the value
	// {"spec_urn": "urn:ietf:rfc:6749"}".
	var schemes []map[string]string
	json.Unmarshal(md["authorization_schemes"], &schemes)
	if !slices.ContainsFunc(schemes, func(s map[string]string) bool { return s["spec_urn"] == "urn:ietf:rfc:6749" }) {
		t.Errorf("authorization_schemes = %v", schemes)
	}
	// SSF 7.1 default_subjects: ALL, since the interop profile's receivers
	// "MUST assume that all subjects are implicitly included in a Stream".
	if str("default_subjects") != "ALL" {
		t.Errorf("default_subjects = %q", str("default_subjects"))
	}
}

// TestSSFOutConformanceStreams checks stream create, read, status and
// verification for a push and a poll receiver, and their authorization.
func TestSSFOutConformanceStreams(t *testing.T) {
	const pushToken, pollToken = "push-receiver-token-0123", "poll-receiver-token-0123"
	push := newTxReceiver(t, "Bearer push-header-secret", 202)
	push.checker = txChecker{issuer: testIssuer, audience: "urn:rp:pusher", format: "iss_sub"}
	_, base := startTxApp(t, 5*time.Second,
		txRP("pusher", config.SSFReceiver{Delivery: config.SSFDeliveryPush, EndpointURL: push.srv.URL + "/events", Audience: "urn:rp:pusher",
			AuthorizationHeaderFile: txSecretFile(t, "push.hdr", "Bearer push-header-secret"), BearerTokenFile: txSecretFile(t, "push.token", pushToken)}),
		txRP("poller", config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:poller", BearerTokenFile: txSecretFile(t, "poll.token", pollToken)}),
	)
	push.checker.jwksURL = base + "/jwks.json"
	hc := &http.Client{Timeout: 15 * time.Second}
	var md struct {
		Config string `json:"configuration_endpoint"`
		Status string `json:"status_endpoint"`
		Verify string `json:"verification_endpoint"`
	}
	txCall(t, hc, http.MethodGet, base+"/.well-known/ssf-configuration", "", nil, &md)
	// The test server listens on a random port, public_url is the default:
	// call the same paths on the test server.
	stream, status, verify := base+"/ssf/stream", base+"/ssf/status", base+"/ssf/verify"
	if md.Config == "" || md.Status == "" || md.Verify == "" {
		t.Fatalf("metadata endpoints: %+v", md)
	}

	// interop "OAuth Service": the transmitter "MUST accept access tokens
	// in the HTTP header as in Section 2.1 of [RFC6750]" and "MUST NOT
	// accept access tokens in the query parameters"; SSF 8.1.2.1: "If a
	// Receiver makes an unauthorized request, then the Transmitter MUST
	// respond with a 401 error status."
	for _, u := range []string{stream, status + "?stream_id=pusher", stream + "?access_token=" + pushToken} {
		if code := txCall(t, hc, http.MethodGet, u, "", nil, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a bearer header: %d, want 401", u, code)
		}
	}

	type streamCfg struct {
		StreamID        string            `json:"stream_id"`
		Iss             string            `json:"iss"`
		Aud             string            `json:"aud"`
		Delivery        map[string]string `json:"delivery"`
		EventsDelivered []string          `json:"events_delivered"`
		Description     string            `json:"description"`
	}
	// interop "Stream Control": "Receivers MUST be able to create a Stream
	// with the Transmitter using valid authorization"; SSF 8.1.1.1: "the
	// Event Transmitter responds with a 201 Created response containing a
	// JSON representation of the stream's configuration"; interop
	// "Delivery": "The delivery field MUST be present in the Configuration
	// of any Stream generated by the Transmitter".
	var cfgs = map[string]streamCfg{}
	for _, rc := range []struct {
		id, token, method, endpoint string
	}{{"pusher", pushToken, "urn:ietf:rfc:8935", push.srv.URL + "/events"}, {"poller", pollToken, "urn:ietf:rfc:8936", ""}} {
		body := map[string]any{"events_requested": []string{txSessionRevoked}, "description": "stream of " + rc.id,
			"delivery": map[string]string{"method": rc.method}}
		if rc.endpoint != "" {
			body["delivery"] = map[string]string{"method": rc.method, "endpoint_url": rc.endpoint}
		}
		var c streamCfg
		if code := txCall(t, hc, http.MethodPost, stream, rc.token, body, &c); code != http.StatusCreated {
			t.Fatalf("create %s: %d %+v", rc.id, code, c)
		}
		// SSF 8.1.1: iss "MUST be identical to the iss Claim value in
		// Security Event Tokens"; events_delivered is REQUIRED.
		if c.StreamID == "" || c.Iss != testIssuer || c.Aud != "urn:rp:"+rc.id || c.Delivery["method"] != rc.method ||
			!slices.Contains(c.EventsDelivered, txSessionRevoked) || c.Description != "stream of "+rc.id {
			t.Errorf("created stream of %s: %+v", rc.id, c)
		}
		// SSF 8.1.1.1: for poll "the endpoint_url value is supplied by the
		// Transmitter".
		if rc.method == "urn:ietf:rfc:8936" && c.Delivery["endpoint_url"] == "" {
			t.Errorf("poll stream without the transmitter's endpoint_url: %+v", c.Delivery)
		}
		cfgs[rc.id] = c
		// SSF 8.1.1.1: "If the Transmitter does not allow multiple streams
		// with the same Receiver, it MUST respond with HTTP status code 409
		// Conflict."
		if code := txCall(t, hc, http.MethodPost, stream, rc.token, body, nil); code != http.StatusConflict {
			t.Errorf("second create of %s: %d, want 409", rc.id, code)
		}
	}
	// A create whose delivery method differs from the configured one is
	// refused (SSF 8.1.1.1: "If the Transmitter does not support the
	// delivery method, it MAY respond with HTTP Status Code 400").
	if code := txCall(t, hc, http.MethodPost, stream, pollToken, map[string]any{"delivery": map[string]string{"method": "urn:ietf:rfc:8935", "endpoint_url": "https://x.example/e"}}, nil); code != http.StatusBadRequest && code != http.StatusConflict {
		t.Errorf("create with another delivery method: %d", code)
	}

	// interop "Reading Stream Configuration": "A Receiver MUST be able to
	// obtain current Stream configuration"; SSF 8.1.1.2: without stream_id
	// "the Transmitter MUST return a list of the stream configurations
	// available to this Receiver"; a stream_id that is not the receiver's
	// is 404.
	var one streamCfg
	if code := txCall(t, hc, http.MethodGet, stream+"?stream_id="+cfgs["pusher"].StreamID, pushToken, nil, &one); code != http.StatusOK ||
		one.StreamID != cfgs["pusher"].StreamID || one.Iss != testIssuer || one.Description != "stream of pusher" {
		t.Errorf("read pusher's stream: %d %+v", code, one)
	}
	var list []streamCfg
	if code := txCall(t, hc, http.MethodGet, stream, pollToken, nil, &list); code != http.StatusOK || len(list) != 1 || list[0].StreamID != cfgs["poller"].StreamID {
		t.Errorf("list poller's streams: %d %+v", code, list)
	}
	if code := txCall(t, hc, http.MethodGet, stream+"?stream_id="+cfgs["pusher"].StreamID, pollToken, nil, nil); code != http.StatusNotFound {
		t.Errorf("poller reads pusher's stream: %d, want 404", code)
	}

	// interop "Status Endpoint": "MUST support the GET and POST methods in
	// order to get and update the stream status ... MUST support the
	// following values ...: enabled, paused, disabled".
	type st struct {
		StreamID string `json:"stream_id"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
	}
	var s st
	if code := txCall(t, hc, http.MethodGet, status+"?stream_id=pusher", pushToken, nil, &s); code != http.StatusOK || s.Status != "enabled" || s.StreamID != "pusher" {
		t.Errorf("status of pusher: %d %+v", code, s)
	}
	for _, want := range []string{"paused", "disabled", "enabled"} {
		s = st{}
		if code := txCall(t, hc, http.MethodPost, status, pushToken, st{StreamID: "pusher", Status: want, Reason: "test " + want}, &s); code != http.StatusOK || s.Status != want {
			t.Errorf("update status to %s: %d %+v", want, code, s)
		}
		s = st{}
		if code := txCall(t, hc, http.MethodGet, status+"?stream_id=pusher", pushToken, nil, &s); code != http.StatusOK || s.Status != want || s.Reason != "test "+want {
			t.Errorf("status after update to %s: %d %+v", want, code, s)
		}
	}
	// SSF 8.1.2.2: 400 "if the request body cannot be parsed or if the
	// request is otherwise invalid"; 8.1.2.1: "If the Receiver requests the
	// status for a stream that does not exist then the Transmitter MUST
	// respond with a 404 error status."
	if code := txCall(t, hc, http.MethodPost, status, pushToken, st{StreamID: "pusher", Status: "sleeping"}, nil); code != http.StatusBadRequest {
		t.Errorf("status sleeping: %d, want 400", code)
	}
	if code := txCall(t, hc, http.MethodGet, status+"?stream_id=nope", pushToken, nil, nil); code != http.StatusNotFound {
		t.Errorf("status of an unknown stream: %d, want 404", code)
	}

	// interop "Stream Verification": "A Receiver MUST be able to verify
	// the liveness of the Stream by requesting that the Transmitter send it
	// a Stream Verification event"; SSF 8.1.4.2: "the Event Transmitter
	// responds with an empty 204 No Content response"; 8.1.4.1: sub_id
	// "MUST always be set to have a simple value of type opaque. The id of
	// the value MUST be the stream_id", and state is echoed.
	if code := txCall(t, hc, http.MethodPost, verify, pushToken, map[string]string{"stream_id": "pusher", "state": "push-state-1"}, nil); code != http.StatusNoContent {
		t.Fatalf("verify pusher: %d, want 204", code)
	}
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		_, sets := push.snapshot()
		for _, s := range sets {
			if s.Err != "" {
				return fmt.Errorf("invalid verification SET: %s", s.Err)
			}
			if s.Event == txVerification && s.Body["state"] == "push-state-1" && s.SubID["id"] == cfgs["pusher"].StreamID {
				return nil
			}
		}
		return fmt.Errorf("no verification SET pushed yet (%d)", len(sets))
	})
	if code := txCall(t, hc, http.MethodPost, verify, pollToken, map[string]string{"stream_id": "poller", "state": "poll-state-2"}, nil); code != http.StatusNoContent {
		t.Fatalf("verify poller: %d, want 204", code)
	}
	var ans txPollAnswer
	txCall(t, hc, http.MethodPost, base+"/ssf/poll", pollToken, map[string]any{"returnImmediately": true}, &ans)
	checker := txChecker{jwksURL: base + "/jwks.json", issuer: testIssuer, audience: "urn:rp:poller", format: "iss_sub"}
	found := ""
	for jti, raw := range ans.Sets {
		if s := checker.check(raw); s.Err == "" && s.Event == txVerification && s.Body["state"] == "poll-state-2" && s.SubID["id"] == "poller" {
			found = jti
		}
	}
	if found == "" {
		t.Fatalf("no valid verification SET polled: %+v", ans)
	}
	ans = txPollAnswer{}
	txCall(t, hc, http.MethodPost, base+"/ssf/poll", pollToken, map[string]any{"returnImmediately": true, "ack": []string{found}}, &ans)
	if len(ans.Sets) != 0 {
		t.Errorf("the acknowledged verification SET is served again: %+v", ans)
	}
	// SSF 8.1.4.2: 400 "if the request body cannot be parsed or if the
	// request is otherwise invalid", 404 for another stream.
	if code := txCall(t, hc, http.MethodPost, verify, pollToken, map[string]string{"state": "x"}, nil); code != http.StatusBadRequest {
		t.Errorf("verify without stream_id: %d, want 400", code)
	}
	if code := txCall(t, hc, http.MethodPost, verify, pollToken, map[string]string{"stream_id": "pusher"}, nil); code != http.StatusNotFound {
		t.Errorf("verify another receiver's stream: %d, want 404", code)
	}
}

// TestSSFOutPausedAndDisabled: SSF 8.1.2: on a paused stream "The Transmitter
// MUST NOT transmit events" (the SET is held and sent once enabled again,
// before the deadline); on a disabled one it "MUST NOT transmit events ...
// and will not hold any events" (the participant fails, nothing is sent).
func TestSSFOutPausedAndDisabled(t *testing.T) {
	const token = "pausing-receiver-token-01"
	push := newTxReceiver(t, "", 202)
	push.checker = txChecker{issuer: testIssuer, audience: "urn:rp:p", format: "iss_sub"}
	a, base := startTxApp(t, 20*time.Second, txRP("p", config.SSFReceiver{Delivery: config.SSFDeliveryPush, EndpointURL: push.srv.URL + "/events",
		Audience: "urn:rp:p", BearerTokenFile: txSecretFile(t, "p.token", token)}))
	push.checker.jwksURL = base + "/jwks.json"
	c := appClient(t, a)
	hc := &http.Client{Timeout: 15 * time.Second}
	setStatus := func(s string) {
		if code := txCall(t, hc, http.MethodPost, base+"/ssf/status", token, map[string]string{"stream_id": "p", "status": s}, nil); code != http.StatusOK {
			t.Fatalf("status %s: %d", s, code)
		}
	}

	setStatus("disabled")
	c.join("s-d", "alice", "p", "")
	c.txLogout("lo-d", "s-d", "user")
	if ev := c.waitCompleted("lo-d", 30*time.Second); ev.Participants[0].Outcome != "failed" {
		t.Errorf("disabled stream: %+v, want failed", ev.Participants)
	}
	if n, _ := push.snapshot(); n != 0 {
		t.Errorf("%d SETs pushed on a disabled stream", n)
	}

	setStatus("paused")
	c.join("s-p", "bob", "p", "")
	c.txLogout("lo-p", "s-p", "user")
	// Once the adapter took both dispatches, the saga of lo-p is still
	// running and nothing was pushed (the dispatch of lo-p stays
	// unacknowledged, held until its result: at most 1 ack pending).
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		cons, err := a.Bus().JetStream().Consumer(t.Context(), events.StreamName, "adapter-ssf")
		if err != nil {
			return err
		}
		info, err := cons.Info(t.Context())
		if err != nil {
			return err
		}
		if info.Delivered.Consumer < 2 || info.NumAckPending > 1 || info.NumPending > 0 {
			return fmt.Errorf("adapter-ssf took %d dispatches, %d unacknowledged", info.Delivered.Consumer, info.NumAckPending)
		}
		return nil
	})
	if sg, ok, err := a.Store().Saga(t.Context(), "lo-p"); err != nil || !ok || !sg.Running() {
		t.Fatalf("lo-p is not running while its stream is paused: %+v %v %v", sg, ok, err)
	}
	if n, _ := push.snapshot(); n != 0 {
		t.Fatalf("%d SETs pushed on a paused stream", n)
	}
	setStatus("enabled")
	if ev := c.waitCompleted("lo-p", 30*time.Second); ev.Participants[0].Outcome != "succeeded" {
		t.Errorf("paused, then enabled: %+v, want succeeded", ev.Participants)
	}
	n, sets := push.snapshot()
	if n != 1 || sets[0].Err != "" || sets[0].Txn != "lo-p" {
		t.Errorf("after enabling: %d pushes %+v, want the one SET of lo-p", n, sets)
	}
}
