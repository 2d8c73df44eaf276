package store

import (
	stdlog "log"
	"os"
)

// log is the package's logger: every file of the package writes through it.
var log = stdlog.New(os.Stderr, "store: ", stdlog.LstdFlags)

// Warm loads every key into the cache in the background.
func (c *Cache) Warm(keys []string, load func(string) string) {
	for _, key := range keys {
		go func() {
			c.Set(key, load(key))
		}()
	}
}
