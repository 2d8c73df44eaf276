package store

// Replicate copies every entry to the backup cache in the background.
func (c *Cache) Replicate(backup *Cache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, value := range c.data {
		go func() {
			backup.Set(key, value)
		}()
	}
	log.Printf("replicating %d entries", len(c.data))
}
