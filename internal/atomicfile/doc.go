// Package atomicfile writes a file so that readers see either its old
// contents or its complete new contents, never a part: it writes a temporary
// file in the same directory, syncs it, and renames it into place.
package atomicfile
