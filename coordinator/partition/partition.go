// Package partition splits the coordinator's state into partitions for
// running several instances on one NATS cluster (README "Scaling out"):
// Of hashes a user to its partition, Index routes the events that do not
// name the user (a session id, a logout id, an upstream session, an RP's
// sid or NameID) to the partition that holds it, and Snapshots keeps a copy
// of each partition's sqlite file in the JetStream object store so that a
// new owner restores it and replays the stream from there.
package partition

import "hash/fnv"

// Of returns the partition of key among n partitions: the 32-bit FNV-1a
// hash of key (http://www.isthe.com/chongo/tech/comp/fnv/) modulo n. Every
// instance computes the same value; n <= 1 is the single partition 0. The
// key of a user is its subject.
func Of(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}
