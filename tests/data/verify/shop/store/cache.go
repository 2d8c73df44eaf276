package store

import "sync"

// Cache is a string cache shared by the request handlers.
type Cache struct {
	mu   sync.Mutex
	data map[string]string
}

func NewCache() *Cache {
	return &Cache{data: make(map[string]string)}
}

func (c *Cache) Set(key, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = value
}

func (c *Cache) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	value, ok := c.data[key]
	return value, ok
}

// Refresh reloads every cached key in the background.
func (c *Cache) Refresh(load func(string) string) {
	c.mu.Lock()
	keys := make([]string, 0, len(c.data))
	for key := range c.data {
		keys = append(keys, key)
	}
	c.mu.Unlock()
	for _, key := range keys {
		go func() {
			c.Set(key, load(key))
		}()
	}
}

// Evict drops the keys in the background.
func (c *Cache) Evict(keys []string) {
	for _, key := range keys {
		go func() {
			c.mu.Lock()
			delete(c.data, key)
			c.mu.Unlock()
		}()
	}
}
