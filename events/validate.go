package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/signoff/signoff/schemas"
)

// schemaVersion is the version of the schema files the events of this
// package are encoded with.
const schemaVersion = "v1"

// maxReason caps InvalidError.Reason, in bytes.
const maxReason = 500

// eventTypes lists one value of every event type; each has a schema file
// schemas/<SchemaName>.v1.json.
var eventTypes = []Event{
	SessionJoined{},
	SessionActivity{},
	LogoutRequested{},
	Dispatch{},
	Result{},
	Completed{},
}

// compiled is one compiled schema with the property names of its Go type.
type compiled struct {
	name   string
	typ    reflect.Type // the event type, not a pointer
	schema *jsonschema.Schema
	fields *fieldSet
}

// registry holds the compiled schema of every event type by schema name. It
// is built once, at package initialisation; a broken embedded schema
// panics there.
var registry = mustCompileAll()

func mustCompileAll() map[string]*compiled {
	c, err := newCompiler(schemas.FS)
	if err != nil {
		panic("events: " + err.Error())
	}
	m := make(map[string]*compiled, len(eventTypes))
	for _, e := range eventTypes {
		name := e.SchemaName()
		sch, err := c.Compile(schemaURL(name))
		if err != nil {
			panic(fmt.Sprintf("events: compile schema %s: %v", name, err))
		}
		t := reflect.TypeOf(e)
		m[name] = &compiled{name: name, typ: t, schema: sch, fields: fieldsOf(t)}
	}
	return m
}

// schemaFile returns the file name in package schemas of the schema name.
func schemaFile(name string) string { return name + "." + schemaVersion + ".json" }

// schemaURL returns the $id of the schema name.
func schemaURL(name string) string { return schemas.BaseURL + schemaFile(name) }

// newCompiler returns a compiler that asserts formats and knows every
// schema file of fsys under its $id, which must be schemas.BaseURL followed
// by the file name.
func newCompiler(fsys fs.FS) (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "uuid", Validate: validateUUID})
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: validateDateTime})
	files, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no schema files")
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", f, err)
		}
		obj, _ := doc.(map[string]any)
		if id, _ := obj["$id"].(string); id != schemas.BaseURL+f {
			return nil, fmt.Errorf("schema %s: $id is %q, want %q", f, id, schemas.BaseURL+f)
		}
		if err := c.AddResource(schemas.BaseURL+f, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", f, err)
		}
	}
	return c, nil
}

func lookup(name string) (*compiled, error) {
	s := registry[name]
	if s == nil {
		return nil, fmt.Errorf("events: no schema named %q", name)
	}
	return s, nil
}

// validate checks data against the schema and the letter case of property
// names.
func (s *compiled) validate(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return &InvalidError{Schema: s.name, Reason: notJSONReason(err)}
	}
	if err := s.schema.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return &InvalidError{Schema: s.name, Reason: capReason(err.Error())}
		}
		return &InvalidError{Schema: s.name, Reason: flatten(ve)}
	}
	if reason := s.fields.check(v, ""); reason != "" {
		return &InvalidError{Schema: s.name, Reason: capReason(reason)}
	}
	return nil
}

func notJSONReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return capReason("not JSON: " + se.Error() + " (at byte " + strconv.FormatInt(se.Offset, 10) + ")")
	}
	return capReason("not JSON: " + err.Error())
}

// Formats. Both are stricter than or equal to the built-in ones of the
// jsonschema module and agree with what encoding/json and package time
// accept, so that a message that validates also unmarshals.

// validateUUID accepts the 36-character hyphenated hex form of a UUID
// (RFC 9562, section 4), in either letter case, without allocating.
func validateUUID(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if len(s) != 36 {
		return errors.New("must be 36 characters like 0190f1d2-8a3b-7c4d-9e5f-a0b1c2d3e4f5")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return errors.New("must have hyphens at positions 9, 14, 19 and 24")
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return errors.New("must be hexadecimal digits and hyphens")
			}
		}
	}
	return nil
}

// validateDateTime accepts an RFC 3339 date-time (section 5.6) with an
// upper-case T, Z or a numeric offset, and seconds 00-59, as
// time.Time.UnmarshalJSON does: 2006-01-02T15:04:05Z,
// 2006-01-02T15:04:05.999+02:00.
func validateDateTime(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if !dateTimeShape(s) {
		return errors.New("must be like 2006-01-02T15:04:05Z or 2006-01-02T15:04:05.5+02:00")
	}
	var t time.Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		return errors.New("date or time out of range")
	}
	return nil
}

// dateTimeShape checks the layout of an RFC 3339 date-time:
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
func dateTimeShape(s string) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(layout)+1 {
		return false
	}
	for i := 0; i < len(layout); i++ {
		if !matchLayout(layout[i], s[i]) {
			return false
		}
	}
	rest := s[len(layout):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	if len(rest) != 6 || rest[0] != '+' && rest[0] != '-' {
		return false
	}
	for i, l := range []byte("dd:dd") {
		if !matchLayout(l, rest[1+i]) {
			return false
		}
	}
	return (rest[1]-'0')*10+(rest[2]-'0') <= 23 && (rest[4]-'0')*10+(rest[5]-'0') <= 59
}

func matchLayout(l, c byte) bool {
	if l == 'd' {
		return '0' <= c && c <= '9'
	}
	return l == c
}

// Reasons.

// printer renders the messages of the jsonschema module.
var printer = message.NewPrinter(language.English)

