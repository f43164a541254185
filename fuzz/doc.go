// Package fuzz holds the fuzz targets for Wharf's decoders: remoting frames
// and headers, and the other byte formats read from the network or disk.
// Every target also runs its seed corpus in plain `go test ./fuzz/`.
package fuzz
