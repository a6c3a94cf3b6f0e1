package app

// End-to-end tests of scale-out (issue 12): N `signoff serve` processes
// (the test binary as a child, see crash_test.go) with cluster.enabled on
// one real 3-node nats-server cluster (cluster_test.go), with R3 streams.
// They look at signoff only from outside: the subjects of stream SIGNOFF,
// the logout tokens RPs receive (verified with go-oidc against a JWKS the
// test builds itself from the keys it generated), and GET
// /api/admin/cluster. They skip under -short; run them with
//
//	go test -race -run 'TestScaleOut' -v ./cmd/signoff/internal/app/
//
// and the benchmark (not part of the tests) with
//
//	go test -run '^$' -bench ScaleOut -benchtime 3000x ./cmd/signoff/internal/app/

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

const (
	scaleAdminToken  = "admin-token-of-the-scale-out-tests"
	scalePartitions  = 32
	scaleDeadline    = 120 * time.Second
	scaleOwnTimeout  = 2 * time.Minute // liveness bound of a take-over, not a measure
	scaleLeaseTTL    = "2s"
	scaleSnapshotInt = "2s"
)

// scaleCluster is a 3-node NATS cluster, the keys and the secret shared by
// every instance, back-channel RPs that verify against the test's own
// JWKS, and the signoff instances started so far.
type scaleCluster struct {
	t          testing.TB
	nodes      []*natstest.Node
	natsURL    string // every node
	rps        []*testRP
	keysDir    string
	secretPath string
	kids       []string // of the generated keys, sorted
	instances  []*scaleInstance
}

// scaleInstance is one `signoff serve` child of the cluster.
type scaleInstance struct {
	id      string
	setup   *childSetup
	dataDir string
	ch      *child
}

func (in *scaleInstance) base() string { return "http://" + in.setup.httpAddr }

