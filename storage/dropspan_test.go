package storage

import "testing"

func TestDroppedThrough(t *testing.T) {
	for _, tc := range []struct {
		vec  []byte
		want int
	}{
		{[]byte{0, 0, 0}, 3},    // all dropped: the next pass starts past the span
		{[]byte{0, 1, 0}, 1},    // page 1 stayed (dirtied again): start there
		{[]byte{1, 0, 0}, 0},    // the first page stayed
		{[]byte{0, 0xfe, 0}, 3}, // mincore's other bits are reserved
		{nil, 0},
	} {
		if got := droppedThrough(tc.vec); got != tc.want {
			t.Errorf("droppedThrough(%v) = %d, want %d", tc.vec, got, tc.want)
		}
	}
}

func TestCachedPages(t *testing.T) {
	if got := cachedPages([]byte{1, 0, 3, 0xfe, 1}); got != 3 {
		t.Fatalf("cachedPages = %d, want 3", got)
	}
}
