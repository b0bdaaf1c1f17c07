//go:build linux && race

package main

// The tests run with -race: build the synack binary with it too.
func init() { raceEnabled = true }