// newScaleCluster starts the NATS cluster and writes the shared keys and
// secret; the RPs verify logout tokens with go-oidc against a JWKS served
// by the test from the public halves of those keys (signoff's code plays
// no part in the verification).
func newScaleCluster(t testing.TB, rps []*testRP) *scaleCluster {
	t.Helper()
	sc := &scaleCluster{t: t, rps: rps}
	sc.nodes = natstest.StartCluster(t, 3)
	urls := make([]string, len(sc.nodes))
	for i, nd := range sc.nodes {
		urls[i] = nd.ClientURL
	}
	sc.natsURL = strings.Join(urls, ",")

	dir := t.TempDir()
	sc.keysDir, sc.secretPath = filepath.Join(dir, "keys"), filepath.Join(dir, "secret")
	jwks := writeTestKeys(t, sc.keysDir)
	for _, k := range jwks.Keys {
		sc.kids = append(sc.kids, k.KeyID)
	}
	sort.Strings(sc.kids)
	secret := make([]byte, 48)
	rand.Read(secret)
	if err := os.WriteFile(sc.secretPath, []byte(base64.RawURLEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(jwks)
	if err != nil {
		t.Fatal(err)
	}
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(jwksSrv.Close)
	for _, rp := range rps {
		rp.useJWKS(jwksSrv.URL)
	}
	return sc
}

// writeTestKeys generates one RSA-2048, one P-256 and one Ed25519 key
// with keys.Generate into dir (PKCS#8 PEM, mode 0600) and returns their
// public JWK set, computed here with go-jose from the PEM: kid = RFC 7638
// thumbprint (RFC 7638 §3; signoff's keys.dir contract, README "Keys").
func writeTestKeys(t testing.TB, dir string) jose.JSONWebKeySet {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		data, err := keys.Generate(alg)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteFile(dir, "test-"+strings.ToLower(alg)+".pem", data); err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			t.Fatalf("%s: no PEM block", alg)
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		jwk := jose.JSONWebKey{Key: priv.(crypto.Signer).Public(), Algorithm: alg, Use: "sig"}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		set.Keys = append(set.Keys, jwk)
	}
	return set
}

// add configures instance id (its own listen and data_dir; cluster.enabled
// with 32 partitions, lease_ttl 2s, snapshot_interval 2s; the NATS
// cluster's 3 URLs and replicas 3; the shared keys.dir and secret_file)
// without starting it.
func (sc *scaleCluster) add(id string) *scaleInstance {
	sc.t.Helper()
	extra := fmt.Sprintf("cluster: {enabled: true, instance: %q, partitions: %d, lease_ttl: %s, snapshot_interval: %s}\n"+
		"keys: {dir: %q}\nsecret_file: %q\nadmin: {token: %q}\n",
		id, scalePartitions, scaleLeaseTTL, scaleSnapshotInt, sc.keysDir, sc.secretPath, scaleAdminToken)
	setup := newChildSetup(sc.t, sc.rps, childOptions{deadline: scaleDeadline, natsURL: sc.natsURL, replicas: 3, extra: extra})
	in := &scaleInstance{id: id, setup: setup, dataDir: filepath.Join(filepath.Dir(setup.cfgPath), "data")}
	sc.instances = append(sc.instances, in)
	return in
}

// start runs the instance and checks that it publishes the test's keys.
func (sc *scaleCluster) start(in *scaleInstance) {
	sc.t.Helper()
	in.ch = in.setup.start(sc.t)
	resp, err := http.Get(in.base() + "/jwks.json")
	if err != nil {
		sc.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		sc.t.Fatalf("%s /jwks.json: %v", in.id, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	sort.Strings(kids)
	if strings.Join(kids, " ") != strings.Join(sc.kids, " ") {
		sc.t.Fatalf("%s publishes kids %v, want the shared keys.dir's %v", in.id, kids, sc.kids)
	}
}

// clusterView is the part of GET /api/admin/cluster the tests read.
type clusterView struct {
	Partitions int `json:"partitions"`
	Instances  []struct {
		ID    string            `json:"id"`
		URL   string            `json:"url"`
		Owned []int             `json:"owned"`
		Lag   map[string]uint64 `json:"lag"`
	} `json:"instances"`
	Owners []string `json:"owners"`
}

func (in *scaleInstance) cluster() (clusterView, error) {
	var v clusterView
	req, _ := http.NewRequest(http.MethodGet, in.base()+"/api/admin/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+scaleAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /api/admin/cluster on %s: %s: %s", in.id, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("GET /api/admin/cluster on %s: %w", in.id, err)
	}
	return v, nil
}

// ownedBy checks that every partition has an owner among live, and that
// every live instance owns at least one (the desired assignment spreads
// 32 partitions over every live member).
func (v clusterView) ownedBy(live []*scaleInstance) error {
	if v.Partitions != scalePartitions || len(v.Owners) != scalePartitions {
		return fmt.Errorf("%d partitions, %d owners; want %d", v.Partitions, len(v.Owners), scalePartitions)
	}
	count := map[string]int{}
	for p, o := range v.Owners {
		count[o]++
		ok := false
		for _, in := range live {
			ok = ok || in.id == o
		}
		if !ok {
			return fmt.Errorf("partition %d owned by %q, not a live instance", p, o)
		}
	}
	for _, in := range live {
		if count[in.id] == 0 {
			return fmt.Errorf("%s owns no partition yet (owners %v)", in.id, count)
		}
	}
	return nil
}

// startThree adds and starts instances i1, i2 and i3 and waits until
// they own every partition.
func (sc *scaleCluster) startThree() []*scaleInstance {
	sc.t.Helper()
	ins := []*scaleInstance{sc.add("i1"), sc.add("i2"), sc.add("i3")}
	began := time.Now()
	for _, in := range ins {
		sc.start(in)
	}
	sc.waitOwned("start of 3 instances", ins[0], ins, began)
	return ins
}

// waitOwned polls GET /api/admin/cluster on via until every partition is
// owned by the live instances (each owning some), logs how long that took
// since from, and fails the test only when it never happens.
func (sc *scaleCluster) waitOwned(what string, via *scaleInstance, live []*scaleInstance, from time.Time) time.Duration {
	sc.t.Helper()
	err := eventstest.Poll(scaleOwnTimeout, 50*time.Millisecond, func() error {
		v, err := via.cluster()
		if err != nil {
			return err
		}
		return v.ownedBy(live)
	})
	took := time.Since(from)
	if err != nil {
		sc.t.Errorf("%s: the partitions were not owned by the live instances within %v: %v", what, scaleOwnTimeout, err)
		return took
	}
	sc.t.Logf("%s: every partition owned by %s %v after it began", what, ids(live), took.Round(time.Millisecond))
	return took
}

func ids(ins []*scaleInstance) string {
	var s []string
	for _, in := range ins {
		s = append(s, in.id)
	}
	return strings.Join(s, ",")
}

// clients returns one publishing client per NATS node, each connected to
// that node only.
func (sc *scaleCluster) clients() []*client {
	out := make([]*client, len(sc.nodes))
	for i, nd := range sc.nodes {
		out[i] = faultClient(sc.t, connect(sc.t, nd.ClientURL))
	}
	return out
}

// scaleUsers is the load: user i has session s<i>, subject u<i>, one RP
// session sid-<rp>-<i> at each RP, and logout L<i>, asked by subject for
// even users and by session for odd ones (so that both the subject hash
// and the route index route logouts).
type scaleUsers struct{ rps []*testRP }

func scaleSID(rp string, i int) string { return fmt.Sprintf("sid-%s-%d", rp, i) }

func (u scaleUsers) joins(from, to int) []outMsg {
	var out []outMsg
	for i := from; i < to; i++ {
		for _, rp := range u.rps {
			out = append(out, joinMsg(fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i), rp.ID, scaleSID(rp.ID, i)))
		}
	}
	return out
}

func (u scaleUsers) logouts(from, to int) []outMsg {
	var out []outMsg
	for i := from; i < to; i++ {
		if i%2 == 0 {
			out = append(out, logoutBySubjectMsg(fmt.Sprintf("L%d", i), fmt.Sprintf("u%d", i)))
			continue
		}
		id := uuid.NewString()
		out = append(out, outMsg{events.SubjectLogoutRequested, events.LogoutRequested{
			EventID: id, LogoutID: fmt.Sprintf("L%d", i), OccurredAt: time.Now().UTC(), SessionID: fmt.Sprintf("s%d", i),
			Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
		}, id})
	}
	return out
}

func logoutIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("L%d", i)
	}
	return ids
}

