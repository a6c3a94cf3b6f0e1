package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// source records where the values of a Config came from.
type source struct {
	name  string            // file name given to Parse
	dir   string            // directory of name, for relative paths
	lines map[string]int    // key path → line of the key (or sequence element)
	set   map[string]bool   // key paths given a non-null value in the file
	env   map[string]string // key path → environment variable that set it
}

// isSet reports whether path was given a non-null value in the file or the
// environment.
func (s *source) isSet(path string) bool {
	if s == nil {
		return false
	}
	_, env := s.env[path]
	return s.set[path] || env
}

// locate returns the line of path, or of its closest ancestor present in the
// file when path itself is absent, and the environment variable that set it.
func (s *source) locate(path string) (line int, env string) {
	if s == nil {
		return 0, ""
	}
	if e, ok := s.env[path]; ok {
		return 0, e
	}
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l, ""
		}
	}
	return 0, ""
}

// parentPath returns "a.b" for "a.b.c" and "a" for "a[1]".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
)

// walker checks a YAML node tree against the Config types before decoding:
// unknown and duplicate keys, wrong shapes and wrong scalar types, each with
// its key path and line; it records the line of every key on the way.
type walker struct {
	src  *source
	errs []error
}

func (w *walker) fail(line int, path, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{File: w.src.name, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// walk checks n against type t at path. Recursion follows the Go type, which
// is not recursive, so aliases cannot make it loop.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			w.fail(n.Line, path, "must be a list")
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.src.lines[p] = e.Line
			w.walk(e, t.Elem(), p)
		}
	default:
		w.leaf(n, t, path)
	}
}

// mapping checks a mapping node against struct type t.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n.Line, path, "must be a mapping of keys to values")
		return
	}
	fields := yamlFields(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			w.merge(v, t, path)
			continue
		}
		ft, ok := fields[k.Value]
		if !ok {
			w.errs = append(w.errs, &UnknownKeyError{
				File: w.src.name, Line: k.Line, Key: k.Value, Path: path,
				Suggestion: suggest(k.Value, fields),
			})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.fail(k.Line, joinPath(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		p := joinPath(path, k.Value)
		w.src.lines[p] = k.Line
		if !isNull(resolveAlias(v)) {
			w.src.set[p] = true
		}
		w.walk(v, ft, p)
	}
}

// merge checks the value of a "<<" merge key: a mapping or a list of them.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) {
	v = resolveAlias(v)
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			w.mapping(resolveAlias(e), t, path)
		}
		return
	}
	w.mapping(v, t, path)
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

// leaf decodes a scalar (or list of scalars) into a fresh value of type t to
// report a type mismatch at its own path and line.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) {
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, e := range n.Content {
			w.src.lines[fmt.Sprintf("%s[%d]", path, i)] = e.Line
		}
	}
	if t.Kind() == reflect.Map && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.src.lines[joinPath(path, n.Content[i].Value)] = n.Content[i].Line
		}
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	line := n.Line
	if l, ok := w.src.lines[path]; ok {
		line = l // the key's line, also when its value starts on the next one
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		w.fail(line, path, "%s", err.Error())
		return
	}
	if n.Kind == yaml.SequenceNode && len(te.Errors) > 0 { // the offending element
		if l, _ := splitLine(te.Errors[0]); l > 0 {
			line = l
		}
	}
	var msg string
	switch t.Kind() {
	case reflect.Int:
		msg = "must be an integer"
	case reflect.Bool:
		msg = "must be true or false"
	case reflect.String:
		msg = "must be a string"
	case reflect.Slice:
		msg = "must be a list of strings"
	default:
		_, msg = splitLine(te.Errors[0])
	}
	if n.Kind == yaml.ScalarNode {
		msg += fmt.Sprintf(", got %q", n.Value)
	}
	w.fail(line, path, "%s", msg)
}

// yamlFields maps the YAML keys of struct type t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

// suggest returns the known key closest to key, or "" if none is close.
func suggest(key string, fields map[string]reflect.Type) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestD := "", 3 // suggest only within an edit distance of 2
	for _, name := range names {
		if norm(name) == norm(key) {
			return name
		}
		if d := editDistance(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
