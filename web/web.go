// Package web holds Sampan's web console: static HTML, CSS and JavaScript ES modules (no build step),
// embedded in the binary and served on the broker's HTTP listener. The console reads the admin API
// (/cluster/..., /channels, /metrics) with fetch and tails and publishes over the WebSocket listener.
//
// Paths: "/" is index.html; every other file is under Prefix ("/console/app.js", ...). Nothing else is
// served here, so the console never shadows an API route.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path under which the console's files are served.
const Prefix = "/console/"

//go:embed console
var embedded embed.FS

// Console is the console's files, rooted at web/console.
var Console fs.FS = mustSub(embedded, "console")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// contentTypes are set explicitly for the console's kinds of file: mime.TypeByExtension reads the
// system's tables, which may be missing or odd (an ES module must be served as JavaScript).
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

type file struct {
	data  []byte
	ctype string
	etag  string
}

// Security headers of the page: scripts, styles and fetches only from this origin, plus WebSockets
// to any host (the WebSocket listener is another port, maybe another host name).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the console from Console: index.html at "/", files at Prefix+name. Directories,
// unknown files and any other path are 404. Files are answered with an ETag and
// "Cache-Control: no-cache" (their names carry no version, so a browser revalidates each time and
// gets 304 while the binary is the same).
func Handler() http.Handler { return newHandler(Console) }

func newHandler(root fs.FS) http.Handler {
	files := map[string]*file{}
	_ = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		ext := path.Ext(p)
		ct, ok := contentTypes[ext]
		if !ok {
			ct = mime.TypeByExtension(ext)
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(data)
		files[p] = &file{data: data, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := "index.html", r.URL.Path == "/"
		if !ok {
			name, ok = strings.CutPrefix(r.URL.Path, Prefix)
		}
		// Only exact names of embedded files: no "..", no directories, no listings.
		f := files[name]
		if !ok || f == nil || name != path.Clean(name) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if f.ctype == contentTypes[".html"] {
			h.Set("Content-Security-Policy", csp)
			h.Set("Referrer-Policy", "no-referrer")
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	})
}
