package serverless

// MemoryLeftovers describes what s holds: its records and the topics of
// its index, for the contract tests.
func MemoryLeftovers(s *MemoryStore) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var left []string
	for id := range s.records {
		left = append(left, "record "+id)
	}
	for topic := range s.topics {
		left = append(left, "topic "+topic)
	}
	return left
}
