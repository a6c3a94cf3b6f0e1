package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

var statements = map[string]string{
	"joinSession": `INSERT INTO sessions(session_id, rp_id, subject, sid, saml, joined_at, expires_at, last_active, upstream_id, upstream_sid)
		VALUES(?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(session_id, rp_id) DO UPDATE SET subject=excluded.subject, sid=excluded.sid, saml=excluded.saml,
			expires_at=excluded.expires_at, last_active=MAX(last_active, excluded.last_active),
			upstream_id=CASE WHEN excluded.upstream_id != '' THEN excluded.upstream_id ELSE upstream_id END,
			upstream_sid=CASE WHEN excluded.upstream_id != '' THEN excluded.upstream_sid ELSE upstream_sid END`,
	"touchSession":         `UPDATE sessions SET last_active = MAX(last_active, ?) WHERE session_id = ?`,
	"sessionsByID":         `SELECT session_id, rp_id, subject, sid, saml FROM sessions WHERE session_id = ? ORDER BY joined_at, rp_id`,
	"sessionsBySub":        `SELECT session_id, rp_id, subject, sid, saml FROM sessions WHERE subject = ? ORDER BY joined_at, rp_id`,
	"deleteSession":        `DELETE FROM sessions WHERE session_id = ? AND rp_id = ?`,
	"sagaExists":           `SELECT 1 FROM sagas WHERE logout_id = ?`,
	"sagaRow":              `SELECT logout_id, status, initiator, scope, session_id, subject, initiating_rp_id, reason, return_to, requested_at, deadline, finished_at FROM sagas WHERE logout_id = ?`,
	"participantRows":      `SELECT rp_id, name, adapter, state, detail, attempts, sessions, finished_at FROM participants WHERE logout_id = ? ORDER BY pos`,
	"participantRowsLight": `SELECT rp_id, name, adapter, state, detail, attempts, '', finished_at FROM participants WHERE logout_id = ? ORDER BY pos`,
	"updateSagaStatus":     `UPDATE sagas SET status = ?, finished_at = ? WHERE logout_id = ?`,
	"updateParticipant":    `UPDATE participants SET state = ?, detail = ?, attempts = ?, finished_at = ? WHERE logout_id = ? AND rp_id = ?`,
	"upsertSaga": `INSERT INTO sagas(logout_id, status, initiator, scope, session_id, subject, initiating_rp_id, reason, return_to, requested_at, deadline, finished_at)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(logout_id) DO UPDATE SET status=excluded.status, finished_at=excluded.finished_at`,
	"upsertParticipant": `INSERT INTO participants(logout_id, pos, rp_id, name, adapter, state, detail, attempts, sessions, finished_at)
		VALUES(?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(logout_id, rp_id) DO UPDATE SET state=excluded.state, detail=excluded.detail, attempts=excluded.attempts, finished_at=excluded.finished_at`,
	"deleteOutbox": `DELETE FROM outbox WHERE seq = ?`,
	"addOutbox":    `INSERT INTO outbox(id, subject, payload, created_at, headers) VALUES(?,?,?,?,?) ON CONFLICT(id) DO NOTHING`,
	"savepointEv":  `SAVEPOINT ev`,
	"releaseEv":    `RELEASE ev`,
	"rollbackEv":   `ROLLBACK TO ev`,
	"setApplied":   `INSERT INTO progress(partition, applied_seq) VALUES(?,?) ON CONFLICT(partition) DO UPDATE SET applied_seq = excluded.applied_seq `,
}

// Tx is the write API available inside Update.
type Tx struct {
	tx     *sql.Tx
	s      *Store
	ctx    context.Context
	outbox bool
	// after are run once the transaction has committed (AfterCommit).
	after []func()
}

