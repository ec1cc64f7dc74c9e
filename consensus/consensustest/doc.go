// Package consensustest runs real embedded CometBFT networks on loopback for
// tests and benchmarks of any package: StartNetwork brings up n validators
// with a shared genesis, RunLoad drives transactions through them and
// measures commit throughput and latency. It is imported only from _test.go
// files and harnesses (it uses internal/testutil). Concurrency: a Network's
// nodes are safe for concurrent use; StartNetwork and WaitHeight run on the
// test goroutine. Lifecycle: everything StartNetwork starts is closed by
// tb.Cleanup. It imports consensus and internal/testutil only.
package consensustest
