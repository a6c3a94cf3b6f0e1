//go:build race

package app

// raceEnabled is true in a test binary built with -race, whose child
// processes run several times slower.
const raceEnabled = true
