//go:build race

package synack_test

func init() { raceEnabled = true }
