//go:build !race

package app

// raceEnabled is true in a test binary built with -race.
const raceEnabled = false
