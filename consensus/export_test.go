package consensus

// PendingTxWaiters reports how many BroadcastTxCommit calls are registered
// with n's event router, so tests can check that waiters are cleaned up.
func PendingTxWaiters(n *Node) int {
	l, err := n.running()
	if err != nil {
		return 0
	}
	return l.router.pendingTxWaiters()
}
