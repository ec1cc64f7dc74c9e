package gossip

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// service, pubsub and mock network must be closed by its test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
