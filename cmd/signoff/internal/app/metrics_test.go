package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestMetricsExposeIntakeAndConsumers: after a logout, /metrics shows the
// intake's position and lag and each work consumer's lag and ack-pending.
func TestMetricsExposeIntakeAndConsumers(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	a := startApp(t, testConfig(t, 10*time.Second, rp), rp)
	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-1")
	c.logout("L-metrics", "sess-1")
	c.waitCompleted("L-metrics", 15*time.Second)
	var body string
	eventstest.EventuallyErr(t, 5*time.Second, func() error {
		resp, err := http.Get("http://" + a.Addr() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		m := regexp.MustCompile(`(?m)^signoff_intake_applied_sequence (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			return fmt.Errorf("no applied sequence in\n%s", body)
		}
		if n, _ := strconv.Atoi(m[1]); n < 3 {
			return fmt.Errorf("applied sequence %d after a join, a logout and a result", n)
		}
		return nil
	})
	for _, want := range []string{
		`(?m)^signoff_intake_lag 0$`,
		`(?m)^signoff_intake_events_total [3-9]$`,
		`(?m)^signoff_consumer_lag\{consumer="adapter-backchannel"\} 0$`,
		`(?m)^signoff_consumer_ack_pending\{consumer="adapter-saml"\} 0$`,
		`(?m)^# TYPE signoff_consumer_lag gauge$`,
	} {
		if !regexp.MustCompile(want).MatchString(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	} // Every family of the hand-written /metrics of earlier versions keeps
	// its name and type (dashboards and alerts use them).
	mfs := families(t, body)
	for name, typ := range map[string]dto.MetricType{
		"signoff_outbox_published_total": dto.MetricType_COUNTER, "signoff_backchannel_attempts_total": dto.MetricType_COUNTER,
		"signoff_backchannel_succeeded_total": dto.MetricType_COUNTER, "signoff_backchannel_failed_total": dto.MetricType_COUNTER,
		"signoff_backchannel_timed_out_total": dto.MetricType_COUNTER, "signoff_saml_attempts_total": dto.MetricType_COUNTER,
		"signoff_saml_succeeded_total": dto.MetricType_COUNTER, "signoff_saml_failed_total": dto.MetricType_COUNTER,
		"signoff_saml_timed_out_total": dto.MetricType_COUNTER, "signoff_saml_refused_total": dto.MetricType_COUNTER,
		"signoff_saml_sp_initiated_total": dto.MetricType_COUNTER, "signoff_intake_events_total": dto.MetricType_COUNTER,
		"signoff_unknown_rp_joins_total": dto.MetricType_COUNTER, "signoff_intake_batches_total": dto.MetricType_COUNTER,
		"signoff_intake_lag": dto.MetricType_GAUGE, "signoff_intake_applied_sequence": dto.MetricType_GAUGE,
		"signoff_consumer_lag": dto.MetricType_GAUGE, "signoff_consumer_ack_pending": dto.MetricType_GAUGE,
	} {
		if mf := mfs[name]; mf == nil || mf.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, mf, typ)
		}
	}
	if v, _ := sample(mfs["signoff_outbox_published_total"], map[string]string{}); v < 1 {
		t.Errorf("signoff_outbox_published_total = %v after a logout", v)
	}
}

// scrape reads GET /metrics at addr (the public listener or metrics.listen).
func scrape(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

// families parses a scrape with the Prometheus text parser.
func families(t testing.TB, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// sample is the value of the series of mf with exactly labels (for a
// histogram: its count), and whether it exists.
func sample(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if !maps.Equal(got, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// labelValues are the values label takes in the series of mf.
func labelValues(mf *dto.MetricFamily, label string) []string {
	var out []string
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && !slices.Contains(out, lp.GetValue()) {
				out = append(out, lp.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

// waitSample polls the scrape at addr until the series of name with labels
// has value want.
func waitSample(t testing.TB, addr, name string, labels map[string]string, want float64) map[string]*dto.MetricFamily {
	t.Helper()
	var mfs map[string]*dto.MetricFamily
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		mfs = families(t, scrape(t, addr))
		if v, ok := sample(mfs[name], labels); !ok || v != want {
			return fmt.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, want)
		}
		return nil
	})
	return mfs
}

// TestMetricsHistogramsAfterLogout: a logout through a real App with one
// RP that signs out and one that refuses (400) moves the logout duration
// histogram (partial), the delivery latency histogram (backchannel, one
// observation per result), the logout and participant outcome counters
// (by rp_id), and the adapter counters; the go and process collectors
// are there.
func TestMetricsHistogramsAfterLogout(t *testing.T) {
	wiki := newTestRP(t, "wiki", "ES256")
	crm := newTestRP(t, "crm", "ES256", http.StatusBadRequest)
	a := startApp(t, testConfig(t, 10*time.Second, wiki, crm), wiki, crm)
	before := families(t, scrape(t, a.Addr()))
	for _, s := range []struct {
		name   string
		labels map[string]string
	}{
		{"signoff_logouts_completed_total", map[string]string{"outcome": "partial"}},
		{"signoff_logout_duration_seconds", map[string]string{"outcome": "complete"}},
		{"signoff_participant_outcomes_total", map[string]string{"adapter": "backchannel", "rp_id": "crm", "outcome": "failed"}},
		{"signoff_delivery_latency_seconds", map[string]string{"adapter": "backchannel"}},
	} {
		if v, ok := sample(before[s.name], s.labels); !ok || v != 0 {
			t.Errorf("before any logout: %s%v = %v (present %v), want a series at 0", s.name, s.labels, v, ok)
		}
	}

	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-w")
	c.join("sess-1", "alice", "crm", "sid-c")
	c.logout("L-hist", "sess-1")
	if done := c.waitCompleted("L-hist", 15*time.Second); done.Outcome != events.StatusPartial {
		t.Fatalf("completed %+v, want partial", done)
	}
	mfs := waitSample(t, a.Addr(), "signoff_logouts_completed_total", map[string]string{"outcome": "partial"}, 1)
	for _, s := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"signoff_logout_duration_seconds", map[string]string{"outcome": "partial"}, 1},
		{"signoff_logout_duration_seconds", map[string]string{"outcome": "complete"}, 0},
		{"signoff_logouts_completed_total", map[string]string{"outcome": "complete"}, 0},
		{"signoff_delivery_latency_seconds", map[string]string{"adapter": "backchannel"}, 2},
		{"signoff_participant_outcomes_total", map[string]string{"adapter": "backchannel", "rp_id": "wiki", "outcome": "succeeded"}, 1},
		{"signoff_participant_outcomes_total", map[string]string{"adapter": "backchannel", "rp_id": "crm", "outcome": "failed"}, 1},
		{"signoff_participant_outcomes_total", map[string]string{"adapter": "backchannel", "rp_id": "crm", "outcome": "succeeded"}, 0},
		{"signoff_backchannel_succeeded_total", map[string]string{}, 1},
		{"signoff_backchannel_failed_total", map[string]string{}, 1},
		{"signoff_late_results_total", map[string]string{}, 0},
	} {
		if v, ok := sample(mfs[s.name], s.labels); !ok || v != s.want {
			t.Errorf("%s%v = %v (present %v), want %v", s.name, s.labels, v, ok, s.want)
		}
	}
	// The observed duration lies within the histogram's buckets: the sum
	// is positive and below the logout deadline.
	for _, m := range mfs["signoff_logout_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		if h.GetSampleCount() == 1 && (h.GetSampleSum() <= 0 || h.GetSampleSum() >= 10) {
			t.Errorf("logout duration sum %v s, want in (0, 10)", h.GetSampleSum())
		}
		if n := len(h.GetBucket()); n != len(LogoutDurationBuckets)+1 {
			t.Errorf("%d buckets, want %d and +Inf", n, len(LogoutDurationBuckets))
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if mfs[name] == nil {
			t.Errorf("/metrics lacks %s (go and process collectors)", name)
		}
	}
}

// TestMetricsLabelsBounded: rp_id label values are the configured RP ids
// (and signoff): a participant whose RP was removed from the configuration
// between a join and the logout (a restart) counts as rp_id="other", and a
// join for an rp_id never configured is poisoned and creates no series.
func TestMetricsLabelsBounded(t *testing.T) {
	wiki := newTestRP(t, "wiki", "ES256")
	crm := newTestRP(t, "crm", "ES256")
	cfg := testConfig(t, 10*time.Second, wiki, crm)
	a := startApp(t, cfg, wiki, crm)
	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-w")
	c.join("sess-1", "alice", "crm", "sid-c")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if rps, err := a.Store().SessionRPs(context.Background(), "sess-1"); err != nil || len(rps) != 2 {
			return fmt.Errorf("session RPs %v %v", rps, err)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Restarted without crm.
	cfg2 := *cfg
	cfg2.RelyingParties = cfg.RelyingParties[:1]
	b := startApp(t, &cfg2, wiki)
	c = appClient(t, b)
	c.join("sess-2", "bob", "ghost-1234", "sid-g")
	c.logout("L-bounded", "sess-1")
	if done := c.waitCompleted("L-bounded", 15*time.Second); done.Outcome != events.StatusPartial {
		t.Fatalf("completed %+v, want partial (crm is no longer configured)", done)
	}
	mfs := waitSample(t, b.Addr(), "signoff_participant_outcomes_total",
		map[string]string{"adapter": "none", "rp_id": "other", "outcome": "failed"}, 1)
	if v, _ := sample(mfs["signoff_participant_outcomes_total"], map[string]string{"adapter": "backchannel", "rp_id": "wiki", "outcome": "succeeded"}); v != 1 {
		t.Errorf("wiki succeeded = %v, want 1", v)
	}
	if got, want := labelValues(mfs["signoff_participant_outcomes_total"], "rp_id"), []string{"other", "wiki"}; !slices.Equal(got, want) {
		t.Errorf("rp_id values %v, want %v", got, want)
	}
	mfs = waitSample(t, b.Addr(), "signoff_poisoned_total", map[string]string{"subject": events.SubjectSessionJoined}, 1)
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "ghost") || lp.GetValue() == "crm" {
					t.Errorf("%s has a series with %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// TestMetricsBoundedLabelValues: every label value the observer is given
// outside its bounded set becomes "other".
func TestMetricsBoundedLabelValues(t *testing.T) {
	cfg := config.Default()
	cfg.RelyingParties = []config.RelyingParty{{ID: "wiki", OIDC: &config.OIDC{ClientID: "w", BackchannelLogoutURI: "https://wiki.example.com/bc"}}}
	m := newMetrics(cfg)
	m.dispatchSubjects([]events.Adapter{events.AdapterBackchannel, events.AdapterSAML, events.AdapterSSF}) // Start: the Dispatchers'
	tests := []struct {
		adapter events.Adapter
		rpID    string
		outcome events.Outcome
		want    map[string]string
	}{
		{"backchannel", "wiki", "succeeded", map[string]string{"adapter": "backchannel", "rp_id": "wiki", "outcome": "succeeded"}},
		{"cookie", "signoff", "succeeded", map[string]string{"adapter": "cookie", "rp_id": "signoff", "outcome": "succeeded"}},
		{"", "gone", "failed", map[string]string{"adapter": "none", "rp_id": "other", "outcome": "failed"}},
		{"carrier-pigeon", "evil-1", "exploded", map[string]string{"adapter": "other", "rp_id": "other", "outcome": "other"}},
		{"carrier-pigeon", "evil-2", "exploded", map[string]string{"adapter": "other", "rp_id": "other", "outcome": "other"}},
	}
	for _, tt := range tests {
		m.LogoutCompleted("partial", time.Second, []events.ParticipantOutcome{{RPID: tt.rpID, Adapter: tt.adapter, Outcome: tt.outcome}})
		m.ParticipantResult(tt.adapter, tt.rpID, tt.outcome, time.Second)
	}
	m.Poisoned("signoff.whatever.forged")
	m.Poisoned(events.SubjectLogoutResult)
	var b strings.Builder
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
		fmt.Fprintln(&b, mf.GetName())
	}
	for _, tt := range tests {
		if _, ok := sample(byName["signoff_participant_outcomes_total"], tt.want); !ok {
			t.Errorf("no series %v", tt.want)
		}
	}
	if v, _ := sample(byName["signoff_participant_outcomes_total"], map[string]string{"adapter": "other", "rp_id": "other", "outcome": "other"}); v != 2 {
		t.Errorf("two unknown participants counted %v times in one series, want 2", v)
	}
	// wiki's 4 outcomes (at 0 from the start) + signoff + none/other + other/other/other.
	if n := len(byName["signoff_participant_outcomes_total"].GetMetric()); n != 7 {
		t.Errorf("%d participant outcome series, want 7", n)
	}
	if got, want := labelValues(byName["signoff_delivery_latency_seconds"], "adapter"), []string{"backchannel", "cookie", "none", "other"}; !slices.Equal(got, want) {
		t.Errorf("delivery latency adapters %v, want %v", got, want)
	}
	// Every subject signoff consumes is there from the start; a forged one
	// counts as other.
	subjects := labelValues(byName["signoff_poisoned_total"], "subject")
	if !slices.Contains(subjects, "other") || !slices.Contains(subjects, events.SubjectLogoutResult) ||
		slices.Contains(subjects, "signoff.whatever.forged") || len(subjects) != len(coordinator.IntakeSubjects)+4 { // + three dispatch subjects and other
		t.Errorf("poison subjects %v", subjects)
	}
	if v, _ := sample(byName["signoff_poisoned_total"], map[string]string{"subject": events.SubjectLogoutResult}); v != 1 {
		t.Errorf("poisoned logout.result = %v, want 1", v)
	}
}

// TestMetricsListenSeparatesPorts: with metrics.listen, /metrics is served
// only on that listener (which serves nothing else), the public port
// answers 404 for it, and the listener closes with the App.
func TestMetricsListenSeparatesPorts(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 10*time.Second, rp)
	cfg.Metrics.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, rp)
	if a.MetricsAddr() == "" || a.MetricsAddr() == a.Addr() {
		t.Fatalf("metrics address %q, public %q", a.MetricsAddr(), a.Addr())
	}
	status := func(addr, path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		addr, path string
		want       int
	}{
		{a.Addr(), "/metrics", http.StatusNotFound},
		{a.Addr(), "/healthz", http.StatusOK},
		{a.MetricsAddr(), "/metrics", http.StatusOK},
		{a.MetricsAddr(), "/healthz", http.StatusNotFound},
		{a.MetricsAddr(), "/jwks.json", http.StatusNotFound},
	} {
		if got := status(tt.addr, tt.path); got != tt.want {
			t.Errorf("GET %s%s: %d, want %d", tt.addr, tt.path, got, tt.want)
		}
	}
	if body := scrape(t, a.MetricsAddr()); !strings.Contains(body, "\nsignoff_intake_lag ") {
		t.Errorf("metrics listener lacks signoff_intake_lag:\n%s", body)
	}
	addr := a.MetricsAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Errorf("metrics listener %s still answers after Close", addr)
	}
}

// TestMetricsListenBusy: a metrics.listen address already in use stops
// start-up with an error naming metrics.listen.
func TestMetricsListenBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t, 10*time.Second)
	cfg.Metrics.Listen = busy.Addr().String()
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err == nil {
		a.Close(context.Background())
		t.Fatal("started on a busy metrics.listen")
	}
	if !strings.Contains(err.Error(), "metrics.listen "+busy.Addr().String()) {
		t.Errorf("error %q does not name metrics.listen", err)
	}
}

// TestPromtoolCheckMetrics: `promtool check metrics` (Prometheus' linter)
// accepts a real scrape of a running App after a logout. Without promtool
// the test is skipped, except in CI (CI=true), where .ci/run installs it.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found; .ci/run installs Debian's prometheus package, which ships it")
		}
		t.Skip("promtool not found (apt-get install prometheus); required when CI=true")
	}
	check := func(exposition string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(exposition)
		return cmd.CombinedOutput()
	}
	// The linter does reject: a counter without _total.
	if out, err := check("# HELP x_sent Sent.\n# TYPE x_sent counter\nx_sent 1\n"); err == nil {
		t.Fatalf("promtool accepted a counter without _total: %s", out)
	}
	rp := newTestRP(t, "wiki", "ES256")
	a := startApp(t, testConfig(t, 10*time.Second, rp), rp)
	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-1")
	c.logout("L-promtool", "sess-1")
	c.waitCompleted("L-promtool", 15*time.Second)
	waitSample(t, a.Addr(), "signoff_logouts_completed_total", map[string]string{"outcome": "complete"}, 1)
	out, err := check(scrape(t, a.Addr()))
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestGrafanaDashboardMetricsExist: every metric name the example Grafana
// dashboard queries is in a scrape of a running App (after a logout), and
// the dashboard has the panels the README promises.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	rp := newTestRP(t, "wiki", "ES256")
	a := startApp(t, testConfig(t, 10*time.Second, rp), rp)
	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-1")
	c.logout("L-dashboard", "sess-1")
	c.waitCompleted("L-dashboard", 15*time.Second)
	waitSample(t, a.Addr(), "signoff_logouts_completed_total", map[string]string{"outcome": "complete"}, 1)
	scraped := map[string]bool{}
	for _, line := range strings.Split(scrape(t, a.Addr()), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		scraped[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	metricName := regexp.MustCompile(`\b(?:signoff|go|process)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q uses no signoff, go or process metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !scraped[n] {
					t.Errorf("panel %q: %s is not in a scrape of signoff", p.Title, n)
				}
			}
		}
	}
	for _, want := range []string{
		"signoff_logouts_completed_total", "signoff_logout_duration_seconds_bucket", "signoff_delivery_latency_seconds_bucket",
		"signoff_participant_outcomes_total", "signoff_consumer_lag", "signoff_poisoned_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard does not query %s", want)
		}
	}
}

// TestMetricsHangingRP: an RP that hangs holds its logout up until the
// back-channel adapter gives up before the deadline (2 s): the logout
// counts partial, the hanging RP's participant timed_out, and the
// duration is at least one attempt timeout (500 ms: no result can come
// sooner), so it lands above the 0.25 s bucket.
func TestMetricsHangingRP(t *testing.T) {
	hang := newTestRP(t, "hang", "ES256", 0)
	a := startApp(t, testConfig(t, 2*time.Second, hang), hang)
	c := appClient(t, a)
	c.join("sess-1", "alice", "hang", "sid-h")
	c.logout("L-hang", "sess-1")
	if done := c.waitCompleted("L-hang", 15*time.Second); done.Outcome != events.StatusPartial {
		t.Fatalf("completed %+v, want partial", done)
	}
	mfs := waitSample(t, a.Addr(), "signoff_logout_duration_seconds", map[string]string{"outcome": "partial"}, 1)
	if v, _ := sample(mfs["signoff_participant_outcomes_total"], map[string]string{"adapter": "backchannel", "rp_id": "hang", "outcome": "timed_out"}); v != 1 {
		t.Errorf("hang timed_out = %v, want 1", v)
	}
	for _, m := range mfs["signoff_logout_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		if h.GetSampleCount() != 1 {
			continue
		}
		if h.GetSampleSum() < 0.5 {
			t.Errorf("duration %v s, below the 0.5 s attempt timeout", h.GetSampleSum())
		}
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() <= 0.25 && b.GetCumulativeCount() != 0 {
				t.Errorf("bucket le=%v counts %d, want 0", b.GetUpperBound(), b.GetCumulativeCount())
			}
		}
	}
}
