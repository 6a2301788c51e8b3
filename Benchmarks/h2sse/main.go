// h2sse: SSE subscribers over HTTP/2 with TLS (or HTTP/1.1, for the same figures side by side),
// for Herald and nginx+nchan. Go standard library only; loopback only; bounded in count and time;
// one JSON line per run on stdout.
//
// Two modes:
//
//	idle    open -subs streams, -per-conn per connection, wait -settle, read the server's RSS
//	        (the -pid processes and their children) before and after: KiB per idle stream.
//	fanout  open -subs streams, then publish -events events (one publisher; -rate per second, or
//	        closed loop when 0: the next POST when the last is answered); count deliveries, lost,
//	        reordered and duplicated events, publish-to-receive latency, and the server's CPU
//	        (user+system from /proc) from the first publish to the last delivery.
//
// Every -per-conn subscribers share one connection (their own http.Transport, first request
// alone so the transport dials once): the same multiplexing for every server.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	mode, subURL, pubURL, pubBody, pubType, label, pids string
	latencyFile                                         string
	subs, perConn, events, dialConc                     int
	rate                                                float64
	http1                                               bool
	settle, drain, timeout, duration                    time.Duration
}

type subscriber struct {
	received int64 // events seen
	last     int64 // last sequence number seen
	lost     int64 // gaps (sequence jumps)
	reorder  int64 // sequence went backwards
	dups     int64 // same sequence twice
}

type result struct {
	Label            string  `json:"label"`
	Mode             string  `json:"mode"`
	Protocol         string  `json:"protocol"`
	Cipher           string  `json:"cipher"`
	Subscribers      int     `json:"subscribers"`
	Connected        int64   `json:"connected"`
	Connections      int     `json:"connections"`
	RSSBeforeKiB     int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB      int64   `json:"rss_after_kib,omitempty"`
	KiBPerStream     float64 `json:"kib_per_stream,omitempty"`
	Published        int     `json:"published,omitempty"`
	Expected         int64   `json:"expected,omitempty"`
	Delivered        int64   `json:"delivered,omitempty"`
	Lost             int64   `json:"lost"`
	Reordered        int64   `json:"reordered"`
	Duplicates       int64   `json:"duplicates"`
	DeliveriesPerSec float64 `json:"deliveries_per_s,omitempty"`
	ServerCPUSeconds float64 `json:"server_cpu_s,omitempty"`
	CPUUsPerDelivery float64 `json:"cpu_us_per_delivery,omitempty"`
	LatencyP50ms     float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99ms     float64 `json:"latency_p99_ms,omitempty"`
	LatencyMaxms     float64 `json:"latency_max_ms,omitempty"`
	Error            string  `json:"error,omitempty"`
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "idle", "idle | fanout | listen (streams only; another process publishes) | publish (no streams)")
	flag.StringVar(&c.latencyFile, "latency-file", "", "fanout/listen: write every publish-to-receive latency (ms, sorted) here")
	flag.StringVar(&c.subURL, "sub-url", "", "subscribe URL (https:// for TLS)")
	flag.StringVar(&c.pubURL, "pub-url", "", "publish URL (fanout)")
	flag.StringVar(&c.pubBody, "pub-body", "topic=bench&data={data}", "publish body ({data} is replaced)")
	flag.StringVar(&c.pubType, "pub-ctype", "application/x-www-form-urlencoded", "publish Content-Type")
	flag.StringVar(&c.label, "label", "", "copied into the JSON")
	flag.StringVar(&c.pids, "pid", "", "server PIDs, comma separated (children included)")
	flag.IntVar(&c.subs, "subs", 1000, "subscribers (streams)")
	flag.IntVar(&c.perConn, "per-conn", 100, "streams per connection (HTTP/2; HTTP/1.1 has one)")
	flag.IntVar(&c.dialConc, "dial-conc", 256, "streams being opened at once")
	flag.IntVar(&c.events, "events", 1000, "fanout: events to publish")
	flag.Float64Var(&c.rate, "rate", 0, "fanout: events per second; 0 = closed loop")
	flag.BoolVar(&c.http1, "http1", false, "HTTP/1.1 (one stream per connection) instead of HTTP/2")
	flag.DurationVar(&c.settle, "settle", 2*time.Second, "idle: wait before reading RSS")
	flag.DurationVar(&c.duration, "duration", 0, "fanout: stop publishing after this long (0: no bound but -events)")
	flag.DurationVar(&c.drain, "drain", 10*time.Second, "fanout: max wait for deliveries after the last publish")
	flag.DurationVar(&c.timeout, "timeout", 120*time.Second, "hard bound on the whole run")
	flag.Parse()
	if c.http1 {
		c.perConn = 1
	}
	res := run(c)
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Error != "" {
		os.Exit(1)
	}
}

