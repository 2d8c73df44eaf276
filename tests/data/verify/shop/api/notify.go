package api

import (
	"net/http"
	"strings"
)

// Notify posts the event to every subscriber's webhook.
func Notify(client *http.Client, hooks []string, event string) {
	for _, hook := range hooks {
		go func() {
			resp, err := client.Post(hook, "application/json", strings.NewReader(event))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
}
