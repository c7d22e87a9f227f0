package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeS3 is an in-memory S3 server just large enough for loadgen: bucket
// HEAD/PUT, object PUT (plain or aws-chunked), GET, HEAD, DELETE, and
// ListObjectsV2. It checks no signatures.
type fakeS3 struct {
	mu       sync.Mutex
	objs     map[string][]byte
	failPuts bool
}

func newFakeS3() *fakeS3 { return &fakeS3{objs: make(map[string][]byte)} }

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case key == "" && r.Method == http.MethodGet:
		f.list(w, r)
	case key == "":
		w.WriteHeader(http.StatusOK) // bucket HEAD and PUT
	case r.Method == http.MethodPut:
		f.put(w, r, key)
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		f.get(w, r, key)
	case r.Method == http.MethodDelete:
		f.mu.Lock()
		delete(f.objs, key)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}

func (f *fakeS3) put(w http.ResponseWriter, r *http.Request, key string) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPuts {
		http.Error(w, "<Error><Code>SlowDown</Code></Error>", http.StatusServiceUnavailable)
		return
	}
	f.objs[key] = body
	w.Header().Set("ETag", `"etag"`)
}

// readBody reads a PUT body, decoding aws-chunked streaming uploads.
func readBody(r *http.Request) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	var out bytes.Buffer
	br := bufio.NewReader(r.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(hexSize, 16, 64)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n+2); err != nil { // data and CRLF
			return nil, err
		}
		out.Truncate(out.Len() - 2)
	}
}

func (f *fakeS3) get(w http.ResponseWriter, r *http.Request, key string) {
	f.mu.Lock()
	body, ok := f.objs[key]
	f.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("ETag", `"etag"`)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

type listResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	IsTruncated           bool
	NextContinuationToken string
	Contents              []listEntry
}

type listEntry struct {
	Key          string
	Size         int
	LastModified string
}

// list serves ListObjectsV2; the continuation token is the last key sent.
func (f *fakeS3) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxKeys, _ := strconv.Atoi(q.Get("max-keys"))
	f.mu.Lock()
	var keys []string
	for k := range f.objs {
		if strings.HasPrefix(k, q.Get("prefix")) && k > q.Get("continuation-token") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var res listResult
	for i, k := range keys {
		if i == maxKeys {
			res.IsTruncated, res.NextContinuationToken = true, keys[i-1]
			break
		}
		res.Contents = append(res.Contents, listEntry{k, len(f.objs[k]), "2024-01-01T00:00:00.000Z"})
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	if err := xml.NewEncoder(w).Encode(res); err != nil {
		panic(fmt.Sprintf("encode list: %v", err))
	}
}