// AfterCommit runs f once the changes made so far by the caller are
// committed, and never if they are rolled back (a failed fn, a poisoned
// event, a failed commit). Log lines and counters about what a transaction
// did belong here: written inside it, they would repeat when the same
// event is applied again after a rollback.
func (t *Tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// sagaChanged notifies the watchers of logoutID once the change commits.
func (t *Tx) sagaChanged(logoutID string) {
	t.AfterCommit(func() {
		t.s.changes.Notify(logoutID)
		if t.s.notify != nil {
			t.s.notify(logoutID)
		}
	})
}

func (t *Tx) stmt(name string) *sql.Stmt { return t.tx.StmtContext(t.ctx, t.s.stmts[name]) }

// JoinSession records that a session is signed in to an RP (session.joined).
// Joining again updates the RP's sid/NameID and expires_at, and the
// upstream session when the join names one (a join without upstream keeps
// the one recorded). The join counts
// as activity of the session, and expiry_at of all its rows is recomputed
// with the policy of SetExpiryPolicy.
func (t *Tx) JoinSession(ev events.SessionJoined) error {
	sid := ""
	if ev.OIDC != nil {
		sid = ev.OIDC.SID
	}
	samlJSON := ""
	if ev.SAML != nil {
		b, err := json.Marshal(ev.SAML)
		if err != nil {
			return fmt.Errorf("store: encode saml session: %w", err)
		}
		samlJSON = string(b)
	}
	var exp sql.NullInt64
	if ev.ExpiresAt != nil {
		exp = expiresNanos(*ev.ExpiresAt)
	}
	at := ev.OccurredAt
	var upID, upSID string
	if ev.Upstream != nil {
		upID, upSID = ev.Upstream.ID, ev.Upstream.SID
	}
	if _, err := t.stmt("joinSession").Exec(ev.SessionID, ev.RPID, ev.Subject, sid, samlJSON, nanos(at), exp, nanos(at), upID, upSID); err != nil {
		return fmt.Errorf("store: join session %s at %s: %w", ev.SessionID, ev.RPID, err)
	}
	return t.refreshExpiry(ev.SessionID)
}

// TouchSession records activity on every RP session of sessionID, which
// pushes back its inactivity deadline (never its absolute ones).
func (t *Tx) TouchSession(sessionID string, at time.Time) error {
	if _, err := t.stmt("touchSession").Exec(nanos(at), sessionID); err != nil {
		return fmt.Errorf("store: touch session %s: %w", sessionID, err)
	}
	return t.refreshExpiry(sessionID)
}

// Sessions returns the registered RP sessions of sessionID, or, when
// sessionID is empty, of every session of subject.
func (t *Tx) Sessions(sessionID, subject string) ([]saga.Session, error) {
	var rows *sql.Rows
	var err error
	if sessionID != "" {
		rows, err = t.stmt("sessionsByID").Query(sessionID)
	} else {
		rows, err = t.stmt("sessionsBySub").Query(subject)
	}
	if err != nil {
		return nil, fmt.Errorf("store: query sessions: %w", err)
	}
	return scanSessions(rows)
}

// EndSessions removes sessions from the registry: they belong to a logout now.
func (t *Tx) EndSessions(sessions []saga.Session) error {
	st := t.stmt("deleteSession")
	for _, s := range sessions {
		if _, err := st.Exec(s.SessionID, s.RPID); err != nil {
			return fmt.Errorf("store: end session %s at %s: %w", s.SessionID, s.RPID, err)
		}
	}
	return nil
}

// SagaExists reports whether a logout with this id was ever started.
func (t *Tx) SagaExists(logoutID string) (bool, error) {
	var one int
	err := t.stmt("sagaExists").QueryRow(logoutID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: saga %s: %w", logoutID, err)
	}
	return true, nil
}

// Saga loads one saga with its participants.
func (t *Tx) Saga(logoutID string) (saga.Saga, bool, error) {
	return loadSaga(t.stmt("sagaRow"), t.stmt("participantRows"), logoutID)
}

// SagaWithoutSessions loads one saga with its participants but not their
// sessions: enough to record a result, cheaper than Saga.
func (t *Tx) SagaWithoutSessions(logoutID string) (saga.Saga, bool, error) {
	return loadSaga(t.stmt("sagaRow"), t.stmt("participantRowsLight"), logoutID)
}

// SaveProgress stores what changed between prev and next, two states of the
// same saga: its status and the participants whose outcome changed.
func (t *Tx) SaveProgress(prev, next saga.Saga) error {
	changed := prev.Status != next.Status
	if prev.Status != next.Status {
		if _, err := t.stmt("updateSagaStatus").Exec(next.Status, nullNanos(next.FinishedAt), next.LogoutID); err != nil {
			return fmt.Errorf("store: update saga %s: %w", next.LogoutID, err)
		}
	}
	for i, p := range next.Participants {
		if i < len(prev.Participants) && prev.Participants[i].State == p.State {
			continue
		}
		changed = true
		if _, err := t.stmt("updateParticipant").Exec(p.State, p.Detail, p.Attempts, nullNanos(p.FinishedAt), next.LogoutID, p.RPID); err != nil {
			return fmt.Errorf("store: update participant %s of %s: %w", p.RPID, next.LogoutID, err)
		}
	}
	if changed {
		t.sagaChanged(next.LogoutID)
	}
	return nil
}

// SaveSaga inserts a new saga or stores the new status and participant
// states of an existing one.
func (t *Tx) SaveSaga(s saga.Saga) error {
	if _, err := t.stmt("upsertSaga").Exec(s.LogoutID, s.Status, s.Initiator, s.Scope, s.SessionID, s.Subject,
		s.InitiatingRPID, s.Reason, s.ReturnTo, nanos(s.RequestedAt), nanos(s.Deadline), nullNanos(s.FinishedAt)); err != nil {
		return fmt.Errorf("store: save saga %s: %w", s.LogoutID, err)
	}
	st := t.stmt("upsertParticipant")
	for i, p := range s.Participants {
		sess, err := json.Marshal(p.Sessions)
		if err != nil {
			return fmt.Errorf("store: encode sessions of %s: %w", p.RPID, err)
		}
		if _, err := st.Exec(s.LogoutID, i, p.RPID, p.Name, p.Adapter, p.State, p.Detail, p.Attempts, sess, nullNanos(p.FinishedAt)); err != nil {
			return fmt.Errorf("store: save participant %s of %s: %w", p.RPID, s.LogoutID, err)
		}
	}
	t.sagaChanged(s.LogoutID)
	return nil
}

// AddOutbox queues an event for the relay; id becomes its Nats-Msg-Id. A
// second row with the same id is ignored.
func (t *Tx) AddOutbox(id, subject string, payload []byte, now time.Time) error {
	return t.AddOutboxWithHeaders(id, subject, payload, nil, now)
}

// AddOutboxWithHeaders queues an event with NATS headers (one value per
// name) for the relay.
func (t *Tx) AddOutboxWithHeaders(id, subject string, payload []byte, headers map[string]string, now time.Time) error {
	h := ""
	if len(headers) > 0 {
		b, err := json.Marshal(headers)
		if err != nil {
			return fmt.Errorf("store: outbox headers: %w", err)
		}
		h = string(b)
	}
	if _, err := t.stmt("addOutbox").Exec(id, subject, payload, nanos(now), h); err != nil {
		return fmt.Errorf("store: add outbox %s: %w", subject, err)
	}
	t.outbox = true
	return nil
}

// SetApplied records that every event of partition up to stream sequence
// seq has been applied (it never moves back).
func (t *Tx) SetApplied(partition int, seq uint64) error {
	if _, err := t.stmt("setApplied").Exec(partition, int64(seq)); err != nil {
		return fmt.Errorf("store: record applied sequence %d of partition %d: %w", seq, partition, err)
	}
	return nil
}

func scanSessions(rows *sql.Rows) ([]saga.Session, error) {
	defer rows.Close()
	var out []saga.Session
	for rows.Next() {
		var s saga.Session
		var sid, samlJSON string
		if err := rows.Scan(&s.SessionID, &s.RPID, &s.Subject, &sid, &samlJSON); err != nil {
			return nil, fmt.Errorf("store: scan session: %w", err)
		}
		if sid != "" {
			s.OIDC = &events.OIDCSession{SID: sid}
		}
		if samlJSON != "" {
			s.SAML = new(events.SAMLSession)
			if err := json.Unmarshal([]byte(samlJSON), s.SAML); err != nil {
				return nil, fmt.Errorf("store: decode saml session: %w", err)
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

type queryer interface {
	QueryRow(args ...any) *sql.Row
	Query(args ...any) (*sql.Rows, error)
}

func loadSaga(sagaQ, partQ queryer, logoutID string) (saga.Saga, bool, error) {
	var s saga.Saga
	var req, dl int64
	var fin sql.NullInt64
	err := sagaQ.QueryRow(logoutID).Scan(&s.LogoutID, &s.Status, &s.Initiator, &s.Scope, &s.SessionID, &s.Subject,
		&s.InitiatingRPID, &s.Reason, &s.ReturnTo, &req, &dl, &fin)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("store: load saga %s: %w", logoutID, err)
	}
	s.RequestedAt, s.Deadline, s.FinishedAt = fromNanos(req), fromNanos(dl), fromNull(fin)
	rows, err := partQ.Query(logoutID)
	if err != nil {
		return s, false, fmt.Errorf("store: load participants of %s: %w", logoutID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p saga.Participant
		var sess []byte
		var pf sql.NullInt64
		if err := rows.Scan(&p.RPID, &p.Name, &p.Adapter, &p.State, &p.Detail, &p.Attempts, &sess, &pf); err != nil {
			return s, false, fmt.Errorf("store: scan participant of %s: %w", logoutID, err)
		}
		if len(sess) == 0 {
			// loaded without sessions
		} else if err := json.Unmarshal(sess, &p.Sessions); err != nil {
			return s, false, fmt.Errorf("store: decode sessions of %s/%s: %w", logoutID, p.RPID, err)
		}
		p.FinishedAt = fromNull(pf)
		s.Participants = append(s.Participants, p)
	}
	return s, true, rows.Err()
}
