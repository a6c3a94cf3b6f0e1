package web

// noChanges is the Changes of a Browser configured without one: it never
// notifies, so waits see changes at Recheck only.
type noChanges struct{}

func (noChanges) Watch(string) (<-chan struct{}, func()) { return nil, func() {} }
