package delivery

import (
	"context"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		deadline time.Time
		wantLate bool
		wantLeft time.Duration // at most this much of the context is left
	}{
		{"deadline ahead", now.Add(10 * time.Second), false, 10 * time.Second},
		{"no deadline: the default", time.Time{}, false, 30 * time.Second},
		{"deadline passed", now.Add(-time.Second), true, 0},
		{"deadline now", now, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel, late := Window(context.Background(), context.Background(), tt.deadline, now, 30*time.Second)
			if late != tt.wantLate {
				t.Fatalf("late = %v, want %v", late, tt.wantLate)
			}
			if late {
				if ctx != nil || cancel != nil {
					t.Errorf("a late window has a context")
				}
				return
			}
			defer cancel()
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left > tt.wantLeft || left <= 0 {
				t.Errorf("context deadline %v from now (set: %v), want within %v", left, ok, tt.wantLeft)
			}
		})
	}
	run, stop := context.WithCancel(context.Background())
	ctx, cancel, _ := Window(run, context.Background(), now.Add(time.Hour), now, 0)
	defer cancel()
	stop()
	if ctx.Err() == nil {
		t.Error("the window outlives the adapter's run context")
	}
}