// spread publishes msgs of users [from, to) (per counts messages per
// user) through the node clients, user i through node i mod 3, the nodes
// in parallel; it fails the test unless JetStream acknowledged them all.
func spread(t testing.TB, cs []*client, from, to, per int, msgs []outMsg) {
	t.Helper()
	parts := make([][]outMsg, len(cs))
	for i := from; i < to; i++ {
		k := i % len(cs)
		parts[k] = append(parts[k], msgs[(i-from)*per:(i-from+1)*per]...)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = c.publishAll(parts[k], 2*time.Minute)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// checkCompletedOrdered reads every logout.completed of stream SIGNOFF
// with an ordered consumer and asserts that each of ids has exactly one,
// with outcome complete and every participant succeeded.
func checkCompletedOrdered(t *testing.T, c *client, ids []string) {
	t.Helper()
	counts := map[string]int{}
	byID := map[string]events.Completed{}
	for _, m := range c.received(events.SubjectLogoutCompleted) {
		ev, err := events.Decode[events.Completed](m.Data())
		if err != nil {
			t.Errorf("invalid logout.completed on the stream: %v", err)
			continue
		}
		counts[ev.LogoutID]++
		byID[ev.LogoutID] = ev
	}
	var never, twice, notComplete int
	var examples []string
	for _, id := range ids {
		switch counts[id] {
		case 0:
			never++
			continue
		case 1:
		default:
			twice++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s completed %d times", id, counts[id]))
			}
		}
		ev := byID[id]
		ok := ev.Outcome == events.StatusComplete && len(ev.Participants) > 0
		for _, p := range ev.Participants {
			ok = ok && p.Outcome == events.OutcomeSucceeded
		}
		if !ok {
			notComplete++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%+v", ev))
			}
		}
	}
	t.Logf("logout.completed (ordered consumer): %d of %d logouts, %d never, %d more than once, %d not complete",
		len(ids)-never, len(ids), never, twice, notComplete)
	if never+twice+notComplete > 0 {
		t.Errorf("%d logouts without logout.completed, %d with more than one, %d not complete with every participant succeeded; e.g. %v",
			never, twice, notComplete, examples)
	}
}

