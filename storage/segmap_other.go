//go:build !unix

package storage

import "os"

// Off unix, segments are read with pread only.

func mapSegment(*os.File, int64) ([]byte, error) { return nil, nil }

func unmapSegment([]byte) error { return nil }

func copyMapped(src []byte) ([]byte, error) { return append([]byte(nil), src...), nil }
