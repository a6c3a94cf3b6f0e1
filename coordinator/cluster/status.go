package cluster

import (
	"context"
	"slices"
	"time"
)

// Status is the cluster as the KV keys show it.
type Status struct {
	Partitions int
	Members    []MemberStatus // sorted by id
	Owners     []string       // index p → owning member id, "" when free
}

// MemberStatus is one live member.
type MemberStatus struct {
	ID    string
	Owned []int             // partitions whose lease it holds, sorted
	Info  map[string]string // published with its heartbeat
	Seen  time.Time         // its last heartbeat (server time)
}

// Status reads the member and lease keys now.
func (m *Member) Status(ctx context.Context) (Status, error) {
	v, err := m.read(ctx)
	if err != nil {
		return Status{}, err
	}
	st := Status{Partitions: m.cfg.Partitions, Owners: make([]string, m.cfg.Partitions)}
	owned := map[string][]int{}
	for p, id := range v.leases {
		st.Owners[p] = id
		owned[id] = append(owned[id], p)
	}
	for id, e := range v.members {
		parts := owned[id]
		slices.Sort(parts)
		st.Members = append(st.Members, MemberStatus{ID: id, Owned: parts, Info: e.info, Seen: e.seen})
	}
	slices.SortFunc(st.Members, func(a, b MemberStatus) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return st, nil
}
