//go:build !linux

package storage

// pageDropper is a no-op off Linux (see Config.DropWritten).
type pageDropper struct{}

func newPageDropper(string) (*pageDropper, error) { return &pageDropper{}, nil }

func (*pageDropper) heads() (map[uint32]int64, error) { return nil, nil }

func (*pageDropper) drop(map[uint32]int64) (int64, error) { return 0, nil }
