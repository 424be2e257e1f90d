package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// assets holds the page: index.html, app.js, app.css, and Apache ECharts (echarts.min.js, the dist build
// of the npm package echarts, version 6.1.0, pinned in tools/npm, with its LICENSE and NOTICE).
//
//go:embed assets
var assets embed.FS

// contentSecurityPolicy keeps the page to its own origin: no script, style, font or connection elsewhere.
// ECharts sets inline styles on its tooltips and canvases, hence 'unsafe-inline' for styles only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveIndex answers GET /: the page.
func (d *Dashboard) serveIndex(w http.ResponseWriter, r *http.Request) {
	d.serveFile(w, r, "index.html")
}

// serveAsset answers GET /assets/{name}: a file of the page.
func (d *Dashboard) serveAsset(w http.ResponseWriter, r *http.Request) {
	d.serveFile(w, r, r.PathValue("name"))
}

// serveFile serves the embedded file name, with an ETag (its SHA-256) so that a browser revalidates it
// instead of reading it again.
func (d *Dashboard) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("ETag", d.etag(name, b))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if !strings.Contains(name, ".") {
		// LICENSE and NOTICE.
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	if strings.HasSuffix(name, ".html") {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// etag returns the entity tag of the embedded file name, computed once.
func (d *Dashboard) etag(name string, b []byte) string {
	d.etagsMu.Lock()
	defer d.etagsMu.Unlock()
	if t, ok := d.etags[name]; ok {
		return t
	}
	sum := sha256.Sum256(b)
	t := `"` + hex.EncodeToString(sum[:12]) + `"`
	d.etags[name] = t
	return t
}
