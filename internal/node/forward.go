package node

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// forwardedHeader marks a request one node passed to another, so it is never passed on again.
const forwardedHeader = "X-Minicloud-Forwarded"

// forward passes a path-style request for a bucket that this node's site does not host to a live
// node of a hosting site (in the bucket's order of sites), and reports whether it did. The
// request keeps its Host header and signature, which the other node verifies. When no hosting
// site is reachable the client gets a 503 with an S3 error code.
func (n *Node) forward(w http.ResponseWriter, r *http.Request) bool {
	if n.cluster == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return false
	}
	b, err := n.objects.GetBucket(r.Context(), bucket)
	if err != nil || len(b.Sites) == 0 || slices.Contains(b.Sites, n.cfg.Site) {
		return false
	}
	for _, site := range b.Sites {
		for _, m := range n.cluster.mesh.Members() {
			if m.Site != site || !m.Alive || m.Decommissioned || m.S3 == "" {
				continue
			}
			target := m.S3
			proxy := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.Out.URL.Scheme = "http"
					pr.Out.URL.Host = target
					pr.Out.Host = pr.In.Host
					pr.Out.Header.Set(forwardedHeader, n.id)
				},
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					writeS3Error(w, s3err.ServiceUnavailable.With("The site hosting bucket %s did not answer: %v", bucket, err))
				},
			}
			proxy.ServeHTTP(w, r)
			return true
		}
	}
	writeS3Error(w, s3err.ServiceUnavailable.With("No site hosting bucket %s (%s) is reachable from site %s now; retry later.", bucket, strings.Join(b.Sites, ", "), n.cfg.Site))
	return true
}

func writeS3Error(w http.ResponseWriter, e *s3err.Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message></Error>`, e.Code, xmlEscape(e.Message))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
