package main

import "log/slog"

// durationsAsStrings is a slog.HandlerOptions.ReplaceAttr that renders a
// time.Duration as Go's duration string ("1.5s", "250ms") instead of the
// integer nanoseconds of slog's JSON handler, so that JSON logs say what
// the text logs say (grace=8s, not "grace":8000000000). Values are resolved
// before ReplaceAttr sees them (log/slog: "ReplaceAttr is called on each
// non-group attribute"), so a LogValuer that yields a duration is covered,
// and attributes inside groups are covered too.
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
