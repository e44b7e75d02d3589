package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
)

// bench channels measures what channels cost at scale: creating many, what they cost once cold
// (passivated: no actor, no Raft replica loaded), waking them, and optionally what a resident quiet
// replica costs. It runs its own `sampan serve` processes (like bench failover) because it reads their
// memory and CPU from /proc and forces their GC through /debug/pprof.

type benchChannelsOpts struct {
	nodes, count, inflight  int
	wakeSample, wakeCount   int
	resident                int
	prefix, dir             string
	idleTimeout, idleWindow time.Duration
	residentIdle, coldWait  time.Duration
	opTimeout, quiesceWait  time.Duration
	out                     io.Writer // progress lines (nil: none)
}

// latencySummary is one phase of publishes: how many were acked, how many failed, how fast, and the
// ack latency of those acked.
type latencySummary struct {
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// The rate of the first and of the last rateWindow completions (creates only, when there are at least
	// twice that many): whether creating costs more with more channels registered.
	FirstPerSec float64 `json:"first_per_sec,omitempty"`
	LastPerSec  float64 `json:"last_per_sec,omitempty"`
}

// rateWindow is how many creates FirstPerSec and LastPerSec are measured over.
const rateWindow = 10000

// nodeMem is one node's memory after a forced GC.
type nodeMem struct {
	Node      int     `json:"node"`
	HeapInuse float64 `json:"heap_inuse_bytes"`
	RSS       float64 `json:"rss_bytes"`
}

// memResult compares nodes holding the channels with the same nodes before they held any.
type memResult struct {
	Baseline []nodeMem `json:"baseline"`
	After    []nodeMem `json:"after"`
	// Per channel (cold phase) or per replica (resident phase): the growth summed over the nodes,
	// divided by the channels or replicas measured.
	HeapPerItem float64 `json:"heap_per_item_bytes"`
	RSSPerItem  float64 `json:"rss_per_item_bytes"`
}

// cpuResult is the CPU the server processes used over a window with no client traffic.
type cpuResult struct {
	WindowS    float64   `json:"window_s"`
	PerNodePct []float64 `json:"per_node_pct"` // % of one core
	TotalPct   float64   `json:"total_pct"`
}

// coldResult is the wait for every node to report no active channel and no resident replica.
type coldResult struct {
	Reached          bool      `json:"reached"`
	Seconds          float64   `json:"seconds"` // from the last create ack
	ActiveChannels   []float64 `json:"active_channels"`
	ResidentReplicas []float64 `json:"resident_replicas"`
	StillLoaded      []string  `json:"still_loaded,omitempty"` // some channels not cold, when not reached
}

type wakeSerialResult struct {
	latencySummary
	NotCold int `json:"not_cold"` // sampled channels that were not cold on every node before their wake
}

type residentResult struct {
	Channels int            `json:"channels"`
	Replicas int            `json:"replicas"` // resident replicas over all nodes
	Create   latencySummary `json:"create"`
	Reached  bool           `json:"reached"` // every replica was resident when measured
	Memory   memResult      `json:"memory"`
	CPU      cpuResult      `json:"idle_cpu"`
}

type benchChannelsResult struct {
	Nodes        int               `json:"nodes"`
	Replicas     int               `json:"replicas_per_channel"`
	Count        int               `json:"count"`
	Inflight     int               `json:"inflight"`
	IdleTimeout  string            `json:"idle_timeout"`
	Create       *latencySummary   `json:"create,omitempty"`
	PeakResident float64           `json:"peak_resident_replicas"` // over all nodes, sampled while creating
	Cold         *coldResult       `json:"cold,omitempty"`
	EmptyCPU     *cpuResult        `json:"empty_idle_cpu,omitempty"` // fresh nodes, before any channel
	ColdMemory   *memResult        `json:"cold_memory,omitempty"`    // per item = per cold channel
	ColdCPU      *cpuResult        `json:"cold_idle_cpu,omitempty"`
	WakeSerial   *wakeSerialResult `json:"wake_serial,omitempty"`
	WakeConc     *latencySummary   `json:"wake_concurrent,omitempty"`
	Resident     *residentResult   `json:"resident,omitempty"` // per item = per resident replica
}