func newTransport(http1 bool) *http.Transport {
	t := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // loopback, throwaway certificate
		ForceAttemptHTTP2:   !http1,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	if http1 {
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no h2
	}
	return t
}

func run(c config) (res result) {
	res = result{Label: c.label, Mode: c.mode, Subscribers: c.subs}
	var resMu sync.Mutex
	hard := time.AfterFunc(c.timeout, func() {
		resMu.Lock()
		res.Error = "timeout"
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
		os.Exit(2)
	})
	defer hard.Stop()
	pids := parsePIDs(c.pids)
	res.RSSBeforeKiB = rssKiB(pids)

	subs := make([]*subscriber, c.subs)
	for i := range subs {
		subs[i] = &subscriber{last: -1}
	}
	var connected, answered, delivered int64
	var latMu sync.Mutex
	latencies := make([]float64, 0, 1<<16)
	var proto, cipher, failure atomic.Value
	var bodies []io.Closer
	var bodiesMu sync.Mutex
	dialing := make(chan struct{}, c.dialConc)

	// read opens subscriber i's stream on t, signals `headers` once it has an answer (or failed),
	// then counts its events until the stream ends.
	read := func(i int, t *http.Transport, headers chan<- struct{}) {
		s := subs[i]
		signal := func() {
			atomic.AddInt64(&answered, 1)
			if headers != nil {
				headers <- struct{}{}
			}
		}
		req, _ := http.NewRequest("GET", c.subURL, nil)
		req.Header.Set("Accept", "text/event-stream")
		dialing <- struct{}{}
		resp, err := (&http.Client{Transport: t}).Do(req)
		<-dialing
		if err != nil {
			failure.Store(err.Error())
			signal()
			return
		}
		if resp.StatusCode != 200 {
			failure.Store("status " + resp.Status)
			resp.Body.Close()
			signal()
			return
		}
		proto.Store(resp.Proto)
		if resp.TLS != nil {
			cipher.Store(tls.CipherSuiteName(resp.TLS.CipherSuite))
		}
		bodiesMu.Lock()
		bodies = append(bodies, resp.Body)
		bodiesMu.Unlock()
		atomic.AddInt64(&connected, 1)
		signal()
		reader := bufio.NewReaderSize(resp.Body, 4096)
		for {
			line, err := reader.ReadSlice('\n')
			if err != nil {
				return
			}
			if !bytes.HasPrefix(line, []byte("data:")) {
				continue
			}
			fields := strings.Fields(string(line[5:]))
			if len(fields) < 2 {
				continue
			}
			seq, err1 := strconv.ParseInt(fields[0], 10, 64)
			sent, err2 := strconv.ParseInt(fields[1], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			now := time.Now().UnixNano()
			switch {
			case seq == s.last:
				atomic.AddInt64(&s.dups, 1)
			case seq < s.last:
				atomic.AddInt64(&s.reorder, 1)
			default:
				s.last = seq
			}
			atomic.AddInt64(&s.received, 1)
			atomic.AddInt64(&delivered, 1)
			latMu.Lock()
			latencies = append(latencies, float64(now-sent)/1e6)
			latMu.Unlock()
		}
	}

	// One transport (one connection) per -per-conn streams; its first stream alone, so that
	// the transport dials once, then the others multiplexed on it.
	for start := 0; start < c.subs; start += c.perConn {
		end := start + c.perConn
		if end > c.subs {
			end = c.subs
		}
		res.Connections++
		go func(start, end int) {
			t := newTransport(c.http1)
			first := make(chan struct{}, 1)
			go read(start, t, first)
			<-first
			for i := start + 1; i < end; i++ {
				go read(i, t, nil)
			}
		}(start, end)
	}
	for atomic.LoadInt64(&answered) < int64(c.subs) {
		time.Sleep(10 * time.Millisecond)
	}
	res.Connected = atomic.LoadInt64(&connected)
	if p, ok := proto.Load().(string); ok {
		res.Protocol = p
	}
	if p, ok := cipher.Load().(string); ok {
		res.Cipher = p
	}
	if res.Connected < int64(c.subs) {
		if f, ok := failure.Load().(string); ok {
			res.Error = fmt.Sprintf("%d of %d streams opened; %s", res.Connected, c.subs, f)
		}
		return
	}
	defer func() {
		bodiesMu.Lock()
		for _, body := range bodies {
			body.Close()
		}
		bodiesMu.Unlock()
	}()

	if c.mode == "idle" {
		time.Sleep(c.settle)
		res.RSSAfterKiB = rssKiB(pids)
		res.KiBPerStream = float64(res.RSSAfterKiB-res.RSSBeforeKiB) / float64(res.Connected)
		return
	}

	var listenStart time.Time
	if c.mode == "listen" {
		// Another process publishes (scale-out: one publish to one node, subscribers spread over
		// several nodes and load-generator processes): say so, then wait for -events events.
		fmt.Fprintf(os.Stderr, "READY %d\n", res.Connected)
		res.Published = c.events
		listenStart = time.Now()
	} else {
		cpu0 := cpuSeconds(pids)
		listenStart = time.Now()
		res.Published, res.Error = publish(c)
		if res.Error != "" {
			return
		}
		defer func() {
			res.ServerCPUSeconds = cpuSeconds(pids) - cpu0
			if res.Delivered > 0 {
				res.CPUUsPerDelivery = res.ServerCPUSeconds * 1e6 / float64(res.Delivered)
			}
		}()
	}
	t0 := listenStart
	res.Expected = res.Connected * int64(res.Published)
	deadline := time.Now().Add(c.drain)
	for atomic.LoadInt64(&delivered) < res.Expected && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(t0).Seconds()
	res.Delivered = atomic.LoadInt64(&delivered)
	for _, s := range subs {
		got := atomic.LoadInt64(&s.received) - atomic.LoadInt64(&s.dups)
		if missing := int64(res.Published) - got; missing > 0 {
			res.Lost += missing
		}
		res.Reordered += atomic.LoadInt64(&s.reorder)
		res.Duplicates += atomic.LoadInt64(&s.dups)
	}
	res.DeliveriesPerSec = float64(res.Delivered) / elapsed
	latMu.Lock()
	sort.Float64s(latencies)
	if c.latencyFile != "" {
		var text strings.Builder
		for _, value := range latencies {
			text.WriteString(strconv.FormatFloat(value, 'f', 3, 64))
			text.WriteByte('\n')
		}
		os.WriteFile(c.latencyFile, []byte(text.String()), 0o644)
	}
	res.LatencyP50ms = percentile(latencies, 0.50)
	res.LatencyP99ms = percentile(latencies, 0.99)
	if len(latencies) > 0 {
		res.LatencyMaxms = latencies[len(latencies)-1]
	}
	latMu.Unlock()
	return
}

// publish posts up to -events events (at -rate per second, or closed loop), each carrying its
// sequence number and send time; returns how many were answered 2xx, or why it stopped.
func publish(c config) (published int, failure string) {
	publisher := &http.Client{Transport: newTransport(c.http1), Timeout: 10 * time.Second}
	form := strings.HasPrefix(c.pubType, "application/x-www-form-urlencoded")
	t0 := time.Now()
	for seq := 0; seq < c.events; seq++ {
		if c.duration > 0 && time.Since(t0) >= c.duration {
			break
		}
		if c.rate > 0 {
			due := t0.Add(time.Duration(float64(seq) / c.rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
		}
		data := fmt.Sprintf("%d %d", seq, time.Now().UnixNano())
		if form {
			data = strings.ReplaceAll(data, " ", "+")
		}
		body := strings.ReplaceAll(c.pubBody, "{data}", data)
		resp, err := publisher.Post(c.pubURL, c.pubType, strings.NewReader(body))
		if err != nil {
			return published, "publish: " + err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return published, "publish: status " + resp.Status
		}
		published++
	}
	return published, ""
}

func parsePIDs(list string) []int {
	var pids []int
	for _, field := range strings.Split(list, ",") {
		if pid, err := strconv.Atoi(strings.TrimSpace(field)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// withChildren: the PIDs and every process whose parent is one of them (nginx workers).
func withChildren(pids []int) []int {
	all := append([]int{}, pids...)
	entries, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range entries {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		text := string(data)
		close := strings.LastIndexByte(text, ')')
		if close < 0 {
			continue
		}
		fields := strings.Fields(text[close+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		for _, pid := range pids {
			if ppid == pid {
				self, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
				all = append(all, self)
			}
		}
	}
	return all
}

func rssKiB(pids []int) int64 {
	var total int64
	for _, pid := range withChildren(pids) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				fields := strings.Fields(line)
				if len(fields) >= 2 {
					value, _ := strconv.ParseInt(fields[1], 10, 64)
					total += value
				}
			}
		}
	}
	return total
}

// cpuSeconds: user+system time of the PIDs and their children, from /proc/PID/stat.
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range withChildren(pids) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		text := string(data)
		fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
		if len(fields) > 12 {
			user, _ := strconv.ParseInt(fields[11], 10, 64)
			system, _ := strconv.ParseInt(fields[12], 10, 64)
			ticks += user + system
		}
	}
	return float64(ticks) / 100.0 // CLK_TCK is 100 on Linux
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	index := int(p * float64(len(sorted)-1))
	return sorted[index]
}
