// Package promreg holds what every package's Prometheus metrics share: how a
// set of collectors is registered.
package promreg