// checkNoUnknownPoison asserts that nothing on signoff.poison says
// "unknown" (an event routed to an instance that did not know its
// session, logout or RP).
func checkNoUnknownPoison(t *testing.T, c *client) {
	t.Helper()
	poisoned := c.received(events.SubjectPoison)
	var unknown []string
	for _, m := range poisoned {
		reason := m.Headers().Get(events.HeaderPoisonReason)
		if strings.Contains(strings.ToLower(reason), "unknown") {
			unknown = append(unknown, reason)
		}
	}
	t.Logf("signoff.poison: %d messages, %d saying unknown", len(poisoned), len(unknown))
	if len(unknown) > 0 {
		t.Errorf("%d poisoned with \"unknown\", first: %s", len(unknown), unknown[0])
	}
}

// waitCompletions waits (at most timeout, reporting only) until the live
// counter saw every one of ids completed.
func waitCompletions(t testing.TB, cc *completedCounter, ids []string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	if err := eventstest.Poll(timeout, 200*time.Millisecond, func() error {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		n := 0
		for _, id := range ids {
			if _, ok := cc.seen[id]; ok {
				n++
			}
		}
		if n < len(ids) {
			return fmt.Errorf("%d of %d logouts completed", n, len(ids))
		}
		return nil
	}); err != nil {
		t.Logf("waiting for completions: %v", err)
		return
	}
	t.Logf("all %d logouts completed %v after the wait began", len(ids), time.Since(start).Round(time.Millisecond))
}

func waitTokens(t testing.TB, rps []*testRP, atLeast int, timeout time.Duration) {
	t.Helper()
	eventstest.EventuallyErr(t, timeout, func() error {
		if n := totalValid(rps); n < atLeast {
			return fmt.Errorf("%d of %d valid tokens delivered", n, atLeast)
		}
		return nil
	})
}

func scaleRPs(t testing.TB, delay time.Duration) []*testRP {
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "RS256")}
	for _, rp := range rps {
		rp.delay = delay
	}
	return rps
}

// TestScaleOutKillInstance: 3 instances on a 3-node NATS cluster, 3,000
// users joined at 3 back-channel RPs, each user's events published through
// another NATS node. Half the logouts are published; once a third of
// their tokens are delivered, one instance is killed with SIGKILL and its
// data_dir deleted (never restarted); then the other half is published.
// Every logout completes exactly once and complete, every RP session got
// a token go-oidc verified, nothing is poisoned as unknown. The time from
// the kill until every partition is owned by the 2 survivors is logged.
func TestScaleOutKillInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster and 3 signoff processes")
	}
	const users = 3000
	rps := scaleRPs(t, 100*time.Millisecond)
	sc := newScaleCluster(t, rps)
	ins := sc.startThree()
	cs := sc.clients()
	live := countCompleted(t, cs[0].nc)
	load := scaleUsers{rps}

	start := time.Now()
	spread(t, cs, 0, users, len(rps), load.joins(0, users))
	t.Logf("%d session.joined acknowledged in %v", users*len(rps), time.Since(start).Round(time.Millisecond))
	half := users / 2
	logouts := load.logouts(0, users)
	start = time.Now()
	spread(t, cs, 0, half, 1, logouts[:half])
	cutoffFirst := time.Now().Add(scaleDeadline)
	waitTokens(t, rps, half*len(rps)/3, 2*time.Minute)

	victim := ins[2]
	atKill := totalValid(rps)
	victim.ch.kill()
	killedAt := time.Now()
	if err := os.RemoveAll(victim.dataDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s (SIGKILL, data_dir deleted) at +%v with %d of %d RP sessions signed out",
		victim.id, killedAt.Sub(start).Round(time.Millisecond), atKill, users*len(rps))
	if atKill >= half*len(rps) {
		t.Fatalf("every token of the first half was delivered before the kill; the test proves nothing")
	}
	var recovered sync.WaitGroup
	recovered.Add(1)
	go func() {
		defer recovered.Done()
		sc.waitOwned("kill of "+victim.id, ins[0], ins[:2], killedAt)
	}()
	spread(t, cs, half, users, 1, logouts[half:])
	cutoffSecond := time.Now().Add(scaleDeadline)
	t.Logf("second half of the logouts acknowledged %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	recovered.Wait()

	waitCompletions(t, live, logoutIDs(users), time.Until(cutoffSecond)+30*time.Second)
	checkDelivered(t, rps, users, scaleSID, func(i int) time.Time {
		if i < half {
			return cutoffFirst
		}
		return cutoffSecond
	})
	checkCompletedOrdered(t, cs[1], logoutIDs(users))
	checkNoUnknownPoison(t, cs[1])
}

