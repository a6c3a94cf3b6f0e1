package receiver_test

import (
	"context"
	"log"
	"net/http"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
)

// sessions is the RP's own session store.
var sessions interface {
	DeleteBySID(ctx context.Context, sid string) error
	DeleteBySubject(ctx context.Context, sub string) error
}

func ExampleBackChannel() {
	bc, err := receiver.NewBackChannel(receiver.BackChannelConfig{
		Issuer:   "https://auth.example.com",
		ClientID: "wiki",
		JWKSURL:  "https://auth.example.com/jwks.json",
		Logout: func(ctx context.Context, l receiver.Logout) error {
			if l.SessionID != "" {
				return sessions.DeleteBySID(ctx, l.SessionID)
			}
			return sessions.DeleteBySubject(ctx, l.Subject) // every session of the user
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fc, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{
		Issuer: "https://auth.example.com",
		Logout: func(w http.ResponseWriter, r *http.Request, l receiver.FrontLogout) error {
			http.SetCookie(w, &http.Cookie{Name: "wiki_session", Path: "/", MaxAge: -1})
			if l.SessionID != "" {
				return sessions.DeleteBySID(r.Context(), l.SessionID)
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /oidc/backchannel", bc)
	http.Handle("GET /oidc/frontchannel", fc)
}
