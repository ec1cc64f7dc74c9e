// Package testutil holds small helpers shared by the project's tests: waiting
// for a condition with a deadline (never a bare sleep), free loopback ports and
// quiet loggers. Free ports come from below the kernel's ephemeral range, so
// an outgoing connection cannot take one before the test binds it. It is
// imported only from _test.go files and test harnesses.
package testutil
