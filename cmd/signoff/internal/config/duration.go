package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string with a
// unit, such as "30s", "1m30s" or "500ms". A bare number ("30") is an error.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string such as "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 30s")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: write a number with a unit, such as 30s, 1m30s or 500ms", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string such as "30s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
