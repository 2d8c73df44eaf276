package main

import (
	"example.com/shop/api"
	"example.com/shop/store"
	"net/http"
)

func main() {
	cache := store.NewCache()
	cache.Warm([]string{"a", "b"}, func(k string) string { return k })
	api.Notify(http.DefaultClient, nil, "started")
}
