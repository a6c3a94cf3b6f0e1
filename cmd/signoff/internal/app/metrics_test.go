package app

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
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
	eventually(t, 5*time.Second, func() error {
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
	}
}
