package config

import "net"

// Metrics places the Prometheus /metrics endpoint. Addition beyond the
// contract.
type Metrics struct {
	// Listen is the host:port of a listener that serves only /metrics;
	// the public listener then answers 404 for it. Empty (default) serves
	// /metrics on listen, beside the other endpoints. It must differ from
	// listen.
	Listen string `yaml:"listen"`
}

// metrics checks the metrics block.
func (v *validator) metrics(c *Config) {
	if c.Metrics.Listen == "" {
		return
	}
	if msg := checkHostPort(c.Metrics.Listen); msg != "" {
		v.add("metrics.listen", "%s", msg)
		return
	}
	if _, port, _ := net.SplitHostPort(c.Listen); c.Metrics.Listen == c.Listen && port != "0" {
		v.add("metrics.listen", "must differ from listen (%s): it is a listener of its own", c.Listen)
	}
}
