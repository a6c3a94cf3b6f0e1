package cookie

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/signoff/signoff/events"
)

type pub struct{ got []events.Result }

func (p *pub) PublishResult(_ context.Context, r events.Result) error {
	p.got = append(p.got, r)
	return nil
}

func TestClearAndConfirm(t *testing.T) {
	p := &pub{}
	a := New(Config{Name: "idp", Domain: "example.com", Secure: true, RPID: "signoff", Publisher: p})
	rec := httptest.NewRecorder()
	a.Clear(rec)
	cookies := rec.Result().Cookies()
	if len(cookies) != 2 {
		t.Fatalf("%d Set-Cookie, want host-only and domain copies", len(cookies))
	}
	for _, c := range cookies {
		if c.Name != "idp" || c.MaxAge >= 0 || !c.Secure || !c.HttpOnly || c.Path != "/" {
			t.Errorf("cookie %+v does not expire the session", c)
		}
	}
	if rec.Header().Get("Clear-Site-Data") != "" {
		t.Error("Clear sends Clear-Site-Data, which would also drop the cookies set beside it (the web decides where it goes)")
	}
	with := httptest.NewRequest("GET", "/logout/L1", nil)
	with.AddCookie(&http.Cookie{Name: "idp", Value: "s1"})
	if a.SessionID(with) != "s1" {
		t.Error("SessionID")
	}
	without := httptest.NewRequest("GET", "/logout/L1", nil)
	a.Confirm(context.Background(), "L1", without)
	a.Confirm(context.Background(), "L1", with)
	if len(p.got) != 2 || p.got[0].Outcome != events.OutcomeSucceeded || p.got[1].Outcome != events.OutcomeFailed || p.got[0].Adapter != events.AdapterCookie || p.got[0].RPID != "signoff" {
		t.Errorf("results %+v", p.got)
	}
}
