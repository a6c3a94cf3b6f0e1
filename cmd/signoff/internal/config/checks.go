package config

import (
	"os"
	"strings"
)

// uniqueID checks the id at key path, the id of list[i]: it is required,
// 1-64 characters of A-Z a-z 0-9 . _ -, and not the id of an earlier entry
// of list (seen maps the ids so far to their index, and gains this one).
func (v *validator) uniqueID(path, list, id string, i int, seen map[string]int) {
	switch {
	case id == "":
		v.add(path, "required")
	case !rpIDRE.MatchString(id):
		v.add(path, "must be 1-64 characters of A-Z a-z 0-9 . _ -, got %q", id)
	default:
		if j, dup := seen[id]; dup {
			v.add(path, "%q is already the id of %s[%d]", id, list, j)
		} else {
			seen[id] = i
		}
	}
}

// readSecretFile reads the secret file given at key path (relative to the
// config file) and returns its content without the trailing line break, and
// the path it read, for messages. An unreadable file is reported at path
// (never its content) and ok is false.
func (v *validator) readSecretFile(c *Config, path, file string) (s, p string, ok bool) {
	p = c.relative(file)
	b, err := os.ReadFile(p)
	if err != nil {
		v.add(path, "%s", fileErr(p, err))
		return "", p, false
	}
	return strings.TrimRight(string(b), "\r\n"), p, true
}
