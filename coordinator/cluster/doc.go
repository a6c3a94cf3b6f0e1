// Package cluster decides which live signoff instance owns which partition
// (scale-out design, piece 4: ownership), with NATS KV leases that carry a
// TTL and nothing else: no home-made consensus, the exclusivity comes from
// JetStream's compare-and-set on a subject's last sequence.
//
// # Mechanism
//
// One KV bucket, SIGNOFF_CLUSTER (file storage, Config.Replicas replicas),
// created with per-key TTLs (nats-server 2.11+, ADR-43: AllowMsgTTL through
// jetstream.KeyValueConfig.LimitMarkerTTL). It holds three kinds of keys:
//
//   - config: {"partitions":P}, created once without a TTL, so it never
//     expires. A member started with another P fails Start with an error
//     naming cluster.partitions and both values.
//   - members.<id>: the member's Info as JSON, written every TTL/5 with a TTL
//     of Config.TTL. The live members are the member keys present.
//   - leases.<p>: the id of the member that owns partition p, with a TTL of
//     Config.TTL. Whoever holds the lease owns the partition.
//
// Every member computes the same desired assignment from the sorted ids of
// the live members by balanced rendezvous hashing (assign). Two loops run
// per member:
//
//   - the renewal loop (every TTL/5) writes the member key and renews every
//     lease it holds: a publish on the key's subject that expects the last
//     revision it wrote (the KV Update compare-and-set) and carries the TTL
//     again. A renewal refused because the revision moved (the lease expired,
//     was deleted or taken) loses the partition at once: the member forgets
//     it and calls Handoff.Lost. A renewal that fails otherwise (no
//     JetStream leader, a timeout) is retried every TTL/5 (each attempt
//     bounded by TTL/5) until TTL − 2·TTL/5 after the sending of the last
//     renewal that succeeded, and then the partition is lost too: before
//     the lease can have expired on the server.
//   - the handoff loop (every TTL/5) reads the member and lease keys,
//     gives up the partitions it owns that are desired elsewhere
//     (Handoff.Release, then a KV Delete that expects the lease's last
//     revision), takes the free partitions desired for it (KV Create with
//     the TTL: it fails when the lease is held, which is fine) and calls
//     Handoff.Acquire for those it took. A partition whose holder died is
//     free when the holder's lease expires, and taken by its desired owner
//     at the next reconcile.
//
// Handoff calls are serialised: only the handoff loop (and Stop, after the
// loop ended) calls Handoff, so a slow Acquire (a restore of a big
// partition) holds up other Acquire and Release calls and the Lost calls,
// but never the renewals, which go on in their own goroutine.
//
// The plain KV Update and Put cannot carry a TTL (a renewal through them
// would make the lease permanent), so renewals and heartbeats publish on
// the bucket's subjects ($KV.SIGNOFF_CLUSTER.<key>) with the Nats-TTL and
// Nats-Expected-Last-Subject-Sequence headers; a JetStream domain or API
// prefix is therefore not supported. The keys are read with one batched
// direct get per kind (members.>, leases.>), so a member sees the others
// without a watch that could go stale.
//
// # Failure behaviour
//
//   - A member that dies (SIGKILL, lost host, partition from NATS) stops
//     renewing: its member key and leases expire after TTL, and the desired
//     owners take its partitions within TTL + TTL/5 + the server's expiry
//     timer; the dead member applies nothing more, and a member that is only
//     cut off from NATS calls Lost before its leases can have expired.
//   - A graceful Stop deletes the member key first (the others stop
//     desiring it), releases every partition (Handoff.Release) and then
//     deletes their leases, so the new owners take them within a reconcile
//     period. If Release fails, the leases are left to expire and Lost is
//     called instead.
//   - A Release that fails during a move keeps the partition owned (the
//     lease is renewed) and is retried at the next reconcile; Release must
//     leave the partition running when it returns an error. An Acquire that
//     fails gives the leases back; Acquire must leave none of the
//     partitions started when it returns an error.
//   - No partition is applied by two members at once as long as a member's
//     clock runs at the server's rate: a new owner's Create succeeds only
//     after the old lease expired on the server, at least TTL after the old
//     owner last sent a renewal, and the old owner calls Lost before that
//     (unless Handoff.Lost has to wait for a Handoff call in progress).
//   - A JetStream leader change of the bucket that lasts longer than the TTL
//     (raft elects a new leader after 4 to 9 s) lets the leases expire: the
//     members lose their partitions and take them again once the bucket has
//     a leader. Use a lease_ttl of 10s or more on a cluster where that pause
//     matters.
//   - A restarted member with the same id takes its former partitions once
//     its previous leases expired (it does not adopt them: it cannot tell
//     its previous self from another process with the same id).
package cluster
