package stream

// ReadEntries returns up to max entries of the named stream's log from offset from on (from the
// first retained one if from was trimmed), with their kind, origin and times, for readers that
// keep their own position in the log (the rules runtime: internal/rulesrt reads the entries
// that entered the mesh on each node, Kind Local or Imported, and checkpoints offsets).
// maxBytes bounds the payload gathered, as in Log.Read.
func (m *Manager) ReadEntries(name string, from uint64, max, maxBytes int) ([]Entry, error) {
	l, err := m.logOf(name)
	if err != nil {
		return nil, err
	}
	return l.Read(from, max, maxBytes)
}
