//go:build race

package gossip

// raceEnabled: the race detector slows everything about tenfold, so
// multi-node tests shrink to stay about membership rather than CPU.
const raceEnabled = true
