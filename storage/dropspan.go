package storage

// droppedThrough returns where the next pass should start dropping, in pages
// from where this one started, given the page-cache residency vec of the
// span it dropped (vec[i]&1 set: page i is cached, as mincore reports it):
// at the first page still cached, which the kernel kept because it was
// dirtied again or is mapped, or past the span if none is.
func droppedThrough(vec []byte) int {
	for i, v := range vec {
		if v&1 != 0 {
			return i
		}
	}
	return len(vec)
}

// cachedPages counts the cached pages in a residency vector.
func cachedPages(vec []byte) int {
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
