// Package xnode holds the vocabulary every other package shares: the error
// kinds of the HTTP and CLI error taxonomy.
//
// Packages wrap these kinds into their own sentinels, for example
//
//	var ErrNotFound = fmt.Errorf("storage: block %w", xnode.ErrNotFound)
//
// so that errors.Is(err, xnode.ErrNotFound) holds for any of them and the API
// maps a failure to its response code in one place (api.codeFor). This package
// imports nothing from the project.
package xnode
