package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem in the configuration. Its message reads
// "signoff.yaml:7: relying_parties[1].oidc.client_id: required".
type FieldError struct {
	// File is the config file name given to Load or Parse; empty for Default().
	File string
	// Line is the 1-based line of the key in File; 0 when the value did not
	// come from the file.
	Line int
	// Path is the key path, such as relying_parties[1].oidc.client_id; empty
	// for a YAML syntax error.
	Path string
	// Env is the environment variable that set the value, if any.
	Env string
	// Msg says what is wrong.
	Msg string
}

// Error formats e as "file:line: path: msg".
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "" && e.Env == "":
		b.WriteString(e.File + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	if e.Env != "" {
		b.WriteString(" (set by " + e.Env + ")")
	}
	return b.String()
}

// UnknownKeyError reports a key that the configuration does not have,
// usually a typo: `signoff.yaml:12: unknown key "backchanel_logout_uri" in
// relying_parties[0].oidc (did you mean "backchannel_logout_uri"?)`.
type UnknownKeyError struct {
	// File is the config file name.
	File string
	// Line is the 1-based line of the key.
	Line int
	// Key is the unknown key as written.
	Key string
	// Path is the path of the mapping that holds Key; empty at the top level.
	Path string
	// Suggestion is the closest known key, if one is close.
	Suggestion string
}

// Error formats e as `file:line: unknown key "key" in path`.
func (e *UnknownKeyError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	}
	fmt.Fprintf(&b, "unknown key %q", e.Key)
	if e.Path != "" {
		b.WriteString(" in " + e.Path)
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", e.Suggestion)
	}
	return b.String()
}

// lineOfErr returns the line an error reports, 0 if none.
func lineOfErr(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Line
	}
	var ue *UnknownKeyError
	if errors.As(err, &ue) {
		return ue.Line
	}
	return 0
}

// joinSorted joins errs sorted by line (errors without a line first, in the
// order found).
func joinSorted(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool { return lineOfErr(errs[i]) < lineOfErr(errs[j]) })
	return errors.Join(errs...)
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

// splitLine splits "line 3: msg" from a yaml.v3 message into 3 and "msg".
func splitLine(msg string) (int, string) {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg
	}
	n, _ := strconv.Atoi(m[1])
	return n, msg[len(m[0]):]
}

// Problem returns a *FieldError at the key path of c, with the file and
// line of that key (or of its nearest parent) when it came from the file:
// for problems found outside this package, such as a metadata file that
// does not parse.
func (c *Config) Problem(path, format string, args ...any) error {
	v := &validator{src: c.src}
	v.add(path, format, args...)
	return v.errs[0]
}

// JoinProblems joins errs (each possibly an errors.Join of several) into
// one error, sorted by line like the errors of Load.
func JoinProblems(errs ...error) error {
	var flat []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
			continue
		}
		flat = append(flat, err)
	}
	if len(flat) == 0 {
		return nil
	}
	return joinSorted(flat)
}
