package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nats-io/nats.go"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/cluster"
	"github.com/signoff/signoff/coordinator/engine"
	"github.com/signoff/signoff/coordinator/partition"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/coordinator/watch"
)

// clusterPattern is the admin endpoint that lists the instances of a
// cluster and the partitions each owns.
const clusterPattern = "GET /api/admin/cluster"

// checkSingleStore refuses a data_dir whose signoff.db holds the
// partition of a single instance when cluster.enabled is on: that state
// would be ignored, not moved.
func checkSingleStore(ctx context.Context, cfg *config.Config, st *store.Store) error {
	if !cfg.Cluster.Enabled {
		return nil
	}
	applied, err := st.Applied(ctx, 0)
	if err != nil {
		return err
	}
	if applied > 0 {
		return fmt.Errorf("cluster.enabled: %s/signoff.db holds the sessions and logouts of a single instance (applied up to stream sequence %d); a cluster keeps them in partitions and would not see them: start the cluster's instances with new data_dirs (the stream still holds the last 7 days of events), or keep cluster.enabled off", cfg.DataDir, applied)
	}
	return nil
}

// clusterEngine completes the engine's config for a cluster: the
// snapshot bucket.
func (a *App) clusterEngine(ctx context.Context, ec *engine.Config) error {
	snaps, err := partition.NewSnapshots(ctx, a.bus.JetStream(), a.cfg.NATS.Replicas, a.log.With("component", "snapshots"))
	if err != nil {
		return err
	}
	ec.Snapshots = snaps
	// Requests to partition owners and the change feed: each owner serves
	// its partitions' reads (serveRemote) and publishes the ids of changed
	// logouts, which wake the pages of every instance (a.store's hub).
	if a.rpcConn, err = a.bus.Connect("signoff-rpc"); err != nil {
		return err
	}
	feed, err := watch.NewFeed(a.rpcConn, a.store.Changes(), a.log.With("component", "feed"))
	if err != nil {
		return err
	}
	a.onStop(func(context.Context) error { return feed.Close() })
	ec.Changes, ec.Notify = nil, func(ids ...string) { feed.Changed(ids) }
	ec.Serve = func(p int, st *store.Store) func() {
		stop, err := serveRemote(a.rpcConn, p, st)
		if err != nil {
			a.log.Error("partition not served to other instances", "partition", p, "err", err)
			return func() {}
		}
		return stop
	}
	stop, err := serveBroadcasts(a)
	if err != nil {
		return err
	}
	a.onStop(func(context.Context) error { stop(); return nil })
	return nil
}

// joinCluster makes this instance a member of the cluster: it takes the
// partitions the leases give it (cluster.enabled), after the engine and
// the work consumers run. Its stop gives them back, with a last
// snapshot, before the engine stops.
func (a *App) joinCluster(ctx context.Context, o Options) error {
	if !a.cfg.Cluster.Enabled {
		return nil
	}
	m, err := cluster.Start(ctx, cluster.Config{
		JS: a.bus.JetStream(), Instance: a.cfg.Cluster.Instance, Partitions: a.cfg.Cluster.Partitions,
		Replicas: a.cfg.NATS.Replicas, TTL: a.cfg.Cluster.LeaseTTL.Std(), Handoff: a.engine,
		Info: a.memberInfo, Now: o.Now, Logger: o.Logger.With("component", "cluster"),
	})
	if err != nil {
		return err
	}
	a.member = m
	a.onStop(m.Stop)
	return nil
}

// memberInfo is published with this instance's heartbeat: its public
// address and the lag of each partition it owns.
func (a *App) memberInfo() map[string]string {
	info := map[string]string{}
	if addr, ok := a.httpAddr.Load().(string); ok {
		info["url"] = "http://" + addr
	}
	if a.engine != nil {
		var lag []string
		for p, n := range a.engine.Lag() {
			lag = append(lag, strconv.Itoa(p)+"="+strconv.FormatUint(n, 10))
		}
		info["lag"] = strings.Join(lag, ",")
	}
	return info
}

