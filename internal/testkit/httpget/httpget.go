// Package httpget is the tests' one HTTP GET helper. It lives apart from
// package testkit, which imports the name server and the metrics server,
// so that those packages' own tests can use it too.
package httpget

import (
	"io"
	"net/http"
	"testing"
)

// Get fetches url and returns the status code and the body; any transport
// or read error fails the test.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
