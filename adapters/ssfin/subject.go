package ssfin

// Subject claims: how a user's subject identifier becomes signoff's
// subject (the subject of session.joined).
const (
	// SubjectClaimSub maps iss_sub (its sub) and opaque (its id)
	// identifiers; the default.
	SubjectClaimSub = "sub"
	// SubjectClaimEmail maps email identifiers (their email).
	SubjectClaimEmail = "email"
)

// maxSubject bounds subjects and session ids (schemas/logout.requested).
const maxSubject = 1024

// subjectID is a Subject Identifier (RFC 9493 section 3) or an SSF complex
// subject (SSF 1.0 section 3.3).
type subjectID struct {
	Format string `json:"format"`
	// iss_sub
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	// email
	Email string `json:"email"`
	// opaque
	ID string `json:"id"`
	// aliases
	Identifiers []subjectID `json:"identifiers"`
	// complex members signoff reads
	User    *subjectID `json:"user"`
	Session *subjectID `json:"session"`
}

// target is what a SET asks to sign out: the sessions resting on an
// upstream session (SID), or every session of Subject.
type target struct {
	SID     string
	Subject string
}

// userSubject maps a subject identifier of a user to signoff's subject
// according to claim (SubjectClaimSub or SubjectClaimEmail).
func userSubject(id *subjectID, claim string) (string, *Error) {
	var v string
	switch id.Format {
	case "iss_sub":
		if claim != SubjectClaimSub {
			return "", invalid("the user's sub_id has format iss_sub, but this transmitter's subjects are mapped by email (subject_claim: email)")
		}
		v = id.Sub
	case "opaque":
		if claim != SubjectClaimSub {
			return "", invalid("the user's sub_id has format opaque, but this transmitter's subjects are mapped by email (subject_claim: email)")
		}
		v = id.ID
	case "email":
		if claim != SubjectClaimEmail {
			return "", invalid("the user's sub_id has format email, but this transmitter's subjects are mapped by sub (subject_claim: sub)")
		}
		v = id.Email
	case "aliases":
		for i := range id.Identifiers {
			if a := &id.Identifiers[i]; a.Format != "aliases" && a.Format != "complex" {
				if s, err := userSubject(a, claim); err == nil {
					return s, nil
				}
			}
		}
		return "", invalid("no identifier of the aliases sub_id can be mapped with subject_claim %s", claim)
	default:
		return "", invalid("sub_id format %q cannot name a user here; use iss_sub, email, opaque or complex", id.Format)
	}
	if v == "" || len(v) > maxSubject {
		return "", invalid("the user's %s sub_id has no value of 1 to %d characters", id.Format, maxSubject)
	}
	return v, nil
}

// sessionTarget is what a CAEP session-revoked event asks to end (CAEP 1.0
// section 3.1): a session named by a complex subject's session member or
// by a simple opaque identifier (the CAEP "Simple Subject" example), or
// else every session of the user named by the subject.
func sessionTarget(id *subjectID, claim string) (target, *Error) {
	switch id.Format {
	case "complex":
		if id.Session != nil {
			sid, err := sessionID(id.Session)
			if err != nil {
				return target{}, err
			}
			tg := target{SID: sid}
			if id.User != nil {
				// The user is informative here: the session alone says
				// which sessions end.
				tg.Subject, _ = userSubject(id.User, claim)
			}
			return tg, nil
		}
		if id.User == nil {
			return target{}, invalid("the complex sub_id names neither a session nor a user")
		}
		sub, err := userSubject(id.User, claim)
		return target{Subject: sub}, err
	case "opaque":
		sid, err := sessionID(id)
		return target{SID: sid}, err
	}
	sub, err := userSubject(id, claim)
	return target{Subject: sub}, err
}

// accountTarget is the user named by the subject of a RISC account event.
func accountTarget(id *subjectID, claim string) (target, *Error) {
	if id.Format == "complex" {
		if id.User == nil {
			return target{}, invalid("the complex sub_id has no user member")
		}
		id = id.User
	}
	sub, err := userSubject(id, claim)
	return target{Subject: sub}, err
}

func sessionID(id *subjectID) (string, *Error) {
	if id.Format != "opaque" {
		return "", invalid("a session must be named by an opaque subject identifier, got format %q", id.Format)
	}
	if id.ID == "" || len(id.ID) > maxSubject {
		return "", invalid("the session's opaque id must have 1 to %d characters", maxSubject)
	}
	return id.ID, nil
}
