//go:build race

package tcp

func init() { raceEnabled = true }
