package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// Buckets of the histograms, in seconds (documented in the README,
// "Metrics").
var (
	// LogoutDurationBuckets cover a logout from its start to its
	// logout.completed: from a few RPs answering on a LAN (tens of
	// milliseconds) up to the largest logout.deadline (10 minutes), where
	// a logout with an RP that never answers ends.
	LogoutDurationBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	// DeliveryLatencyBuckets cover a participant from its dispatch to its
	// adapter's result: one HTTP round trip (milliseconds), retries within
	// backchannel.attempt_timeout (5 s by default), a browser walking the
	// front-channel frames (seconds), up to a logout deadline.
	DeliveryLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
)

// otherLabel replaces a label value outside the bounded set (an rp_id that
// is not configured, an unknown adapter, outcome or subject), so that no
// event can create a new series.
const otherLabel = "other"

// metrics is signoff's Prometheus registry: a private one per App (no
// global state), the coordinator's Observer, and the /metrics listener
// when metrics.listen is set.
type metrics struct {
	reg      *prometheus.Registry
	rpIDs    map[string]bool
	adapters map[string]bool
	outcomes map[events.Outcome]bool
	subjects map[string]bool

	logoutDuration  *prometheus.HistogramVec
	logouts         *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	participants    *prometheus.CounterVec
	lateResults     prometheus.Counter
	poisoned        *prometheus.CounterVec

	srv *http.Server
	ln  net.Listener
}

var _ coordinator.Observer = (*metrics)(nil)

// newMetrics builds the registry with the families signoff itself counts;
// the rest read the App's parts at scrape time (registerMetrics).
func newMetrics(cfg *config.Config) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		rpIDs:    map[string]bool{saga.LocalRPID: true},
		adapters: map[string]bool{"none": true},
		outcomes: map[events.Outcome]bool{events.OutcomeSucceeded: true, events.OutcomeFailed: true,
			events.OutcomeTimedOut: true, events.OutcomeUnsupported: true},
		subjects: map[string]bool{},
	}
	for _, k := range adapterKinds {
		m.adapters[string(k.name)] = true
	}
	for _, s := range coordinator.IntakeSubjects {
		m.subjects[s] = true
	}
	for _, rp := range cfg.RelyingParties {
		m.rpIDs[rp.ID] = true
	}
	m.logoutDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "signoff_logout_duration_seconds",
		Help:    "Time from the start of a logout (its logout.requested applied) to its logout.completed, by outcome.",
		Buckets: LogoutDurationBuckets,
	}, []string{"outcome"})
	m.logouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signoff_logouts_completed_total",
		Help: "Logouts completed, by outcome (complete: every participant signed out; partial: not all).",
	}, []string{"outcome"})
	m.deliveryLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "signoff_delivery_latency_seconds",
		Help:    "Time from the dispatch of a participant (start of its logout) to the result its adapter reported, by adapter.",
		Buckets: DeliveryLatencyBuckets,
	}, []string{"adapter"})
	m.participants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signoff_participant_outcomes_total",
		Help: "Final outcomes of the participants of completed logouts, by adapter and rp_id (configured ids, signoff, or other).",
	}, []string{"adapter", "rp_id", "outcome"})
	m.lateResults = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "signoff_late_results_total",
		Help: "logout.result events for a logout that had already ended (after its deadline, or redelivered); they change nothing.",
	})
	m.poisoned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signoff_poisoned_total",
		Help: "Events put on signoff.poison (invalid, forged, unknown rp_id or logout_id), by the subject they came on.",
	}, []string{"subject"})
	m.reg.MustRegister(m.logoutDuration, m.logouts, m.deliveryLatency, m.participants, m.lateResults, m.poisoned,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Series that exist from the start, at 0, so that rates and the
	// dashboard show them before the first logout.
	for _, o := range []events.Status{saga.StatusComplete, saga.StatusPartial} {
		m.logouts.WithLabelValues(string(o))
		m.logoutDuration.WithLabelValues(string(o))
	}
	for subject := range m.subjects {
		m.poisoned.WithLabelValues(subject)
	}
	for _, rp := range cfg.RelyingParties {
		ad := rpAdapter(rp)
		adapter := m.adapter(ad)
		for o := range m.outcomes {
			m.participants.WithLabelValues(adapter, rp.ID, string(o))
		}
		if ad != "" {
			m.deliveryLatency.WithLabelValues(adapter)
		}
	}
	return m
}

// dispatchSubjects adds the dispatch subjects of the named adapters (the
// Dispatchers) to the bounded subjects of signoff_poisoned_total, each
// series at 0.
func (m *metrics) dispatchSubjects(adapters []events.Adapter) {
	for _, a := range adapters {
		s := events.DispatchSubject(a)
		m.subjects[s] = true
		m.poisoned.WithLabelValues(s)
	}
}

func bounded[V ~string](set map[V]bool, v V) string {
	if set[v] {
		return string(v)
	}
	return otherLabel
}

