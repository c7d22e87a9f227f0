package node

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// startPprof serves Go's profiler on MINICLOUD_PPROF_ADDR (e.g. 127.0.0.1:6060) when it is set,
// for benchmarks (bench/site.sh PROFILE=1). Off by default: the endpoint is unauthenticated, so
// it only ever listens where the operator points it. The listener lives as long as the process.
func (n *Node) startPprof() {
	addr := os.Getenv("MINICLOUD_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		n.log.Warn("pprof: listen", "addr", addr, "err", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	n.log.Info("pprof serving", "addr", ln.Addr().String())
}
