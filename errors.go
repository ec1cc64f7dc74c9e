package xnode

import "errors"

// Error kinds. Each matches one code of the contract's error taxonomy.
var (
	// ErrInvalidArgument is bad input from the caller: INVALID_ARGUMENT, 400.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound is a well-formed name that nothing answers to: NOT_FOUND, 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict is a request that clashes with committed state: CONFLICT, 409.
	ErrConflict = errors.New("conflict")
	// ErrTooLarge is a body or object over its limit: TOO_LARGE, 413.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable means the network cannot serve the request now (too few
	// live members, no owner reachable): UNAVAILABLE, 503.
	ErrUnavailable = errors.New("unavailable")
	// ErrOverloaded means the node sheds load; the client should retry after a
	// pause: OVERLOADED, 503 with Retry-After.
	ErrOverloaded = errors.New("overloaded")
	// ErrTimeout means a deadline passed before the work finished: TIMEOUT, 504.
	ErrTimeout = errors.New("timeout")
	// ErrIntegrity means bytes did not match their content address. Wrong
	// bytes are never served; the request fails with INTERNAL, 500, when no
	// good copy could be found.
	ErrIntegrity = errors.New("integrity check failed")
)