// ClusterStatus is the body of GET /api/admin/cluster.
type ClusterStatus struct {
	Partitions int              `json:"partitions"`
	Instances  []InstanceStatus `json:"instances"`
	Owners     []string         `json:"owners"`
	Self       string           `json:"self"`
	Unowned    []int            `json:"unowned,omitempty"`
}

// InstanceStatus is one instance of ClusterStatus.
type InstanceStatus struct {
	ID    string            `json:"id"`
	URL   string            `json:"url,omitempty"`
	Owned []int             `json:"owned"`
	Lag   map[string]uint64 `json:"lag"`
	Seen  time.Time         `json:"seen"`
}

// Cluster reports the members of the cluster and their partitions; ok is
// false without cluster.enabled.
func (a *App) Cluster(ctx context.Context) (ClusterStatus, bool, error) {
	if a.member == nil {
		return ClusterStatus{}, false, nil
	}
	st, err := a.member.Status(ctx)
	if err != nil {
		return ClusterStatus{}, true, err
	}
	out := ClusterStatus{Partitions: st.Partitions, Owners: st.Owners, Self: a.cfg.Cluster.Instance}
	for _, m := range st.Members {
		is := InstanceStatus{ID: m.ID, URL: m.Info["url"], Owned: m.Owned, Lag: map[string]uint64{}, Seen: m.Seen}
		if is.Owned == nil {
			is.Owned = []int{}
		}
		for _, kv := range strings.Split(m.Info["lag"], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if n, err := strconv.ParseUint(v, 10, 64); ok && err == nil {
				is.Lag[k] = n
			}
		}
		out.Instances = append(out.Instances, is)
	}
	for p, o := range st.Owners {
		if o == "" {
			out.Unowned = append(out.Unowned, p)
		}
	}
	return out, true, nil
}

// clusterHandler serves GET /api/admin/cluster with the admin token.
func (a *App) clusterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if a.cfg.Admin.Token == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Admin.Token)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "unauthorized", "message": "a valid admin bearer token is required (admin.token)"})
			return
		}
		st, ok, err := a.Cluster(r.Context())
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "not_clustered", "message": "this instance runs alone (cluster.enabled is off)"})
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"error": "unavailable", "message": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(st)
	})
}

// App is the partition set of remote.go: it finds a saga's or a
// session's partition and reads it locally or through its owner.
var _ partitions = (*App)(nil)

// Count is the number of partitions.
func (a *App) Count() int { return a.cfg.PartitionCount() }

// Local is the store of partition p when this instance owns it.
func (a *App) Local(p int) (*store.Store, bool) {
	if a.engine == nil {
		return nil, false
	}
	return a.engine.Local(p)
}

// Locate looks key up in the route index.
func (a *App) Locate(ctx context.Context, kind partition.Kind, key string) (int, bool, error) {
	if a.engine == nil {
		return 0, false, errors.New("starting")
	}
	return a.engine.Locate(ctx, kind, key)
}

// Conn is the NATS connection of requests to partition owners and of the
// change feed (nil without cluster.enabled).
func (a *App) Conn() *nats.Conn { return a.rpcConn }

// Members is the number of live instances.
func (a *App) Members() int {
	if a.member == nil {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := a.member.Status(ctx)
	if err != nil || len(st.Members) == 0 {
		return 1
	}
	return len(st.Members)
}

var (
	partitionLagDesc = prometheus.NewDesc("signoff_partition_lag",
		"Events of the intake a partition this instance owns has yet to apply (higher while it replays the stream after a move).",
		[]string{"partition"}, nil)
	partitionsOwnedDesc = prometheus.NewDesc("signoff_partitions_owned",
		"Partitions this instance owns (1 without cluster.enabled).", nil, nil)
)

// partitionCollector reports the partitions this instance owns and the
// lag of each (README "Scaling out").
type partitionCollector struct{ a *App }

func (c partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partitionLagDesc
	ch <- partitionsOwnedDesc
}

func (c partitionCollector) Collect(ch chan<- prometheus.Metric) {
	lag := c.a.engine.Lag()
	ch <- prometheus.MustNewConstMetric(partitionsOwnedDesc, prometheus.GaugeValue, float64(len(lag)))
	for p, n := range lag {
		ch <- prometheus.MustNewConstMetric(partitionLagDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(p))
	}
}
