package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Bucket is the KV bucket of the cluster's config, members and leases.
const Bucket = "SIGNOFF_CLUSTER"

const (
	keyConfig     = "config"
	prefixMembers = "members."
	prefixLeases  = "leases."
	// subjectPrefix is the subject of a key in Bucket (no JetStream domain).
	subjectPrefix = "$KV." + Bucket + "."
	streamName    = "KV_" + Bucket
	// markerTTL is how long the markers of expired and deleted keys stay.
	markerTTL = time.Minute
	// KV headers (ADR-8) and the marker header of an expired key (ADR-43).
	hdrKVOperation  = "KV-Operation"
	hdrMarkerReason = "Nats-Marker-Reason"
)

func keyMember(id string) string { return prefixMembers + id }
func keyLease(p int) string      { return prefixLeases + strconv.Itoa(p) }

// validID reports whether id can be a KV key token sequence: letters,
// digits, '-', '_', '=' and '.', not starting or ending with '.'.
func validID(id string) bool {
	if id == "" || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// openBucket opens Bucket, creating it when missing; an existing bucket
// must allow per-key TTLs.
func openBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         Bucket,
			Description:    "signoff cluster: config, members and partition leases",
			History:        1,
			Storage:        jetstream.FileStorage,
			Replicas:       replicas,
			LimitMarkerTTL: markerTTL,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, Bucket) // another member created it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: open KV bucket %s: %w", Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: KV bucket %s status: %w", Bucket, err)
	}
	if st.LimitMarkerTTL() <= 0 {
		return nil, fmt.Errorf("cluster: KV bucket %s exists without per-key TTLs (limit_marker_ttl); delete it so that signoff creates it", Bucket)
	}
	return kv, nil
}

// clusterConfig is the value of the config key.
type clusterConfig struct {
	Partitions int `json:"partitions"`
}

// checkPartitions creates the config key with p, or checks that the
// cluster was created with p.
func checkPartitions(ctx context.Context, kv jetstream.KeyValue, p int) error {
	b, _ := json.Marshal(clusterConfig{Partitions: p})
	_, err := kv.Create(ctx, keyConfig, b)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("cluster: create key %s in %s: %w", keyConfig, Bucket, err)
	}
	e, err := kv.Get(ctx, keyConfig)
	if err != nil {
		return fmt.Errorf("cluster: read key %s in %s: %w", keyConfig, Bucket, err)
	}
	var cc clusterConfig
	if err := json.Unmarshal(e.Value(), &cc); err != nil {
		return fmt.Errorf("cluster: key %s in %s: %w", keyConfig, Bucket, err)
	}
	if cc.Partitions != p {
		return fmt.Errorf("cluster: cluster.partitions is %d but the cluster was created with %d partitions (KV %s key %s); every instance must use %d",
			p, cc.Partitions, Bucket, keyConfig, cc.Partitions)
	}
	return nil
}

// heartbeat writes the member key with the TTL (no revision check).
func (m *Member) heartbeat(ctx context.Context) error {
	info := map[string]string{}
	if m.cfg.Info != nil {
		if i := m.cfg.Info(); i != nil {
			info = i
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	_, err = m.cfg.JS.PublishMsg(ctx, &nats.Msg{Subject: subjectPrefix + keyMember(m.cfg.Instance), Data: b},
		jetstream.WithMsgTTL(m.cfg.TTL))
	return err
}

// update is the KV Update (compare-and-set on the key's last revision)
// that carries the TTL again, which jetstream.KeyValue.Update cannot.
func (m *Member) update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	ack, err := m.cfg.JS.PublishMsg(ctx, &nats.Msg{Subject: subjectPrefix + key, Data: value},
		jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(m.cfg.TTL))
	if err != nil {
		if wrongLastSeq(err) {
			return 0, fmt.Errorf("%w: %w", err, jetstream.ErrKeyRevisionMismatch)
		}
		return 0, err
	}
	return ack.Sequence, nil
}

// wrongLastSeq reports whether err is the refusal of a compare-and-set
// (10071; 10164 on replicated streams).
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// view is what a member reads of the cluster: the live members and the
// holders of the leases.
type view struct {
	members map[string]memberEntry
	leases  map[int]string // partition → holder
}

type memberEntry struct {
	info map[string]string
	seen time.Time
}

// read reads the present member and lease keys, with one batched direct
// get per kind (at most 1024 keys each: MaxPartitions).
func (m *Member) read(ctx context.Context) (view, error) {
	v := view{members: map[string]memberEntry{}, leases: map[int]string{}}
	err := m.lastFor(ctx, prefixMembers, func(key string, msg *jetstream.RawStreamMsg) {
		var info map[string]string
		if json.Unmarshal(msg.Data, &info) != nil {
			info = nil
		}
		v.members[strings.TrimPrefix(key, prefixMembers)] = memberEntry{info: info, seen: msg.Time}
	})
	if err != nil {
		return view{}, err
	}
	err = m.lastFor(ctx, prefixLeases, func(key string, msg *jetstream.RawStreamMsg) {
		p, err := strconv.Atoi(strings.TrimPrefix(key, prefixLeases))
		if err != nil || p < 0 || p >= m.cfg.Partitions {
			return
		}
		v.leases[p] = string(msg.Data)
	})
	if err != nil {
		return view{}, err
	}
	return v, nil
}

// lastFor calls f with the last message of every present key under
// prefix (deleted and expired keys skipped).
func (m *Member) lastFor(ctx context.Context, prefix string, f func(key string, msg *jetstream.RawStreamMsg)) error {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, m.cfg.JS, streamName, []string{subjectPrefix + prefix + ">"})
	if err != nil {
		return fmt.Errorf("cluster: read %s keys: %w", prefix, err)
	}
	for msg, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cluster: read %s keys: %w", prefix, err)
		}
		if msg.Header.Get(hdrKVOperation) != "" || msg.Header.Get(hdrMarkerReason) != "" {
			continue
		}
		f(strings.TrimPrefix(msg.Subject, subjectPrefix), msg)
	}
	return nil
}