func (m *metrics) adapter(a events.Adapter) string {
	if a == "" {
		return "none"
	}
	return bounded(m.adapters, string(a))
}

// LogoutCompleted implements coordinator.Observer.
func (m *metrics) LogoutCompleted(outcome events.Status, took time.Duration, parts []events.ParticipantOutcome) {
	label := string(outcome)
	if outcome != saga.StatusComplete && outcome != saga.StatusPartial {
		label = otherLabel
	}
	m.logouts.WithLabelValues(label).Inc()
	m.logoutDuration.WithLabelValues(label).Observe(took.Seconds())
	for _, p := range parts {
		m.participants.WithLabelValues(m.adapter(p.Adapter), bounded(m.rpIDs, p.RPID), bounded(m.outcomes, p.Outcome)).Inc()
	}
}

// ParticipantResult implements coordinator.Observer.
func (m *metrics) ParticipantResult(adapter events.Adapter, _ string, _ events.Outcome, took time.Duration) {
	m.deliveryLatency.WithLabelValues(m.adapter(adapter)).Observe(took.Seconds())
}

// LateResult implements coordinator.Observer.
func (m *metrics) LateResult(events.Adapter, string) { m.lateResults.Inc() }

// Poisoned implements coordinator.Observer; the work consumers call it too.
func (m *metrics) Poisoned(subject string) {
	m.poisoned.WithLabelValues(bounded(m.subjects, subject)).Inc()
}

// counterFunc is a counter read from a part of the App at scrape time.
func counterFunc(name, help string, v func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
}

func gaugeFunc(name, help string, labels prometheus.Labels, v func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, v)
}

// registerMetrics adds the families read from the App's parts: the outbox relay,
// the Metered adapters' collectors, the ordered intake and the work consumers. Their
// names are those of the hand-written /metrics of earlier versions.
func (a *App) registerMetrics() {
	cs := []prometheus.Collector{
		counterFunc("signoff_outbox_published_total", "Events published by the outbox relay.", a.published.Load),
		counterFunc("signoff_intake_events_total", "Events applied by the coordinator's ordered intake.", func() uint64 { return a.engine.Stats().Events }),
		counterFunc("signoff_intake_batches_total", "sqlite transactions of the ordered intake.", func() uint64 { return a.engine.Stats().Batches }),
		counterFunc("signoff_unknown_rp_joins_total", "session.joined events for an rp_id that is not configured (poisoned, nothing registered).", a.engine.UnknownRPJoins),
		gaugeFunc("signoff_intake_lag", "Events of the coordinator's subjects in the stream not yet delivered to the intake.", nil,
			func() float64 { return float64(a.engine.Stats().Pending) }),
		gaugeFunc("signoff_intake_applied_sequence", "Stream sequence of the last event the intake applied.", nil,
			func() float64 { return float64(a.engine.Stats().Applied) }),
	}
	for _, wc := range a.work {
		l := prometheus.Labels{"consumer": wc.Name()}
		cs = append(cs,
			gaugeFunc("signoff_consumer_lag", "Messages not yet delivered to a work consumer.", l, func() float64 { return float64(wc.Stats().Pending) }),
			gaugeFunc("signoff_consumer_ack_pending", "Messages delivered to a work consumer and not yet acknowledged.", l, func() float64 { return float64(wc.Stats().AckPending) }))
	}
	for _, m := range capable[Metered](a.adapters) {
		cs = append(cs, m.Collectors()...)
	}
	for _, c := range a.bridgeCounters() {
		cs = append(cs, counterFunc(c.Name, c.Help, c.Value))
	}
	cs = append(cs, partitionCollector{a})
	a.prom.reg.MustRegister(cs...)
}

// startMetrics registers the App's families and returns the /metrics
// handler of the public listener; with metrics.listen it starts a listener
// that serves only /metrics and returns nil (the public port answers 404).
func (a *App) startMetrics() (http.Handler, error) {
	a.registerMetrics()
	h := promhttp.InstrumentMetricHandler(a.prom.reg, promhttp.HandlerFor(a.prom.reg, promhttp.HandlerOpts{
		Registry: a.prom.reg, ErrorHandling: promhttp.ContinueOnError,
	}))
	if a.cfg.Metrics.Listen == "" {
		return h, nil
	}
	ln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", a.cfg.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	a.prom.ln = ln
	a.prom.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := a.prom.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server", "err", err)
		}
	}()
	a.log.Info("metrics on a listener of their own", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return nil, nil
}

// stopMetrics closes the metrics listener, if any.
func (a *App) stopMetrics(ctx context.Context) error {
	if a.prom == nil || a.prom.srv == nil {
		return nil
	}
	return a.prom.srv.Shutdown(ctx)
}

// MetricsAddr is the address of the metrics.listen listener ("" without
// one: /metrics is then on Addr).
func (a *App) MetricsAddr() string {
	if a.prom == nil || a.prom.ln == nil {
		return ""
	}
	return a.prom.ln.Addr().String()
}
