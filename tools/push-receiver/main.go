// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// push-receiver accepts the Pyroscope ingest requests that pybpf-prof's
// --push sends (POST /ingest?name=...&from=...&until=...&format=pprof),
// checks each body with google/pprof's own parser (profile.Parse, then
// CheckValid) and prints one JSON line per request on stdout. It stands in
// for a Pyroscope server in manual and end-to-end tests.
//
// Usage: push-receiver [-listen 127.0.0.1:4040] [-save DIR] [-fail N]
//
//	-save DIR  also write every body to DIR/<seq>.pb.gz
//	-fail N    answer 503 to the first N requests (to exercise retries)
//
// A request whose profile does not parse or is not valid gets 400; one
// that is not POST /ingest gets 404 or 405.
//
// Build (Debian's Go and golang-github-google-pprof-dev, GOPATH mode):
//
//	env GO111MODULE=off GOPATH=/usr/share/gocode /usr/lib/go/bin/go build \
//	    -o build/push-receiver tools/push-receiver/main.go
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

type entry struct {
	Time       string `json:"time"`
	Status     int    `json:"status"`
	Name       string `json:"name"`
	From       int64  `json:"from"`
	Until      int64  `json:"until"`
	Format     string `json:"format"`
	SpyName    string `json:"spy_name,omitempty"`
	SampleRate string `json:"sample_rate,omitempty"`
	OrgID      string `json:"org_id,omitempty"`
	Auth       bool   `json:"authorization"`
	Bytes      int    `json:"bytes"`
	Samples    int    `json:"samples"`
	Total      int64  `json:"total"`
	Valid      bool   `json:"valid"`
	Error      string `json:"error,omitempty"`
	Saved      string `json:"saved,omitempty"`
}

type receiver struct {
	mu      sync.Mutex
	out     *json.Encoder
	saveDir string
	fail    int
	seq     int
}

// profileBytes returns the pprof data of a request: the body itself, or the
// "profile" part of a multipart form (what Pyroscope reads when format is
// absent and the content type is multipart/form-data).
func profileBytes(r *http.Request, body []byte) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if r.URL.Query().Get("format") != "" || !strings.HasPrefix(ct, "multipart/form-data") {
		return body, nil
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, err
	}
	form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(32 << 20)
	if err != nil {
		return nil, err
	}
	defer form.RemoveAll()
	files := form.File["profile"]
	if len(files) == 0 {
		return nil, fmt.Errorf("multipart form without a profile part")
	}
	f, err := files[0].Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func unixParam(q string) int64 {
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func (rc *receiver) ingest(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	e := entry{
		Time:       time.Now().UTC().Format(time.RFC3339Nano),
		Name:       q.Get("name"),
		From:       unixParam(q.Get("from")),
		Until:      unixParam(q.Get("until")),
		Format:     q.Get("format"),
		SpyName:    q.Get("spyName"),
		SampleRate: q.Get("sampleRate"),
		OrgID:      r.Header.Get("X-Scope-OrgID"),
		Auth:       r.Header.Get("Authorization") != "",
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	e.Bytes = len(body)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seq++
	if err == nil && rc.saveDir != "" {
		e.Saved = filepath.Join(rc.saveDir, fmt.Sprintf("%06d.pb.gz", rc.seq))
		err = os.WriteFile(e.Saved, body, 0o644)
	}
	if err == nil {
		var data []byte
		var p *profile.Profile
		data, err = profileBytes(r, body)
		if err == nil {
			p, err = profile.Parse(bytes.NewReader(data))
		}
		if err == nil {
			err = p.CheckValid()
		}
		if err == nil {
			e.Valid = true
			e.Samples = len(p.Sample)
			for _, s := range p.Sample {
				if len(s.Value) > 0 {
					e.Total += s.Value[0]
				}
			}
		}
	}
	switch {
	case e.Name == "":
		e.Status, e.Error = http.StatusBadRequest, "name: missing"
	case err != nil:
		e.Status, e.Error = http.StatusBadRequest, err.Error()
	case rc.fail > 0:
		rc.fail--
		e.Status, e.Error = http.StatusServiceUnavailable, "failing on purpose (-fail)"
	default:
		e.Status = http.StatusOK
	}
	if e.Status != http.StatusOK {
		http.Error(w, e.Error, e.Status)
	}
	if err := rc.out.Encode(e); err != nil {
		log.Printf("push-receiver: %v", err)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:4040", "address to listen on")
	saveDir := flag.String("save", "", "directory to write every body to")
	fail := flag.Int("fail", 0, "answer 503 to the first N requests")
	flag.Parse()
	log.SetFlags(0)

	rc := &receiver{out: json.NewEncoder(os.Stdout), saveDir: *saveDir, fail: *fail}
	mux := http.NewServeMux()
	mux.HandleFunc("/ingest", rc.ingest)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		srv.Close()
	}()
	log.Printf("push-receiver: listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("push-receiver: %v", err)
	}
}
