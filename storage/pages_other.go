//go:build !linux

package storage

// releaseMappedPages is a no-op off Linux, where RSS accounting of mapped
// files is left to the platform.
func (s *Store) releaseMappedPages() (int64, error) { return 0, nil }

func resolveDir(string) string { return "" }
