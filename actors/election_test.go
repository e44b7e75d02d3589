package actors

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestElectionScenarios replays an activation's wait for a leader as scripted steps: at each time (ms
// after the wait began) what the local replica reports, and the decision expected. Each scenario is a
// race an activation meets: a wake with no leader yet, a new shard whose campaigns Dragonboat skips
// until its membership is applied, a failover where the replica still names the dead leader, a leader
// that is alive elsewhere, a joining replica, and a wait that never ends.
func TestElectionScenarios(t *testing.T) {
	none := leaderView{running: true}
	led := func(leader, node uint64, up bool) leaderView {
		return leaderView{running: true, leader: leader, leaderNode: node, leaderUp: up}
	}
	type at struct {
		ms   int
		view leaderView
		want electionStep
	}
	for _, tc := range []struct {
		name                  string
		canCampaign, canProbe bool
		steps                 []at
	}{
		{"wake: campaign at once, then led by this replica", true, true, []at{
			{0, none, electionCampaign}, {0, none, electionWait}, {1, led(1, 1, true), electionLed}}},
		{"new shard: skipped campaigns retried with a growing backoff", true, true, []at{
			{0, none, electionCampaign}, {0, none, electionWait}, {1, none, electionCampaign},
			{2, none, electionWait}, {3, none, electionCampaign}, {6, none, electionWait},
			{7, none, electionCampaign}, {14, none, electionWait}, {15, none, electionCampaign},
			{31, none, electionCampaign}, {62, none, electionWait}, {63, none, electionCampaign},
			{95, none, electionCampaign}, {97, led(1, 1, true), electionLed}}},
		{"no campaign after the window: Raft's timer takes over", true, true, []at{
			{0, none, electionCampaign}, {299, none, electionCampaign}, {300, none, electionWait},
			{400, none, electionWait}, {450, led(2, 2, true), electionProbe}, {451, led(2, 2, true), electionLed}}},
		{"failover: the dead leader is probed once, then campaigned against", true, true, []at{
			{0, led(3, 3, true), electionProbe}, {0, led(3, 3, false), electionCampaign},
			{0, led(3, 3, false), electionWait}, {1, led(3, 3, false), electionCampaign}, {2, led(1, 1, true), electionLed}}},
		{"failover seen by liveness already: campaign without a probe", true, true, []at{
			{0, led(3, 3, false), electionCampaign}, {2, led(1, 1, true), electionLed}}},
		{"a live leader elsewhere: probed once, never campaigned against", true, true, []at{
			{0, led(2, 2, true), electionProbe}, {0, led(2, 2, true), electionLed}}},
		{"a new leader after the probe is probed too", true, true, []at{
			{0, led(2, 2, true), electionProbe}, {0, led(3, 3, true), electionProbe}, {1, led(3, 3, true), electionLed}}},
		{"joining replica: never campaigns, waits for Raft", false, true, []at{
			{0, none, electionWait}, {50, none, electionWait}, {200, led(2, 2, true), electionProbe}, {200, led(2, 2, true), electionLed}}},
		{"no prober: a named live leader ends the wait", true, false, []at{
			{0, led(2, 2, true), electionLed}}},
		{"replica not running yet: no campaign", true, true, []at{
			{0, leaderView{}, electionWait}, {1, none, electionCampaign}}},
		{"deadline", true, true, []at{
			{0, none, electionCampaign}, {1001, none, electionTimedOut}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1000, 0)
			e := election{mine: 1, start: t0, deadline: t0.Add(time.Second), canCampaign: tc.canCampaign, canProbe: tc.canProbe}
			var trace strings.Builder
			for i, s := range tc.steps {
				got := e.step(t0.Add(time.Duration(s.ms)*time.Millisecond), s.view)
				fmt.Fprintf(&trace, "  %d ms %+v -> %d\n", s.ms, s.view, got)
				if got != s.want {
					t.Fatalf("step %d: got %d, want %d\n%s", i, got, s.want, trace.String())
				}
			}
		})
	}
}
