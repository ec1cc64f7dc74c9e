// Package atomicfile writes a file so that readers see either its old
// contents or its complete new contents, never a part: it writes a temporary
// file in the same directory, syncs it, and renames it into place.
//
// Only a regular file (or a missing one) is replaced that way. A target
// that exists and is not a regular file, such as /dev/null, a FIFO or a
// Unix socket, is written in place as a shell redirection would, and is
// never renamed over: replacing a device with a regular file would break
// every later use of it on that machine. A symbolic link is followed, so
// the file it names is replaced and the link stays.
//
// It imports only the standard library.
package atomicfile
