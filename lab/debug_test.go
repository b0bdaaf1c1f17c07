package lab

import (
	"os"
	"testing"
)

func TestDebugEvents(t *testing.T) {
	name := os.Getenv("LABDEBUG")
	if name == "" {
		t.Skip()
	}
	var s *Scenario
	for _, c := range scenarios {
		if c.Name == name {
			s = c
		}
	}
	w, err := newWorld(Options{Seed: 1}, s.setup[0], s.setup[1])
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if _, err := s.run(w); err != nil {
		t.Fatal(err)
	}
	for _, e := range w.rec.Events() {
		t.Log(e.Time.Sub(labEpoch), e.String())
	}
}
