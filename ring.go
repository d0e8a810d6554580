package wsroute

// ring is a FIFO queue on a circular buffer that grows as needed; bounds are
// enforced by its users. The zero value is empty. Not safe for concurrent use.
type ring[T any] struct {
	buf  []T
	head int
	n    int
}

func (q *ring[T]) len() int { return q.n }

func (q *ring[T]) push(v T) {
	if q.n == len(q.buf) {
		nb := make([]T, max(8, 2*len(q.buf)))
		for i := range q.n {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
}

// peek returns the oldest item; the queue must not be empty.
func (q *ring[T]) peek() *T { return &q.buf[q.head] }

// pop removes and returns the oldest item; the queue must not be empty.
func (q *ring[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return v
}

// clear empties the queue and releases its buffer.
func (q *ring[T]) clear() { *q = ring[T]{} }