// TestScaleOutRebalance: 1 → 3 → 2 instances under a steady load. One
// instance starts; a load of users (joins at 3 RPs, then the logout, each
// chunk through another NATS node) runs all along; 2 more instances
// start; then one is stopped gracefully (SIGTERM). Same assertions as the
// kill test; the time each rebalance takes is logged.
func TestScaleOutRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster and 3 signoff processes")
	}
	// The load: chunk users every step, about 100 users (300 RP
	// sessions) a second, half that under -race.
	const chunk = 20
	step := 200 * time.Millisecond
	if raceEnabled {
		step *= 2
	}
	rps := scaleRPs(t, 20*time.Millisecond)
	sc := newScaleCluster(t, rps)
	ins := []*scaleInstance{sc.add("i1"), sc.add("i2"), sc.add("i3")}
	began := time.Now()
	sc.start(ins[0])
	sc.waitOwned("start of 1 instance", ins[0], ins[:1], began)
	cs := sc.clients()
	live := countCompleted(t, cs[0].nc)
	load := scaleUsers{rps}

	// The load: chunk after chunk until stopped; users [0, published).
	var published atomic.Int64
	var cutoff atomic.Int64 // unix nanos of the last chunk's deadline
	stop := make(chan struct{})
	loadDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(step)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				loadDone <- nil
				return
			case <-tick.C:
			}
			c := cs[k%len(cs)]
			from, to := k*chunk, (k+1)*chunk
			if err := c.publishAll(load.joins(from, to), time.Minute); err != nil {
				loadDone <- err
				return
			}
			if err := c.publishAll(load.logouts(from, to), time.Minute); err != nil {
				loadDone <- err
				return
			}
			cutoff.Store(time.Now().Add(scaleDeadline).UnixNano())
			published.Store(int64(to))
		}
	}()
	progress := func(what string) {
		t.Helper()
		before := totalValid(rps)
		waitTokens(t, rps, before+10*chunk*len(rps), 2*time.Minute)
		t.Logf("%s: %d users published, %d RP sessions signed out", what, published.Load(), totalValid(rps))
	}
	progress("1 instance")

	scaleUp := time.Now()
	sc.start(ins[1])
	sc.start(ins[2])
	sc.waitOwned("1 → 3 instances", ins[0], ins, scaleUp)
	progress("3 instances")

	scaleDown := time.Now()
	ins[2].ch.stop()
	t.Logf("%s stopped with SIGTERM in %v (exit: %v)", ins[2].id, time.Since(scaleDown).Round(time.Millisecond), ins[2].ch.cmd.ProcessState)
	sc.waitOwned("3 → 2 instances", ins[1], ins[:2], scaleDown)
	progress("2 instances")

	close(stop)
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}
	users := int(published.Load())
	waitCompletions(t, live, logoutIDs(users), time.Until(time.Unix(0, cutoff.Load()))+30*time.Second)
	last := time.Unix(0, cutoff.Load())
	checkDelivered(t, rps, users, scaleSID, func(int) time.Time { return last })
	checkCompletedOrdered(t, cs[1], logoutIDs(users))
	checkNoUnknownPoison(t, cs[1])
}

