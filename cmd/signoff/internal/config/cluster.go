package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Defaults of the cluster block.
const (
	// DefaultPartitions is the number of partitions users are hashed to
	// when cluster.enabled is true.
	DefaultPartitions = 32
	// MaxPartitions bounds cluster.partitions.
	MaxPartitions = 1024
	// DefaultLeaseTTL is how long a dead instance keeps its partitions.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultSnapshotInterval is how often an owner uploads each changed
	// partition to the object store.
	DefaultSnapshotInterval = 30 * time.Second
)

// Cluster runs several instances on one NATS cluster (README "Scaling
// out"): users are hashed to Partitions partitions, each owned by one live
// instance at a time through NATS KV leases, and each owned partition is
// snapshotted to the JetStream object store so that an instance lost with
// its disk loses nothing.
type Cluster struct {
	// Enabled turns scale-out on. Off (default), the instance owns every
	// partition, with no leases and no snapshots.
	Enabled bool `yaml:"enabled"`
	// Instance is this instance's unique id (letters, digits, '-', '_',
	// '.'); default "<hostname>-<8 hex digits of the data_dir path>".
	Instance string `yaml:"instance"`
	// Partitions is the number of partitions (default 32), fixed when the
	// cluster is created: every instance must say the same.
	Partitions int `yaml:"partitions"`
	// LeaseTTL is how long the partitions of an instance that died stay
	// owned by it (default 5s).
	LeaseTTL Duration `yaml:"lease_ttl"`
	// SnapshotInterval is how often each changed partition is uploaded
	// (default 30s); a new owner replays the stream from the snapshot.
	SnapshotInterval Duration `yaml:"snapshot_interval"`
}

var instanceID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// clusterDefaults fills the cluster block.
func (c *Config) clusterDefaults() {
	set := c.src.isSet
	if !c.Cluster.Enabled {
		return
	}
	if c.Cluster.Partitions == 0 && !set("cluster.partitions") {
		c.Cluster.Partitions = DefaultPartitions
	}
	if c.Cluster.LeaseTTL == 0 && !set("cluster.lease_ttl") {
		c.Cluster.LeaseTTL = Duration(DefaultLeaseTTL)
	}
	if c.Cluster.SnapshotInterval == 0 && !set("cluster.snapshot_interval") {
		c.Cluster.SnapshotInterval = Duration(DefaultSnapshotInterval)
	}
	if c.Cluster.Instance == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "signoff"
		}
		dir, err := filepath.Abs(c.DataDir)
		if err != nil {
			dir = c.DataDir
		}
		sum := sha256.Sum256([]byte(dir))
		c.Cluster.Instance = instanceIDChars.ReplaceAllString(host, "-") + "-" + hex.EncodeToString(sum[:4])
	}
}

var instanceIDChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// PartitionCount is the number of partitions this instance uses: 1
// without cluster.enabled.
func (c *Config) PartitionCount() int {
	if !c.Cluster.Enabled {
		return 1
	}
	return c.Cluster.Partitions
}

// cluster checks the cluster block.
func (v *validator) cluster(c *Config) {
	cl := c.Cluster
	if !cl.Enabled {
		return
	}
	if cl.Partitions < 1 || cl.Partitions > MaxPartitions {
		v.add("cluster.partitions", "must be between 1 and %d, got %d", MaxPartitions, cl.Partitions)
	}
	if !instanceID.MatchString(cl.Instance) {
		v.add("cluster.instance", "must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit; got %q", cl.Instance)
	}
	if d := cl.LeaseTTL.Std(); d < time.Second || d > 5*time.Minute {
		v.add("cluster.lease_ttl", "must be between 1s and 5m, got %s", d)
	}
	if d := cl.SnapshotInterval.Std(); d < time.Second || d > 24*time.Hour {
		v.add("cluster.snapshot_interval", "must be between 1s and 24h, got %s", d)
	}
	if c.NATS.URL == "" && c.NATS.Listen == "" {
		v.add("cluster.enabled", "instances of a cluster share one NATS: set nats.url (or nats.listen on the instance that embeds it)")
	}
}

// secretFile checks secret_file: readable and at least 32 bytes.
func (v *validator) secretFile(c *Config) {
	if c.SecretFile == "" {
		return
	}
	b, p, ok := v.readSecretFile(c, "secret_file", c.SecretFile)
	if !ok {
		return
	}
	if len(b) < 32 {
		v.add("secret_file", "%s holds %d bytes; the secret must have at least 32", p, len(b))
	}
}

// SecretPath is the file of the secret: secret_file (relative to the
// config file) or data_dir/secret.key.
func (c *Config) SecretPath() string {
	if c.SecretFile != "" {
		return c.relative(c.SecretFile)
	}
	return filepath.Join(c.DataDir, "secret.key")
}
