package config

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