// TestScaleOutOrdering is TestJoinFloodThenLogout (Backbone v2) across
// instances: while another publisher floods session.joined through NATS
// node 2, each of 30 users joins 3 RPs through one NATS node (every join
// acknowledged) and is signed out at once through POST /api/admin/logout
// of another instance. Each logout must see every join acknowledged
// before it: complete, 3 participants succeeded, a valid token at each RP.
func TestScaleOutOrdering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster and 3 signoff processes")
	}
	flood := floodSize(t)
	const users = 30
	rps := scaleRPs(t, 0)
	sc := newScaleCluster(t, rps)
	ins := sc.startThree()
	cs := sc.clients()

	floodMsgs := make([]outMsg, flood)
	for i := range flood {
		rp := rps[i%len(rps)].ID
		floodMsgs[i] = joinMsg(fmt.Sprintf("flood-%d", i/3), fmt.Sprintf("flood-user-%d", i/3), rp, fmt.Sprintf("flood-sid-%d", i))
	}
	floodDone := make(chan error, 1)
	floodStart := time.Now()
	go func() {
		floodDone <- faultClient(t, connect(t, sc.nodes[1].ClientURL)).publishAll(floodMsgs, 3*time.Minute)
	}()

	// Each user: joins through node u mod 3 (synchronous: acknowledged),
	// logout through the admin API of instance (u+1) mod 3 at once.
	logoutOf := make([]string, users)
	for u := range users {
		c := newClient(t, cs[u%3].nc)
		for _, rp := range rps {
			c.join(fmt.Sprintf("ord-s%d", u), fmt.Sprintf("ord-u%d", u), rp.ID, fmt.Sprintf("ord-sid-%s-%d", rp.ID, u))
		}
		req := map[string]string{"session_id": fmt.Sprintf("ord-s%d", u)}
		if u%2 == 1 {
			req = map[string]string{"subject": fmt.Sprintf("ord-u%d", u)}
		}
		logoutOf[u] = adminLogoutCall(t, ins[(u+1)%3], req)
	}
	t.Logf("%d users joined and signed out through another instance; backlog: %s", users, cs[0].backlog())
	if err := <-floodDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %d session.joined acknowledged in %v", flood, time.Since(floodStart).Round(time.Millisecond))

	var done map[string]events.Completed
	eventstest.EventuallyErr(t, 2*time.Minute, func() error {
		done = map[string]events.Completed{}
		ms, err := cs[2].readAll(events.SubjectLogoutCompleted)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if ev, err := events.Decode[events.Completed](m.Data()); err == nil {
				done[ev.LogoutID] = ev
			}
		}
		for u, id := range logoutOf {
			if _, ok := done[id]; !ok {
				return fmt.Errorf("user %d's logout %s not completed", u, id)
			}
		}
		return nil
	})
	for u, id := range logoutOf {
		ev := done[id]
		succeeded := 0
		for _, p := range ev.Participants {
			if p.Outcome == events.OutcomeSucceeded {
				succeeded++
			}
		}
		if ev.Outcome != events.StatusComplete || succeeded != len(rps) {
			t.Errorf("user %d (logout %s via %s): %q with %d of %d RPs succeeded: %+v",
				u, id, ins[(u+1)%3].id, ev.Outcome, succeeded, len(rps), ev.Participants)
		}
	}
	checkDelivered(t, rps, users, func(rp string, i int) string { return fmt.Sprintf("ord-sid-%s-%d", rp, i) },
		func(int) time.Time { return time.Now().Add(time.Hour) })
	ids := make([]string, 0, users)
	ids = append(ids, logoutOf...)
	checkCompletedOrdered(t, cs[1], ids)
	checkNoUnknownPoison(t, cs[1])
}

