package redact

// matcher finds every occurrence of a set of patterns in one pass (an
// Aho-Corasick automaton, compiled to a table over byte classes).
type matcher struct {
	class    [256]uint16 // byte -> class; 0 for bytes in no pattern
	nclass   int         // a power of two, 1<<shift
	shift    uint
	next     []int32 // state*nclass + class -> state
	depth    []int32 // length of the prefix a state stands for
	longest  []int32 // longest pattern ending at this state (0: none)
	replLen  int
	maxDepth int
}

func newMatcher(pats []string) *matcher {
	m := &matcher{replLen: len(Replacement)}
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			if m.class[p[i]] == 0 {
				m.nclass++
				m.class[p[i]] = uint16(m.nclass)
			}
		}
	}
	m.nclass++ // class 0: every other byte
	for 1<<m.shift < m.nclass {
		m.shift++
	}
	m.nclass = 1 << m.shift
	nc := m.nclass
	// Trie.
	m.next = make([]int32, nc)
	m.depth = []int32{0}
	m.longest = []int32{0}
	for _, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := int(m.class[p[i]])
			t := m.next[int(s)*nc+c]
			if t == 0 {
				t = int32(len(m.depth))
				m.next = append(m.next, make([]int32, nc)...)
				m.depth = append(m.depth, int32(i+1))
				m.longest = append(m.longest, 0)
				m.next[int(s)*nc+c] = t
			}
			s = t
		}
		if int32(len(p)) > m.longest[s] {
			m.longest[s] = int32(len(p))
		}
		if len(p) > m.maxDepth {
			m.maxDepth = len(p)
		}
	}
	// Failure links, breadth first, turning the trie into a full
	// transition table.
	fail := make([]int32, len(m.depth))
	queue := make([]int32, 0, len(m.depth))
	for c := 0; c < nc; c++ {
		if t := m.next[c]; t != 0 {
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if l := m.longest[fail[s]]; l > m.longest[s] {
			m.longest[s] = l
		}
		for c := 0; c < nc; c++ {
			t := m.next[int(s)*nc+c]
			f := m.next[int(fail[s])*nc+c]
			if t != 0 {
				fail[t] = f
				queue = append(queue, t)
			} else {
				m.next[int(s)*nc+c] = f
			}
		}
	}
	return m
}

type span struct{ start, end int }

// redact returns buf with every match replaced. Unless final, it stops
// before any tail of buf that could begin a match continuing past the end,
// and reports how many bytes of buf (a suffix) it left for later.
func (m *matcher) redact(buf []byte, final bool) (out []byte, keep int) {
	var spans []span
	s := int32(0)
	next, class, shift := m.next, &m.class, m.shift
	for i, b := range buf {
		s = next[int(s)<<shift|int(class[b])]
		if l := int(m.longest[s]); l > 0 {
			sp := span{i + 1 - l, i + 1}
			for len(spans) > 0 && spans[len(spans)-1].end >= sp.start {
				sp.start = min(sp.start, spans[len(spans)-1].start)
				spans = spans[:len(spans)-1]
			}
			spans = append(spans, sp)
		}
	}
	cut := len(buf)
	if !final {
		cut -= int(m.depth[s])
		for i := len(spans) - 1; i >= 0; i-- {
			if spans[i].end > cut && spans[i].start < cut {
				cut = spans[i].start
			}
		}
	}
	if len(spans) == 0 {
		return buf[:cut], len(buf) - cut
	}
	out = make([]byte, 0, cut)
	prev := 0
	for _, sp := range spans {
		if sp.start >= cut {
			break
		}
		out = append(out, buf[prev:sp.start]...)
		out = append(out, Replacement...)
		prev = sp.end
	}
	if prev < cut {
		out = append(out, buf[prev:cut]...)
	}
	return out, len(buf) - cut
}