func newBenchChannels() *cobra.Command {
	var (
		o      benchChannelsOpts
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "Measure channels at scale: creates, memory and CPU of cold channels, wakes, resident replicas",
		Long: `Start --nodes sampan processes on 127.0.0.1 (temp data dirs, --idle-timeout short so channels go cold),
then: create --count channels with one small publish each (--inflight at a time, spread over the nodes);
wait until every node reports 0 active channels and 0 resident replicas; force a GC and read each node's
heap in use and RSS, against the same nodes measured empty before the creates (per cold channel);
measure the nodes' idle CPU over --idle-window; wake --wake-sample cold channels one at a time (publish
-> ack); wake the rest (or --wake-count) --inflight at a time.
With --resident N, then start fresh nodes with --resident-idle-timeout, make N channels resident and
report heap and RSS per resident replica and the idle CPU with them loaded (--count 0 runs only that).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.nodes < 1 || o.count < 0 || o.inflight < 1 || o.wakeSample < 0 || o.resident < 0 {
				return fmt.Errorf("need --nodes >= 1, --inflight >= 1, --count, --wake-sample and --resident >= 0")
			}
			if o.count == 0 && o.resident == 0 {
				return fmt.Errorf("nothing to do: --count 0 and no --resident")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !asJSON {
				o.out = cmd.ErrOrStderr()
			}
			res, err := benchChannels(ctx, o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			printBenchChannels(cmd.OutOrStdout(), o, res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 1, "cluster size (1 or 3)")
	f.IntVar(&o.count, "count", 10000, "channels to create (0: only the --resident phase)")
	f.IntVar(&o.inflight, "inflight", 64, "publishes in flight while creating and waking concurrently")
	f.StringVar(&o.prefix, "prefix", "bench.c", "channel name prefix (names are PREFIX.000123)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 2*time.Second, "the nodes' channel idle timeout (how soon channels go cold)")
	f.DurationVar(&o.idleWindow, "idle-window", 10*time.Second, "window over which idle CPU is measured")
	f.IntVar(&o.wakeSample, "wake-sample", 200, "cold channels woken one at a time")
	f.IntVar(&o.wakeCount, "wake-count", -1, "cold channels then woken concurrently (-1: all the others)")
	f.IntVar(&o.resident, "resident", 0, "channels to keep resident on fresh nodes for the resident-replica phase (0: skip it)")
	f.DurationVar(&o.quiesceWait, "quiesce-wait", 35*time.Second, "how long resident replicas are left quiet before their idle CPU is measured (Raft quiesces them after 5 s; channel actors check them less often once unused for 30 s)")
	f.DurationVar(&o.residentIdle, "resident-idle-timeout", time.Hour, "the nodes' idle timeout in the resident phase (long: nothing passivates)")
	f.DurationVar(&o.coldWait, "cold-timeout", 5*time.Minute, "how long to wait for every channel to go cold (or resident) before reporting that it did not")
	f.DurationVar(&o.opTimeout, "op-timeout", 30*time.Second, "deadline of each publish (an expired one counts as an error)")
	f.StringVar(&o.dir, "dir", "", "where to put the temporary data dirs (default: the system temp dir)")
	f.BoolVar(&asJSON, "json", false, "print one JSON line")
	return cmd
}

func (o *benchChannelsOpts) progress(format string, args ...any) {
	if o.out != nil {
		fmt.Fprintf(o.out, "# "+format+"\n", args...)
	}
}

func benchChannels(ctx context.Context, o benchChannelsOpts) (*benchChannelsResult, error) {
	base, err := os.MkdirTemp(o.dir, "sampan-channels-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	res := &benchChannelsResult{Nodes: o.nodes, Count: o.count, Inflight: o.inflight, IdleTimeout: o.idleTimeout.String()}
	if o.count > 0 {
		if err := benchColdPhases(ctx, &o, filepath.Join(base, "cold"), res); err != nil {
			return nil, err
		}
	}
	if o.resident > 0 {
		r, err := benchResidentPhase(ctx, &o, filepath.Join(base, "resident"), res)
		if err != nil {
			return nil, err
		}
		res.Resident = r
		if res.Replicas == 0 {
			res.Replicas = r.Replicas / max(r.Channels, 1)
		}
	}
	return res, nil
}

// benchCluster is a set of running bench nodes and a client connected to each.
type benchCluster struct {
	nodes   []*benchNode
	clients []*client.Client
}

// startBenchCluster starts the nodes, on fresh ports a few times over if one of them was taken
// between freeAddr choosing it and the node binding it (other processes on the machine pick free
// ports too).
func startBenchCluster(ctx context.Context, o *benchChannelsOpts, dir string, idle time.Duration) (*benchCluster, error) {
	for attempt := 1; ; attempt++ {
		sub := filepath.Join(dir, fmt.Sprintf("try%d", attempt))
		bc, err := startBenchClusterOnce(ctx, o, sub, idle)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return bc, err
		}
		o.progress("a port was taken meanwhile (%v); starting again on other ports", err)
	}
}

func startBenchClusterOnce(ctx context.Context, o *benchChannelsOpts, dir string, idle time.Duration) (*benchCluster, error) {
	// Room for every resident channel of the resident phase (each node holds a replica of each with
	// R = min(3, nodes)), so none passivates for the bound.
	maxActive := max(broker.DefaultConfig().Channels.MaxActive, o.resident+100)
	ns, peers, err := newBenchNodes(dir, o.nodes, "--pprof", "--idle-timeout", idle.String(), "--max-active", fmt.Sprint(maxActive))
	if err != nil {
		return nil, err
	}
	bc := &benchCluster{nodes: ns}
	ok := false
	defer func() {
		if !ok {
			bc.stop()
		}
	}()
	for _, n := range ns {
		if err := n.start(peers); err != nil {
			return nil, fmt.Errorf("start node %d: %w", n.id, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, n := range ns {
		if err := n.ready(rctx); err != nil {
			return nil, err
		}
	}
	for _, n := range ns {
		// One client per node, with only that node in its list: each publish goes through the node it is
		// assigned to (channel i to node i mod nodes), also after a reconnect.
		c, err := connect(ctx, n.listen, client.WithMaxInflight(max(o.inflight, 1024)), client.WithName("bench-channels"))
		if err != nil {
			return nil, fmt.Errorf("connect to node %d (%s): %w", n.id, n.listen, err)
		}
		bc.clients = append(bc.clients, c)
	}
	ok = true
	return bc, nil
}

func (bc *benchCluster) stop() {
	for _, c := range bc.clients {
		c.Close()
	}
	var wg sync.WaitGroup
	for _, n := range bc.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.stop(30 * time.Second) }()
	}
	wg.Wait()
}

// exited names a node that is no longer running, as an error.
func (bc *benchCluster) exited() error {
	for _, n := range bc.nodes {
		if !n.running() {
			return fmt.Errorf("node %d exited%s", n.id, n.lastOutput())
		}
	}
	return nil
}

func benchColdPhases(ctx context.Context, o *benchChannelsOpts, dir string, res *benchChannelsResult) error {
	bc, err := startBenchCluster(ctx, o, dir, o.idleTimeout)
	if err != nil {
		return err
	}
	defer bc.stop()
	base, err := bc.memory(ctx)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	o.progress("idle CPU of the empty node(s) over %v", o.idleWindow)
	if res.EmptyCPU, err = bc.idleCPU(ctx, o.idleWindow); err != nil {
		return err
	}
	names := make([]string, o.count)
	for i := range names {
		names[i] = fmt.Sprintf("%s.%06d", o.prefix, i)
	}

	o.progress("creating %d channels on %d node(s), %d in flight", o.count, o.nodes, o.inflight)
	peak := bc.watchResident()
	create := bc.publishAll(ctx, o, names)
	res.PeakResident = peak()
	res.Create = &create
	createdAt := time.Now()
	if err := interrupted(ctx, bc); err != nil {
		return err
	}
	if create.OK == 0 {
		return fmt.Errorf("no channel was created: %d errors, first: %s", create.Errors, create.FirstError)
	}
	if cs, ok := benchChannelStatus(bc.nodes[0].hp, names[0]); ok {
		res.Replicas = len(cs.Replicas)
	}

	o.progress("waiting up to %v for every node to report 0 active channels and 0 resident replicas", o.coldWait)
	cold, err := bc.waitCounts(ctx, o.coldWait, func(active, resident float64) bool { return active == 0 && resident == 0 })
	if err != nil {
		return err
	}
	cold.Seconds = time.Since(createdAt).Seconds()
	if !cold.Reached {
		cold.StillLoaded = bc.loadedChannels(10)
		o.progress("not cold after %v: active %v, resident %v (measuring anyway)", o.coldWait, cold.ActiveChannels, cold.ResidentReplicas)
	}
	res.Cold = cold

	after, err := bc.memory(ctx)
	if err != nil {
		return fmt.Errorf("cold memory: %w", err)
	}
	res.ColdMemory = perItem(base, after, create.OK)
	o.progress("idle CPU over %v", o.idleWindow)
	if res.ColdCPU, err = bc.idleCPU(ctx, o.idleWindow); err != nil {
		return err
	}

	// Sampled evenly over the names, so early and late channels are both woken.
	sample := min(o.wakeSample, len(names))
	sampled := make(map[int]bool, sample)
	var ws wakeSerialResult
	var lat []time.Duration
	o.progress("waking %d cold channels one at a time", sample)
	t0 := time.Now()
	for k := 0; k < sample; k++ {
		i := k * len(names) / sample
		sampled[i] = true
		if !bc.coldEverywhere(names[i]) {
			ws.NotCold++
		}
		d, err := bc.publish(ctx, o, i, names[i])
		if err != nil {
			ws.Errors++
			if ws.FirstError == "" {
				ws.FirstError = fmt.Sprintf("%s: %v", names[i], err)
			}
			continue
		}
		lat = append(lat, d)
	}
	ws.latencySummary = summarize(lat, ws.Errors, ws.FirstError, time.Since(t0))
	res.WakeSerial = &ws
	if err := interrupted(ctx, bc); err != nil {
		return err
	}

	var rest []string
	for i, n := range names {
		if !sampled[i] && (o.wakeCount < 0 || len(rest) < o.wakeCount) {
			rest = append(rest, n)
		}
	}
	if len(rest) > 0 {
		o.progress("waking %d cold channels, %d in flight", len(rest), o.inflight)
		wc := bc.publishAll(ctx, o, rest)
		res.WakeConc = &wc
		if err := interrupted(ctx, bc); err != nil {
			return err
		}
	}
	return nil
}

// benchResidentPhase also measures the empty nodes' idle CPU into res when the cold phases did not.
func benchResidentPhase(ctx context.Context, o *benchChannelsOpts, dir string, res *benchChannelsResult) (*residentResult, error) {
	o.progress("resident phase: fresh node(s) with idle timeout %v", o.residentIdle)
	bc, err := startBenchCluster(ctx, o, dir, o.residentIdle)
	if err != nil {
		return nil, err
	}
	defer bc.stop()
	base, err := bc.memory(ctx)
	if err != nil {
		return nil, fmt.Errorf("resident baseline: %w", err)
	}
	if res.EmptyCPU == nil {
		o.progress("idle CPU of the empty node(s) over %v", o.idleWindow)
		if res.EmptyCPU, err = bc.idleCPU(ctx, o.idleWindow); err != nil {
			return nil, err
		}
	}
	names := make([]string, o.resident)
	for i := range names {
		names[i] = fmt.Sprintf("%s.r.%06d", o.prefix, i)
	}
	o.progress("activating %d channels, %d in flight", o.resident, o.inflight)
	r := &residentResult{Create: bc.publishAll(ctx, o, names)}
	if err := interrupted(ctx, bc); err != nil {
		return nil, err
	}
	if r.Create.OK == 0 {
		return nil, fmt.Errorf("no resident channel was created: %d errors, first: %s", r.Create.Errors, r.Create.FirstError)
	}
	per := 1
	if cs, ok := benchChannelStatus(bc.nodes[0].hp, names[0]); ok && len(cs.Replicas) > 0 {
		per = len(cs.Replicas)
	}
	r.Channels, r.Replicas = r.Create.OK, r.Create.OK*per
	// Every created channel has its actor somewhere and each of its replicas loaded.
	counts, err := bc.waitCounts(ctx, o.coldWait, func(active, resident float64) bool {
		return active >= float64(r.Channels) && resident >= float64(r.Replicas)
	})
	if err != nil {
		return nil, err
	}
	r.Reached = counts.Reached
	if !r.Reached {
		o.progress("not every replica resident after %v: active %v, resident %v (measuring anyway)", o.coldWait, counts.ActiveChannels, counts.ResidentReplicas)
	}
	after, err := bc.memory(ctx)
	if err != nil {
		return nil, fmt.Errorf("resident memory: %w", err)
	}
	r.Memory = *perItem(base, after, r.Replicas)
	// Quiet replicas stop heartbeating once they have been idle for ten election timeouts (5 s, Raft
	// quiesce): the steady state is measured after that.
	o.progress("waiting %v for the resident replicas to quiesce", o.quiesceWait)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.quiesceWait):
	}
	o.progress("idle CPU over %v with %d resident replicas", o.idleWindow, r.Replicas)
	cpu, err := bc.idleCPU(ctx, o.idleWindow)
	if err != nil {
		return nil, err
	}
	r.CPU = *cpu
	return r, nil
}

// interrupted is the error to stop a run with: Ctrl-C, or a node that died (its phase's errors
// would otherwise be all the report says).
func interrupted(ctx context.Context, bc *benchCluster) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return bc.exited()
}

// publish sends one small message to names[i] through the node the channel is assigned to
// (i mod nodes), and returns the time to its ack.
func (bc *benchCluster) publish(ctx context.Context, o *benchChannelsOpts, i int, name string) (time.Duration, error) {
	pctx, cancel := context.WithTimeout(ctx, o.opTimeout)
	defer cancel()
	t := time.Now()
	_, err := bc.clients[i%len(bc.clients)].Publish(pctx, name, []byte("bench channels"))
	return time.Since(t), err
}

// publishAll publishes one message to each name with o.inflight publishes in flight.
func (bc *benchCluster) publishAll(ctx context.Context, o *benchChannelsOpts, names []string) latencySummary {
	lat := make([]time.Duration, len(names))
	var (
		next     atomic.Int64
		nerr     atomic.Int64
		errOnce  sync.Once
		firstErr string
		wg       sync.WaitGroup
	)
	// Completion times at the ends of the first and last rateWindow completions.
	var done atomic.Int64
	var firstEnd, lastStart atomic.Int64
	windows := len(names) >= 2*rateWindow
	t0 := time.Now()
	for w := 0; w < min(o.inflight, len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				d, err := bc.publish(ctx, o, i, names[i])
				if windows {
					switch done.Add(1) {
					case rateWindow:
						firstEnd.Store(int64(time.Since(t0)))
					case int64(len(names) - rateWindow):
						lastStart.Store(int64(time.Since(t0)))
					}
				}
				if err != nil {
					lat[i] = -1
					nerr.Add(1)
					errOnce.Do(func() { firstErr = fmt.Sprintf("%s: %v", names[i], err) })
					continue
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	ok := lat[:0]
	for _, d := range lat {
		if d >= 0 {
			ok = append(ok, d)
		}
	}
	s := summarize(ok, int(nerr.Load()), firstErr, elapsed)
	if windows {
		s.FirstPerSec = rateWindow / time.Duration(firstEnd.Load()).Seconds()
		s.LastPerSec = rateWindow / (elapsed - time.Duration(lastStart.Load())).Seconds()
	}
	return s
}

func summarize(lat []time.Duration, errs int, firstErr string, elapsed time.Duration) latencySummary {
	s := latencySummary{OK: len(lat), Errors: errs, FirstError: firstErr, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.PerSec = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) == 0 {
		return s
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	s.P50ms, s.P99ms, s.MaxMs = q(.5), q(.99), q(1)
	return s
}

var benchHTTP = &http.Client{Timeout: 10 * time.Second}

// nodeMetrics reads a node's unlabelled metrics from /metrics (the gauges this benchmark needs have
// no labels; labelled series are skipped).
func nodeMetrics(ctx context.Context, hp string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hp+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	r, err := benchHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", hp, r.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// watchResident samples the resident replica count over all nodes until the returned function is
// called, which returns the highest sum seen. It shows how many replicas were loaded at once while
// creating, which bounds what Dragonboat keeps reachable after they passivate.
func (bc *benchCluster) watchResident() func() float64 {
	done := make(chan struct{})
	var peak float64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var sum float64
			for _, n := range bc.nodes {
				if m, err := nodeMetrics(context.Background(), n.hp); err == nil {
					sum += m["sampan_resident_replicas"]
				}
			}
			peak = max(peak, sum)
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// waitCounts polls every node's sampan_active_channels and sampan_resident_replicas until cond holds
// for their sums, or wait has passed (then Reached is false: reported, not an error).
func (bc *benchCluster) waitCounts(ctx context.Context, wait time.Duration, cond func(active, resident float64) bool) (*coldResult, error) {
	deadline := time.Now().Add(wait)
	for {
		cr := &coldResult{}
		var active, resident float64
		var lastErr error
		for _, n := range bc.nodes {
			m, err := nodeMetrics(ctx, n.hp)
			if err != nil {
				lastErr = fmt.Errorf("node %d: %w", n.id, err)
				break
			}
			a, okA := m["sampan_active_channels"]
			r, okR := m["sampan_resident_replicas"]
			if !okA || !okR {
				return nil, fmt.Errorf("node %d: /metrics has no sampan_active_channels or sampan_resident_replicas", n.id)
			}
			cr.ActiveChannels = append(cr.ActiveChannels, a)
			cr.ResidentReplicas = append(cr.ResidentReplicas, r)
			active += a
			resident += r
		}
		if lastErr == nil && cond(active, resident) {
			cr.Reached = true
			return cr, nil
		}
		if err := interrupted(ctx, bc); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return nil, lastErr
			}
			return cr, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// loadedChannels lists up to limit channels some node does not report cold, as NAME@node:state.
func (bc *benchCluster) loadedChannels(limit int) []string {
	var out []string
	for _, n := range bc.nodes {
		for after := ""; len(out) < limit; {
			r, err := benchHTTP.Get("http://" + n.hp + "/channels?limit=10000&after=" + url.QueryEscape(after))
			if err != nil {
				break
			}
			var page broker.ChannelList
			err = json.NewDecoder(r.Body).Decode(&page)
			r.Body.Close()
			if err != nil {
				break
			}
			for _, c := range page.Channels {
				if c.State != "cold" && len(out) < limit {
					out = append(out, fmt.Sprintf("%s@%d:%s", c.Name, n.id, c.State))
				}
			}
			if after = page.Next; after == "" {
				break
			}
		}
	}
	return out
}

// coldEverywhere reports whether every node reports the channel cold (not loaded there).
func (bc *benchCluster) coldEverywhere(name string) bool {
	for _, n := range bc.nodes {
		if cs, ok := benchChannelStatus(n.hp, name); !ok || cs.State != "cold" {
			return false
		}
	}
	return true
}

// memory forces a GC on every node and reads its heap in use and RSS.
func (bc *benchCluster) memory(ctx context.Context) ([]nodeMem, error) {
	var out []nodeMem
	for _, n := range bc.nodes {
		// The heap profile handler runs runtime.GC() first when gc > 0 (net/http/pprof handler.serveHTTP).
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.hp+"/debug/pprof/heap?gc=1", nil)
		if err != nil {
			return nil, err
		}
		r, err := benchHTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("node %d: force GC: %w", n.id, err)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("node %d: GET /debug/pprof/heap?gc=1: %s (is --pprof on?)", n.id, r.Status)
		}
		m, err := nodeMetrics(ctx, n.hp)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", n.id, err)
		}
		heap, ok := m["go_memstats_heap_inuse_bytes"]
		if !ok {
			return nil, fmt.Errorf("node %d: /metrics has no go_memstats_heap_inuse_bytes", n.id)
		}
		rss, err := procRSS(n.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", n.id, err)
		}
		out = append(out, nodeMem{Node: n.id, HeapInuse: heap, RSS: rss})
	}
	return out, nil
}

func perItem(base, after []nodeMem, items int) *memResult {
	mr := &memResult{Baseline: base, After: after}
	if items == 0 {
		return mr
	}
	var dh, dr float64
	for i := range after {
		dh += after[i].HeapInuse - base[i].HeapInuse
		dr += after[i].RSS - base[i].RSS
	}
	mr.HeapPerItem, mr.RSSPerItem = dh/float64(items), dr/float64(items)
	return mr
}

// procRSS is a process's resident set size in bytes (VmRSS of /proc/PID/status).
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS %q: %w", pid, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every Linux
// architecture Go supports (the kernel exports it fixed, whatever HZ it was built with).
const clockTicks = 100

// procCPU is a process's user + system CPU time (/proc/PID/stat utime and stime).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// idleCPU measures the nodes' CPU use over window, during which this benchmark sends them nothing.
func (bc *benchCluster) idleCPU(ctx context.Context, window time.Duration) (*cpuResult, error) {
	start := make([]time.Duration, len(bc.nodes))
	for i, n := range bc.nodes {
		c, err := procCPU(n.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", n.id, err)
		}
		start[i] = c
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	case <-time.After(window):
	}
	res := &cpuResult{}
	var elapsed time.Duration
	ends := make([]time.Duration, len(bc.nodes))
	for i, n := range bc.nodes {
		c, err := procCPU(n.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", n.id, err)
		}
		ends[i] = c
	}
	elapsed = time.Since(t0)
	res.WindowS = elapsed.Seconds()
	for i := range bc.nodes {
		pct := 100 * (ends[i] - start[i]).Seconds() / elapsed.Seconds()
		res.PerNodePct = append(res.PerNodePct, pct)
		res.TotalPct += pct
	}
	return res, nil
}

func fmtBytes(b float64) string {
	a := b
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func fmtLat(s latencySummary) string {
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", s.P50ms, s.P99ms, s.MaxMs)
}

func fmtErrs(s latencySummary) string {
	if s.Errors == 0 {
		return "0 errors"
	}
	return fmt.Sprintf("%d ERRORS (first: %s)", s.Errors, s.FirstError)
}

func printMem(w io.Writer, mr memResult, unit string) {
	for i := range mr.After {
		b, a := mr.Baseline[i], mr.After[i]
		fmt.Fprintf(w, "  node %d: heap in use %s -> %s, RSS %s -> %s\n", a.Node, fmtBytes(b.HeapInuse), fmtBytes(a.HeapInuse), fmtBytes(b.RSS), fmtBytes(a.RSS))
	}
	fmt.Fprintf(w, "  per %s (all nodes): heap %s, RSS %s\n", unit, fmtBytes(mr.HeapPerItem), fmtBytes(mr.RSSPerItem))
}

func printCPU(w io.Writer, c cpuResult) {
	var per []string
	for i, p := range c.PerNodePct {
		per = append(per, fmt.Sprintf("node %d %.1f%%", i+1, p))
	}
	fmt.Fprintf(w, "  %.1f%% of one core over %.1f s (%s)\n", c.TotalPct, c.WindowS, strings.Join(per, ", "))
}

func printBenchChannels(w io.Writer, o benchChannelsOpts, r *benchChannelsResult) {
	fmt.Fprintf(w, "bench channels: %d node(s), %d replica(s) per channel, idle timeout %s, %d in flight\n", r.Nodes, r.Replicas, r.IdleTimeout, r.Inflight)
	if c := r.Create; c != nil {
		fmt.Fprintf(w, "create %d channels: %d acked in %.1f s, %.0f creates/s, ack %s, %s; peak %.0f resident replicas\n",
			r.Count, c.OK, c.Seconds, c.PerSec, fmtLat(*c), fmtErrs(*c), r.PeakResident)
		if c.FirstPerSec > 0 {
			fmt.Fprintf(w, "  the first %d creates: %.0f/s; the last %d: %.0f/s\n", rateWindow, c.FirstPerSec, rateWindow, c.LastPerSec)
		}
	}
	if c := r.Cold; c != nil {
		if c.Reached {
			fmt.Fprintf(w, "cold: every node at 0 active channels and 0 resident replicas %.1f s after the last create\n", c.Seconds)
		} else {
			fmt.Fprintf(w, "NOT COLD after %.1f s: active channels %v, resident replicas %v per node; e.g. %s\n",
				c.Seconds, c.ActiveChannels, c.ResidentReplicas, strings.Join(c.StillLoaded, " "))
		}
	}
	if r.EmptyCPU != nil {
		fmt.Fprintln(w, "idle CPU of the empty node(s), before any channel:")
		printCPU(w, *r.EmptyCPU)
	}
	if r.ColdMemory != nil {
		fmt.Fprintf(w, "memory after GC, empty -> %d cold channels:\n", r.Create.OK)
		printMem(w, *r.ColdMemory, "cold channel")
	}
	if r.ColdCPU != nil {
		fmt.Fprintln(w, "idle CPU with the channels cold:")
		printCPU(w, *r.ColdCPU)
	}
	if s := r.WakeSerial; s != nil {
		nc := ""
		if s.NotCold > 0 {
			nc = fmt.Sprintf(" (%d were not cold on every node before their wake)", s.NotCold)
		}
		fmt.Fprintf(w, "wake one at a time: %d woken, ack %s, %s%s\n", s.OK, fmtLat(s.latencySummary), fmtErrs(s.latencySummary), nc)
	}
	if s := r.WakeConc; s != nil {
		fmt.Fprintf(w, "wake %d in flight: %d woken in %.1f s, %.0f wakes/s, ack %s, %s\n", o.inflight, s.OK, s.Seconds, s.PerSec, fmtLat(*s), fmtErrs(*s))
	}
	if rr := r.Resident; rr != nil {
		state := "all resident"
		if !rr.Reached {
			state = "NOT ALL RESIDENT when measured"
		}
		fmt.Fprintf(w, "resident: %d channels, %d replicas (%s), created at %.0f/s, %s\n", rr.Channels, rr.Replicas, state, rr.Create.PerSec, fmtErrs(rr.Create))
		printMem(w, rr.Memory, "resident replica")
		fmt.Fprintln(w, "idle CPU with them resident:")
		printCPU(w, rr.CPU)
	}
}
