package frontchannel

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

type pub struct{ got []events.Result }

func (p *pub) PublishResult(_ context.Context, r events.Result) error {
	p.got = append(p.got, r)
	return nil
}

func newAdapter(t *testing.T) (*Adapter, *pub) {
	p := &pub{}
	a, err := New(Config{Issuer: "https://auth.example.com", Secret: []byte("0123456789abcdef0123"), Publisher: p,
		Now: func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) },
		RPs: []RP{{ID: "wiki", Name: "Wiki", URI: "https://wiki.example.com/fc?x=1", SessionRequired: true}, {ID: "chat", Name: "Chat", URI: "https://chat.example.com:8443/fc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return a, p
}

func TestFrame(t *testing.T) {
	a, _ := newAdapter(t)
	f, ok := a.Frame("L1", "wiki", "s-1")
	if !ok {
		t.Fatal("no frame for wiki")
	}
	u, _ := url.Parse(f.URL)
	if q := u.Query(); q.Get("iss") != "https://auth.example.com" || q.Get("sid") != "s-1" || q.Get("x") != "1" {
		t.Errorf("session required: URL %s", f.URL)
	}
	if f.Origin != "https://wiki.example.com" || f.Token == "" {
		t.Errorf("frame %+v", f)
	}
	c, _ := a.Frame("L1", "chat", "s-1")
	if strings.Contains(c.URL, "sid=") || strings.Contains(c.URL, "iss=") || c.Origin != "https://chat.example.com:8443" {
		t.Errorf("session not required: %+v (iss and sid both or neither)", c)
	}
	w2, _ := a.Frame("L1", "wiki", "")
	if strings.Contains(w2.URL, "iss=") {
		t.Errorf("iss without sid: %s", w2.URL)
	}
	if _, ok := a.Frame("L1", "nope", ""); ok {
		t.Error("frame for an unknown RP")
	}
	if f2, _ := a.Frame("L2", "wiki", "s-1"); f2.Token == f.Token {
		t.Error("tokens are not bound to the logout")
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		status      string
		wantOutcome events.Outcome
	}{
		{AckOK, events.OutcomeSucceeded}, {AckError, events.OutcomeFailed}, {AckTimeout, events.OutcomeTimedOut}, {AckNoLoad, events.OutcomeTimedOut},
	}
	for _, tt := range tests {
		a, p := newAdapter(t)
		f, _ := a.Frame("L1", "wiki", "s")
		if err := a.Ack(context.Background(), "L1", "wiki", f.Token, tt.status, "boom"); err != nil {
			t.Fatal(err)
		}
		if len(p.got) != 1 || p.got[0].Outcome != tt.wantOutcome || p.got[0].Adapter != events.AdapterFrontchannel || p.got[0].RPID != "wiki" {
			t.Errorf("%s: %+v", tt.status, p.got)
		}
	}
	a, p := newAdapter(t)
	wiki, _ := a.Frame("L1", "wiki", "s")
	for _, bad := range []struct{ logout, rp, token string }{{"L1", "chat", wiki.Token}, {"L2", "wiki", wiki.Token}, {"L1", "wiki", "x"}, {"L1", "ghost", wiki.Token}} {
		if err := a.Ack(context.Background(), bad.logout, bad.rp, bad.token, AckOK, ""); !errors.Is(err, ErrBadToken) {
			t.Errorf("forged ack %+v: %v", bad, err)
		}
	}
	if len(p.got) != 0 {
		t.Errorf("forged acks published %v", p.got)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Config{Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := New(Config{Secret: make([]byte, 32), RPs: []RP{{ID: "x", URI: "/relative"}}}); err == nil {
		t.Error("relative URI accepted")
	}
}