// adminLogoutCall is POST /api/admin/logout on in; it returns the
// logout_id of the 202 answer.
func adminLogoutCall(t testing.TB, in *scaleInstance, body map[string]string) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, in.base()+"/api/admin/logout", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+scaleAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var started struct {
		LogoutID string `json:"logout_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(out, &started) != nil || started.LogoutID == "" {
		t.Fatalf("POST /api/admin/logout on %s: %s: %s", in.id, resp.Status, out)
	}
	return started.LogoutID
}

// BenchmarkScaleOut measures logouts/s and CPU per logout of 1, 2 and 3
// instances on a 3-node NATS cluster (R3) with 3 back-channel RPs
// answering 200. b.N users join first (not timed); then b.N logouts are
// published through the 3 nodes and the timer runs until every one
// completed. CPU is the user+system time of the signoff children (and,
// apart, of the nats-server nodes) over the logouts, from
// /proc/<pid>/stat.
//
//	go test -run '^$' -bench ScaleOut -benchtime 3000x ./cmd/signoff/internal/app/
func BenchmarkScaleOut(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { benchScaleOut(b, n) })
	}
}

func benchScaleOut(b *testing.B, n int) {
	rps := scaleRPs(b, 0)
	sc := newScaleCluster(b, rps)
	var ins []*scaleInstance
	for i := range n {
		ins = append(ins, sc.add(fmt.Sprintf("i%d", i+1)))
	}
	began := time.Now()
	for _, in := range ins {
		sc.start(in)
	}
	if err := eventstest.Poll(scaleOwnTimeout, 50*time.Millisecond, func() error {
		v, err := ins[0].cluster()
		if err != nil {
			return err
		}
		return v.ownedBy(ins)
	}); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d instances own every partition %v after start", n, time.Since(began).Round(time.Millisecond))
	cs := sc.clients()
	live := countCompleted(b, cs[0].nc)
	load := scaleUsers{rps}
	spread(b, cs, 0, b.N, len(rps), load.joins(0, b.N))
	cs[0].settle(2 * time.Minute)
	logouts := load.logouts(0, b.N)
	ids := logoutIDs(b.N)

	var signoffPIDs, natsPIDs []int
	for _, in := range ins {
		signoffPIDs = append(signoffPIDs, in.ch.cmd.Process.Pid)
	}
	for _, nd := range sc.nodes {
		natsPIDs = append(natsPIDs, nd.Pid())
	}
	cpu0, ncpu0 := procCPUTime(b, signoffPIDs), procCPUTime(b, natsPIDs)
	b.ResetTimer()
	start := time.Now()
	spread(b, cs, 0, b.N, 1, logouts)
	if err := eventstest.Poll(10*time.Minute, 20*time.Millisecond, func() error {
		if c := live.count(); c < b.N {
			return fmt.Errorf("%d of %d logouts completed", c, b.N)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu, ncpu := procCPUTime(b, signoffPIDs)-cpu0, procCPUTime(b, natsPIDs)-ncpu0
	waitCompletions(b, live, ids, time.Second)
	if got := totalValid(rps); got < b.N*len(rps) {
		b.Fatalf("%d valid tokens, want %d", got, b.N*len(rps))
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logouts/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/logout")
	b.ReportMetric(float64(ncpu.Microseconds())/1000/float64(b.N), "nats-cpu-ms/logout")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores-busy")
}

// procCPUTime is the user+system CPU time the processes used so far, from
// fields 14 and 15 of /proc/<pid>/stat (clock ticks of USER_HZ, 100 on
// Linux).
func procCPUTime(t testing.TB, pids []int) time.Duration {
	t.Helper()
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("cpu time of %d: %v", pid, err)
		}
		// After "(comm)": state is field 3, utime 14, stime 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			t.Fatalf("/proc/%d/stat: %q", pid, b)
		}
		for _, s := range f[11:13] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/stat: %v", pid, err)
			}
			ticks += v
		}
	}
	return time.Duration(ticks) * (time.Second / 100)
}
