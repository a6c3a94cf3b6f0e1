// Package cluster TEMPORARY stub (branch lease has the real one).
package cluster

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

type Handoff interface {
	Acquire(ctx context.Context, parts []int) error
	Release(ctx context.Context, parts []int) error
	Lost(parts []int)
}
type Config struct {
	JS         jetstream.JetStream
	Instance   string
	Partitions int
	Replicas   int
	TTL        time.Duration
	Handoff    Handoff
	Info       func() map[string]string
	Now        func() time.Time
	Logger     *slog.Logger
}
type Member struct {
	cfg   Config
	owned []int
}

func Start(ctx context.Context, cfg Config) (*Member, error) {
	m := &Member{cfg: cfg}
	for p := 0; p < cfg.Partitions; p++ {
		m.owned = append(m.owned, p)
	}
	return m, cfg.Handoff.Acquire(ctx, m.owned)
}
func (m *Member) Owned() []int { return m.owned }
func (m *Member) Stop(ctx context.Context) error {
	return m.cfg.Handoff.Release(ctx, m.owned)
}

type Status struct {
	Partitions int
	Members    []MemberStatus
	Owners     []string
}
type MemberStatus struct {
	ID    string
	Owned []int
	Info  map[string]string
	Seen  time.Time
}

func (m *Member) Status(ctx context.Context) (Status, error) {
	st := Status{Partitions: m.cfg.Partitions, Members: []MemberStatus{{ID: m.cfg.Instance, Owned: m.owned}}}
	for range m.owned {
		st.Owners = append(st.Owners, m.cfg.Instance)
	}
	return st, nil
}
func (m *Member) Ready() error { return nil }
