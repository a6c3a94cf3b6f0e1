package web

import "net/http"

// confirm is POST /logout/{id}/confirm, the explicit step that confirms the
// local-session participant: the cookie adapter checks that this request,
// from the browser bound to the logout, no longer carries the IdP session
// cookie (signed out only on proof). The page's script posts it as soon as
// the participant is listed (answered 204); without JavaScript the page's
// button does (form field page=1, answered 303 back to the page). GET of
// the page, its events and its status changes nothing. A step already
// taken, or a participant no longer pending, is not taken again.
func (b *browser) confirm(w http.ResponseWriter, r *http.Request) {
	v, ok := b.view(w, r)
	if !ok {
		return
	}
	b.confirmLocal(r, v)
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	if r.FormValue("page") != "" {
		http.Redirect(w, r, b.base+"/logout/"+v.ID, http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
