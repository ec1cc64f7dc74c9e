//go:build !linux

package storage

// Dropping written pages is a no-op off Linux (see Config.DropWritten).

func (ss *segments) dropHeads() map[uint32]int64 { return nil }

func (ss *segments) dropWritten(map[uint32]int64) (int64, error) { return 0, nil }

func (ss *segments) forget(location) {}
