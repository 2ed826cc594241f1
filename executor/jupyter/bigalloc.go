package jupyter

import (
	"runtime/debug"
	"runtime/metrics"
)

// largeValue is the size from which a kept value is allocated by allocLarge.
const largeValue = 1 << 20

// allocLarge returns an empty slice with room for n bytes, for a long value
// (an image, say) that is kept whole.
//
// At the collector's default pacing the heap may grow to twice what was live
// at the last collection before the next one starts. In a client whose live
// heap is mostly the previous long value (a caller that has done with one
// result and waits for the next), the new value would then be allocated
// beside the old, dead one, and peak memory would be twice the value. When
// the value is large against the live heap, a collection first frees the old
// one, and what it frees goes back to the system at once (small allocations
// made meanwhile would otherwise keep the new value from fitting in the old
// one's place, and both would stay resident). The collection costs in
// proportion to the live heap, which is then small beside the cost of
// receiving the value; a process with a large live heap is not collected for
// it.
func allocLarge(n int) []byte {
	if n >= largeValue && liveHeap() < 2*uint64(n) {
		debug.FreeOSMemory()
	}
	return make([]byte, 0, n)
}

// liveHeap is the heap found live by the last collection, in bytes.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
