package node

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// forwardedHeader marks a request one node passed to another, so it is never passed on again.
const forwardedHeader = "X-Minicloud-Forwarded"

// forward passes a request (path-style or virtual-hosted-style) for a bucket that this node's
// site does not host to a live node of a hosting site (in the bucket's order of sites), and
// reports whether it did. The request keeps its Host header and signature, which the other node
// verifies (every node of the mesh is started with the same --domain). When no hosting site is
// reachable the client gets a 503 with an S3 error code.
func (n *Node) forward(w http.ResponseWriter, r *http.Request) bool {
	if n.cluster == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	bucket := requestBucket(r, n.cfg.Domain)
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

// requestBucket finds the bucket a request addresses, as the S3 router does: the subdomain of
// domain when the Host is one, the first path segment otherwise.
func requestBucket(r *http.Request, domain string) string {
	if domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if len(host) > len(domain)+1 && strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.' {
			return strings.ToLower(host[:len(host)-len(domain)-1])
		}
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket
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
