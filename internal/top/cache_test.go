package top

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A watch's stream that breaks off marks the connection lost; one that ends, or that the caller
// closes, does not; the next answer clears it.
func TestConnSeesABrokenStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{}\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/break" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	conn := &Conn{}
	client := &http.Client{Transport: conn.Wrap(http.DefaultTransport)}
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get("/end")
	if conn.State().Lost {
		t.Fatalf("a stream that ended marked the connection lost: %+v", conn.State())
	}
	get("/break")
	if s := conn.State(); !s.Lost || s.Error == "" || s.Since == nil {
		t.Fatalf("a stream that broke off: %+v, want lost", s)
	}
	get("/end")
	if conn.State().Lost {
		t.Fatal("an answer does not clear the failure")
	}
	resp, err := client.Get(srv.URL + "/end")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _ = resp.Body.Read(make([]byte, 8))
	if conn.State().Lost {
		t.Fatal("a read after the caller closed the body marked the connection lost")
	}
}
