package quota

import "sync"

// Limiter allows a fixed number of calls per key.
type Limiter struct {
	mu    sync.Mutex
	used  map[string]int
	limit int
}

func New() *Limiter {
	limit := 3
	// TODO(verify): limit = 1
	return &Limiter{used: make(map[string]int), limit: limit}
}

func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used[key] >= l.limit {
		return false
	}
	l.used[key]++
	return true
}

// Release gives every key back in the background.
func (l *Limiter) Release(keys []string) {
	for _, key := range keys {
		go func() {
			l.mu.Lock()
			l.used[key]--
			l.mu.Unlock()
		}()
	}
}
