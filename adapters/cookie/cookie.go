// Package cookie ends the IdP session in the user's browser: it expires the
// configured session cookie (the web package adds Clear-Site-Data only
// where no cookie it needs is set: browsers apply it site-wide).
// Its participant, "this sign-in service", counts as signed out only on
// proof: the browser's next request to signoff no longer carries the cookie.
package cookie

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
)

// ResultPublisher publishes the participant's outcome on signoff.logout.result.
type ResultPublisher interface {
	PublishResult(ctx context.Context, r events.Result) error
}

// Config names the IdP session cookie.
type Config struct {
	// Name of the cookie whose value is the IdP session_id.
	Name string
	// Domain attribute the IdP set it with ("" for a host-only cookie).
	Domain string
	// Path attribute (default "/").
	Path string
	// Secure is true when signoff is served over https.
	Secure bool
	// RPID is the participant's rp_id (the reserved local id).
	RPID      string
	Publisher ResultPublisher
	Now       func() time.Time
}

// Adapter clears and confirms the local session cookie.
type Adapter struct{ cfg Config }

// New returns an Adapter.
func New(cfg Config) *Adapter {
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Adapter{cfg: cfg}
}

// SessionID returns the IdP session id the request carries, if any.
func (a *Adapter) SessionID(r *http.Request) string {
	c, err := r.Cookie(a.cfg.Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// Clear expires the session cookie — with and without the configured
// Domain, so a host-only copy goes too.
func (a *Adapter) Clear(w http.ResponseWriter) {
	domains := []string{""}
	if a.cfg.Domain != "" {
		domains = append(domains, a.cfg.Domain)
	}
	for _, d := range domains {
		http.SetCookie(w, &http.Cookie{
			Name: a.cfg.Name, Value: "", Path: a.cfg.Path, Domain: d, MaxAge: -1, Expires: time.Unix(0, 0),
			HttpOnly: true, Secure: a.cfg.Secure, SameSite: http.SameSiteLaxMode,
		})
	}
}

// Confirm reports the local participant's outcome for logoutID from a
// request the browser made after Clear: succeeded when it no longer carries
// the session cookie, failed when it still does (the cookie's domain or path
// is not the configured one).
func (a *Adapter) Confirm(ctx context.Context, logoutID string, r *http.Request) error {
	res := events.Result{
		EventID: uuid.NewString(), LogoutID: logoutID, RPID: a.cfg.RPID, Adapter: events.AdapterCookie,
		Outcome: events.OutcomeSucceeded, Detail: "the browser no longer sends the session cookie",
		Attempts: 1, FinishedAt: a.cfg.Now().UTC(),
	}
	if a.SessionID(r) != "" {
		res.Outcome = events.OutcomeFailed
		res.Detail = "the browser still sends the session cookie " + a.cfg.Name + "; check session.cookie_domain"
	}
	return a.cfg.Publisher.PublishResult(ctx, res)
}
