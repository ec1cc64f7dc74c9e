package promreg

import "github.com/prometheus/client_golang/prometheus"

// Register registers every collector on reg, or none: on the first failure
// it unregisters those it had registered and returns that error, so a
// caller that fails can be built again on the same registry. A nil reg
// registers nothing.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}