// flatten turns a validation error into one line: the leaf causes as
// "at <instance location>: <message>", sorted by location and joined by
// "; ". The alternatives of a failed anyOf or oneOf are listed in
// parentheses, separated by " | ".
func flatten(ve *jsonschema.ValidationError) string {
	var leaves []leaf
	collectLeaves(&leaves, ve)
	return capReason(joinLeaves(leaves, nil))
}

// leaf is one cause of a validation error.
type leaf struct {
	loc string // JSON pointer; "" for the whole message
	msg string
}

func collectLeaves(out *[]leaf, ve *jsonschema.ValidationError) {
	if len(ve.Causes) == 0 {
		*out = append(*out, leaf{pointer(ve.InstanceLocation), leafMessage(ve.ErrorKind)})
		return
	}
	switch ve.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		loc := pointer(ve.InstanceLocation)
		alts := make([]string, 0, len(ve.Causes))
		for _, alt := range ve.Causes {
			var ls []leaf
			collectLeaves(&ls, alt)
			alts = append(alts, joinLeaves(ls, &loc))
		}
		msg := ve.ErrorKind.LocalizedString(printer) + " (" + strings.Join(alts, " | ") + ")"
		*out = append(*out, leaf{loc, msg})
		return
	}
	for _, c := range ve.Causes {
		collectLeaves(out, c)
	}
}

// joinLeaves sorts leaves by location and joins them with "; ", leaving
// out the location where it is *omit.
func joinLeaves(leaves []leaf, omit *string) string {
	slices.SortStableFunc(leaves, func(a, b leaf) int {
		if c := strings.Compare(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	var b strings.Builder
	for i, l := range leaves {
		if i > 0 {
			b.WriteString("; ")
		}
		if omit == nil || l.loc != *omit {
			b.WriteString("at ")
			b.WriteString(displayLoc(l.loc))
			b.WriteString(": ")
		}
		b.WriteString(l.msg)
	}
	return b.String()
}

// leafMessage renders k, quoting at most a short prefix of the value.
func leafMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Format:
		got := fmt.Sprint(k.Got)
		if s, ok := k.Got.(string); ok {
			got = quoteShort(s)
		}
		return got + " is not a valid " + k.Want + ": " + k.Err.Error()
	case *kind.Pattern:
		return quoteShort(k.Got) + " does not match " + k.Want
	case *kind.Enum:
		var b strings.Builder
		if len(k.Want) == 1 {
			b.WriteString("value must be ")
		} else {
			b.WriteString("value must be one of ")
		}
		for i, w := range k.Want {
			if i > 0 {
				b.WriteString(", ")
			}
			if s, ok := w.(string); ok {
				b.WriteString(strconv.Quote(s))
			} else {
				fmt.Fprint(&b, w)
			}
		}
		return b.String()
	}
	return k.LocalizedString(printer)
}

// displayLoc renders a JSON pointer for a reason: "root" for the whole
// message.
func displayLoc(ptr string) string {
	if ptr == "" {
		return "root"
	}
	return ptr
}

// pointer renders an instance location as a JSON pointer (RFC 6901).
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(escapeToken(tok))
	}
	return b.String()
}

// escapeToken escapes a reference token of a JSON pointer (RFC 6901,
// section 3).
func escapeToken(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// quoteShort quotes s as a Go string, cut to its first 64 bytes.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(cutUTF8(s, max)) + "…"
}

// capReason makes r one line of at most maxReason bytes.
func capReason(r string) string {
	if strings.ContainsAny(r, "\r\n") {
		r = strings.NewReplacer("\r", " ", "\n", " ").Replace(r)
	}
	if len(r) > maxReason {
		r = cutUTF8(r, maxReason-len("…")) + "…"
	}
	return r
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Letter case of property names.
//
// encoding/json matches object keys to struct fields without regard to
// letter case. The schema, which is case-sensitive and allows unknown
// properties, would accept {"initiator": "user", "Initiator": "x"} and
// json.Unmarshal would then store "x". fieldSet.check rejects such keys.

// fieldSet holds the JSON property names of a struct type.
type fieldSet struct {
	names []string
	// nested holds every name; its value describes the properties of a
	// nested object (or of the objects of an array), or is nil.
	nested map[string]*fieldSet
}

var timeType = reflect.TypeFor[time.Time]()

// fieldsOf returns the property names of struct type t and of the structs
// it holds.
func fieldsOf(t reflect.Type) *fieldSet {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return nil
	}
	fs := &fieldSet{nested: make(map[string]*fieldSet, t.NumField())}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs.names = append(fs.names, name)
		fs.nested[name] = fieldsOf(f.Type)
	}
	return fs
}

// check returns a reason when an object in v has a property that is not
// one of the known names but equals one of them ignoring letter case, or
// "" when there is none. at is the JSON pointer of v.
func (fs *fieldSet) check(v any, at string) string {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			sub, known := fs.nested[k]
			if known {
				if sub != nil {
					if r := sub.check(val, at+"/"+escapeToken(k)); r != "" {
						return r
					}
				}
				continue
			}
			for _, n := range fs.names {
				if strings.EqualFold(k, n) {
					return "at " + at + "/" + escapeToken(k) + ": property name differs from " + strconv.Quote(n) + " only in letter case"
				}
			}
		}
	case []any:
		for i, el := range v {
			if r := fs.check(el, at+"/"+strconv.Itoa(i)); r != "" {
				return r
			}
		}
	}
	return ""
}
