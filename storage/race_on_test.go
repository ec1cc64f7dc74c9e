//go:build race

package storage

// raceEnabled: the race detector multiplies memory use, so footprint bounds
// are not checked under it.
const raceEnabled = true
