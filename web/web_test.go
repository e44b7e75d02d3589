package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestIndexAtRoot(t *testing.T) {
	res := get(t, Handler(), "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.Contains(string(body), `<script type="module" src="/console/app.js">`) {
		t.Errorf("index.html does not load the app module:\n%s", body)
	}
	if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers: %v", res.Header)
	}
}

func TestAssetsContentTypes(t *testing.T) {
	h := Handler()
	for path, want := range map[string]string{
		"/console/app.js":               "text/javascript; charset=utf-8",
		"/console/lib/sampan-client.js": "text/javascript; charset=utf-8",
		"/console/views/channel.js":     "text/javascript; charset=utf-8",
		"/console/style.css":            "text/css; charset=utf-8",
		"/console/favicon.svg":          "image/svg+xml",
		"/console/index.html":           "text/html; charset=utf-8",
	} {
		res := get(t, h, path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), want)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
}

func TestNotFound(t *testing.T) {
	h := Handler()
	for _, path := range []string{
		"/console/nope.js", "/console/", "/console/views", "/console/views/", "/console/../web.go",
		"/console/./app.js", "/console//app.js", "/app.js", "/index.html", "/channels",
	} {
		if res := get(t, h, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

func TestETagRevalidation(t *testing.T) {
	h := Handler()
	res := get(t, h, "/console/app.js")
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if res := get(t, h, "/console/app.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", res.StatusCode)
	}
}

func TestMethods(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
}
