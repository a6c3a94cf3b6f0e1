package app

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/adapters/saml"
	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/coordinator/rpc"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/coordinator/watch"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
)

// fakeParts is one instance's view of the partition set: the partitions
// it owns, and the route index (shared by the instances, as every instance
// keeps the whole index).
type fakeParts struct {
	nc      *nats.Conn
	count   int
	own     map[int]*store.Store
	routes  map[string]int // kind + "|" + key → partition
	members int
	locates atomic.Int32
}

func (f *fakeParts) Count() int { return f.count }
func (f *fakeParts) Local(p int) (*store.Store, bool) {
	st, ok := f.own[p]
	return st, ok
}
func (f *fakeParts) Locate(_ context.Context, kind routeKind, key string) (int, bool, error) {
	f.locates.Add(1)
	p, ok := f.routes[string(kind)+"|"+key]
	return p, ok, nil
}
func (f *fakeParts) Conn() *nats.Conn { return f.nc }
func (f *fakeParts) Members() int     { return f.members }

// remoteFixture is two instances on one real NATS: A owns partition 0, B
// owns partition 1, nobody owns partition 2.
type remoteFixture struct {
	stA, stB *store.Store
	a, b     *fakeParts
	dir      dirMap
	url      string
}

var remoteT0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func newRemoteFixture(t testing.TB) *remoteFixture {
	t.Helper()
	f := &remoteFixture{url: natstest.Embedded(t, false).ClientURL(), dir: dirMap{rps: map[string]saga.RP{
		"chat":    {ID: "chat", Name: "Chat", Adapter: events.AdapterBackchannel},
		"payroll": {ID: "payroll", Name: "Payroll", Adapter: events.AdapterSAML},
	}}}
	open := func(name string) *store.Store {
		st, err := store.Open(filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	f.stA, f.stB = open("p-00.db"), open("p-01.db")
	routes := map[string]int{
		"logout|L1": 0, "logout|L2": 0, "session|s1": 0, "rpsid|chat\x00sid-1": 0,
		"nameid|payroll\x00alice-pid": 0,
		"logout|L3":                   2, // partition 2 has no owner
		// s9's sid, bob-pid and L4 are in A's store but not (yet) in the
		// index: broadcasts find them.
	}
	f.a = &fakeParts{nc: f.connect(t), count: 3, own: map[int]*store.Store{0: f.stA}, routes: routes, members: 2}
	f.b = &fakeParts{nc: f.connect(t), count: 3, own: map[int]*store.Store{1: f.stB}, routes: routes, members: 2}
	for _, in := range []struct {
		parts *fakeParts
		p     int
		st    *store.Store
	}{{f.a, 0, f.stA}, {f.b, 1, f.stB}} {
		stop, err := serveRemote(in.parts.nc, in.p, in.st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		stopAll, err := serveBroadcasts(in.parts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stopAll)
	}

	samlJoin := func(session, sub, nameID string) events.SessionJoined {
		return events.SessionJoined{SessionID: session, RPID: "payroll", Subject: sub, OccurredAt: remoteT0,
			SAML: &events.SAMLSession{NameID: nameID, Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", SessionIndex: "_" + session}}
	}
	part := func(rp, name string, adapter events.Adapter, state events.Outcome) saga.Participant {
		p := saga.Participant{RPID: rp, Name: name, Adapter: adapter, State: state,
			Sessions: []events.DispatchSession{{SessionID: "s1", OIDC: &events.OIDCSession{SID: "sid-1"}}}}
		if state != saga.StatePending {
			p.FinishedAt = remoteT0
		}
		return p
	}
	l1 := saga.Saga{LogoutID: "L1", Status: saga.StatusRunning, Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
		SessionID: "s1", Subject: "alice", RequestedAt: remoteT0, Deadline: remoteT0.Add(time.Minute), ReturnTo: "https://app.example/bye",
		Participants: []saga.Participant{
			part(saga.LocalRPID, "This sign-in service", events.AdapterCookie, saga.StatePending),
			part("payroll", "Payroll", events.AdapterSAML, saga.StatePending),
			part("chat", "Chat", events.AdapterBackchannel, events.OutcomeFailed),
		}}
	// L2: "this app only" from chat, finished: the page names the apps
	// still signed in (SessionApps of s1, through the route index too).
	l2 := saga.Saga{LogoutID: "L2", Status: saga.StatusComplete, Initiator: events.InitiatorRP, Scope: events.ScopeInitiatorOnly,
		SessionID: "s1", Subject: "alice", InitiatingRPID: "chat", RequestedAt: remoteT0.Add(-time.Hour), Deadline: remoteT0,
		FinishedAt: remoteT0, Participants: []saga.Participant{part("chat", "Chat", events.AdapterBackchannel, events.OutcomeSucceeded)}}
	l4 := l1
	l4.LogoutID, l4.SessionID = "L4", "s9"
	ctx := context.Background()
	err := f.stA.Update(ctx, func(tx *store.Tx) error {
		for _, j := range []events.SessionJoined{
			{SessionID: "s1", RPID: "chat", Subject: "alice", OccurredAt: remoteT0, OIDC: &events.OIDCSession{SID: "sid-1"}},
			samlJoin("s1", "alice", "alice-pid"),
			{SessionID: "s9", RPID: "chat", Subject: "bob", OccurredAt: remoteT0, OIDC: &events.OIDCSession{SID: "sid-9"}},
			samlJoin("s9", "bob", "bob-pid"),
		} {
			if err := tx.JoinSession(j); err != nil {
				return err
			}
		}
		for _, sg := range []saga.Saga{l1, l2, l4} {
			if err := tx.SaveSaga(sg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *remoteFixture) connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(f.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestRemoteStatus: B shows A's sagas exactly as A shows them (the page,
// SSE and admin API view), including the apps still signed in that come
// from the session's partition; an unknown logout is not found.
func TestRemoteStatus(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	onB := statusReader{routed{f.b}, f.dir}
	onA := statusReader{f.stA, f.dir}
	for _, id := range []string{"L1", "L2"} {
		want, ok, err := onA.Logout(ctx, id)
		if err != nil || !ok {
			t.Fatalf("local %s: %v %v", id, ok, err)
		}
		got, ok, err := onB.Logout(ctx, id)
		if err != nil || !ok {
			t.Fatalf("remote %s: %v %v", id, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s through B:\n got %+v\nwant %+v", id, got, want)
		}
	}
	if v, _, _ := onB.Logout(ctx, "L2"); !reflect.DeepEqual(v.StillSignedIn, []string{"Payroll"}) || v.ReturnTo != "" {
		t.Errorf("L2 still signed in %v", v.StillSignedIn)
	}
	if v, _, _ := onB.Logout(ctx, "L1"); v.ReturnTo != "https://app.example/bye" || len(v.Participants) != 3 || v.Participants[2].SID != "sid-1" {
		t.Errorf("L1 through B: %+v", v)
	}
	if _, ok, err := onB.Logout(ctx, "nope"); ok || err != nil {
		t.Errorf("unknown logout: %v %v", ok, err)
	}
}

// TestRemoteSteps: a step claimed through B is written in A's store (A
// cannot claim it again); released through B, A can.
func TestRemoteSteps(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	var steps web.Steps = routed{f.b}
	claim := func(s web.Steps, rp string) bool {
		t.Helper()
		ok, err := s.ClaimStep(ctx, "L1", rp, remoteT0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(steps, saga.LocalRPID) {
		t.Fatal("the first claim through B lost")
	}
	if claim(steps, saga.LocalRPID) || claim(f.stA, saga.LocalRPID) {
		t.Fatal("a once-ever step claimed twice")
	}
	if claim(steps, "chat") {
		t.Error("claimed a step of a participant that is no longer pending")
	}
	if err := steps.ReleaseStep(ctx, "L1", saga.LocalRPID); err != nil {
		t.Fatal(err)
	}
	if !claim(f.stA, saga.LocalRPID) {
		t.Error("the release through B did not reach A's store")
	}
	if ok, err := steps.ClaimStep(ctx, "nope", saga.LocalRPID, remoteT0, 0); ok || err != nil {
		t.Errorf("a step of an unknown logout: %v %v", ok, err)
	}
}

// TestRemoteSessions: end_session's directory and the SAML lookups
// through B: by the route index, and by broadcast for keys the index does
// not have (yet).
func TestRemoteSessions(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	var dirB web.SessionDirectory = sessionDirectory{routed{f.b}, f.dir}
	want, err := sessionDirectory{f.stA, f.dir}.Apps(ctx, "s1")
	if err != nil || len(want) != 2 {
		t.Fatalf("local apps %v %v", want, err)
	}
	if got, err := dirB.Apps(ctx, "s1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("apps through B %v %v, want %v", got, err, want)
	}
	for _, tt := range []struct {
		rp, sid, want string
	}{
		{"chat", "sid-1", "s1"}, // indexed
		{"chat", "sid-9", "s9"}, // broadcast
		{"chat", "sid-x", ""},   // nowhere
	} {
		id, ok, err := dirB.SessionBySID(ctx, tt.rp, tt.sid)
		if err != nil || id != tt.want || ok != (tt.want != "") {
			t.Errorf("SessionBySID(%s, %s) = %q %v %v, want %q", tt.rp, tt.sid, id, ok, err, tt.want)
		}
	}

	var sessB saml.Sessions = samlSessions{routed{f.b}}
	for _, nameID := range []string{"alice-pid", "bob-pid", "nobody"} {
		want, err := samlSessions{f.stA}.SessionsByNameID(ctx, "payroll", nameID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sessB.SessionsByNameID(ctx, "payroll", nameID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SessionsByNameID(%s) through B = %+v %v, want %+v", nameID, got, err, want)
		}
		if nameID != "nobody" && len(got) != 1 {
			t.Errorf("SessionsByNameID(%s) found %d sessions", nameID, len(got))
		}
	}

	var sagasB saml.Sagas = samlSagas{routed{f.b}}
	wantL, _, err := samlSagas{f.stA}.Logout(ctx, "L1")
	if err != nil {
		t.Fatal(err)
	}
	gotL, ok, err := sagasB.Logout(ctx, "L1")
	if err != nil || !ok || !gotL.Deadline.Equal(wantL.Deadline) {
		t.Fatalf("saml logout through B: %v %v %+v", ok, err, gotL)
	}
	gotL.Deadline, wantL.Deadline = time.Time{}, time.Time{}
	if !reflect.DeepEqual(gotL, wantL) {
		t.Errorf("saml logout through B\n got %+v\nwant %+v", gotL, wantL)
	}
}

// TestRemoteParticipantPending: the dispatch handlers' check through B,
// by the index and, for a logout B's index does not have yet, by
// broadcast (a lagging index drops no dispatch). A logout found neither
// way is errNotRouted, which the dispatch handler retries, not "not
// pending".
func TestRemoteParticipantPending(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	r := routed{f.b}
	for _, tt := range []struct {
		logout, rp string
		want       bool
		wantErr    error
	}{
		{"L1", "payroll", true, nil},
		{"L1", "chat", false, nil}, // failed
		{"L2", "chat", false, nil}, // saga finished
		{"L4", "payroll", true, nil},
		{"L4", "chat", false, errNotRouted}, // not indexed on B; the broadcast finds no pending chat
		{"nope", "payroll", false, errNotRouted},
	} {
		got, err := r.ParticipantPending(ctx, tt.logout, tt.rp)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Errorf("ParticipantPending(%s, %s) = %v %v, want %v %v", tt.logout, tt.rp, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestRemoteNoOwner: a logout of a partition nobody owns fails when the
// request's context ends, saying so; the page gets the error (503), not a
// "not found".
func TestRemoteNoOwner(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 300*time.Millisecond)
	_, ok, err := statusReader{routed{f.b}, f.dir}.Logout(ctx, "L3")
	if ok || !errors.Is(err, rpc.ErrNoOwner) || !strings.Contains(err.Error(), "partition 2") {
		t.Fatalf("L3 (partition 2, no owner): %v %v", ok, err)
	}
}

// TestRemoteMalformedRequest: a request an owner cannot decode gets an
// error reply, and the partition goes on serving.
func TestRemoteMalformedRequest(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	m, err := f.b.nc.RequestWithContext(ctx, rpc.PartitionSubject(0, rpcClaimStep), []byte(`{"logout_id": 7`))
	if err != nil {
		t.Fatal(err)
	}
	var reply rpc.Reply
	if err := json.Unmarshal(m.Data, &reply); err != nil || reply.Found || !strings.Contains(reply.Error, "malformed request") {
		t.Fatalf("reply %s (%v)", m.Data, err)
	}
	if ok, err := f.stA.ClaimStep(ctx, "L1", saga.LocalRPID, remoteT0, 0); !ok || err != nil {
		t.Errorf("the malformed claim changed A's store: %v %v", ok, err)
	}
}

// TestRemoteChangeWakesOtherInstance: a commit in A's store wakes a page
// waiting on B (A's store hub → A's feed → B's feed → B's hub), and B then
// reads the new state through the owner.
func TestRemoteChangeWakesOtherInstance(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	hubA, hubB := &watch.Hub{}, &watch.Hub{}
	feedA, err := watch.NewFeed(f.a.nc, hubA, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer feedA.Close()
	feedB, err := watch.NewFeed(f.b.nc, hubB, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer feedB.Close()
	f.stA.Changes().OnNotify(feedA.Changed)

	var changes web.Changes = hubB
	changed, stop := changes.Watch("L1")
	defer stop()
	sg, _, err := f.stA.Saga(ctx, "L1")
	if err != nil {
		t.Fatal(err)
	}
	sg.Participants[1].State, sg.Participants[1].FinishedAt = events.OutcomeSucceeded, remoteT0
	if err := f.stA.Update(ctx, func(tx *store.Tx) error { return tx.SaveSaga(sg) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("the page on B was not woken by A's commit")
	}
	v, _, err := statusReader{routed{f.b}, f.dir}.Logout(ctx, "L1")
	if err != nil || v.Participants[1].Outcome != events.OutcomeSucceeded {
		t.Fatalf("after the wake B reads %+v %v", v, err)
	}
}

// TestRemoteLocalFastPath: one partition owned here is read from its
// store with no index lookup and no NATS connection at all.
func TestRemoteLocalFastPath(t *testing.T) {
	f := newRemoteFixture(t)
	ctx := ctxT(t, 10*time.Second)
	solo := &fakeParts{count: 1, own: map[int]*store.Store{0: f.stA}} // nc nil: any NATS use panics
	r := routed{solo}
	if v, ok, err := (statusReader{r, f.dir}).Logout(ctx, "L1"); err != nil || !ok || v.ID != "L1" {
		t.Fatalf("status %v %v", ok, err)
	}
	if id, ok, err := r.SessionBySID(ctx, "chat", "sid-9"); err != nil || !ok || id != "s9" {
		t.Fatalf("SessionBySID %q %v %v", id, ok, err)
	}
	if ok, err := r.ClaimStep(ctx, "L1", saga.LocalRPID, remoteT0, 0); err != nil || !ok {
		t.Fatalf("claim %v %v", ok, err)
	}
	if n := solo.locates.Load(); n != 0 {
		t.Errorf("%d route index lookups on the fast path", n)
	}
}

// BenchmarkRemoteStatus: the page's read of a saga from the store of a
// partition owned here and from its owner over NATS (loopback).
func BenchmarkRemoteStatus(b *testing.B) {
	f := newRemoteFixture(b)
	ctx := ctxT(b, time.Hour)
	for _, bc := range []struct {
		name string
		r    statusReader
	}{
		{"local", statusReader{routed{f.a}, f.dir}},
		{"remote", statusReader{routed{f.b}, f.dir}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, ok, err := bc.r.Logout(ctx, "L1"); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
