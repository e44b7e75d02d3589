package actors

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// scriptProposer answers the pipeline's proposals as a script says and records them.
type scriptProposer struct {
	next []string // outcomes of the next proposals: "ok", "busy", "err", "gone", "expires"
	log  *[]string
}

func (s *scriptProposer) propose(p *proposal, _ time.Duration, redo bool) proposeOutcome {
	out := "ok"
	if len(s.next) > 0 {
		out, s.next = s.next[0], s.next[1:]
	}
	verb := "propose"
	if redo {
		verb = "repropose"
	}
	*s.log = append(*s.log, fmt.Sprintf("%s %s %s", verb, p.msg.Channel, out))
	switch out {
	case "busy":
		return proposeOutcome{err: errors.New("system busy"), busy: true}
	case "err":
		return proposeOutcome{err: errors.New("propose failed")}
	case "gone":
		return proposeOutcome{err: errors.New("shard not found"), gone: true}
	case "expires":
		return proposeOutcome{expires: true}
	}
	return proposeOutcome{}
}

// TestPipelineScenarios replays the races a channel's proposal pipeline meets as scripted steps: at a
// time (ms), an event, and the effects and proposals it must produce, in order. Publishes are named by
// the Channel field of their message (p1, p2 ...).
//
// Events: "pub P" (a publish; "pub P empty": nothing left to propose), "done P CODE" (Raft's answer to
// P's current attempt: committed, dropped, timeout, terminated, rejected), "stale P CODE" (an answer to
// P's previous attempt), "next O..." (outcomes of the next proposals: ok busy err gone expires), "retry",
// "activate", "leader R" (leader changed to replica R; also the leader the actor reads while pulling),
// "pull R", "abandon", "expire", "handoff", "stopping", "blocked" (takeBlocked).
func TestPipelineScenarios(t *testing.T) {
	type step struct {
		ms   int
		do   string
		want string // effects and proposals, "; "-separated ("" for none)
	}
	for _, tc := range []struct {
		name    string
		unready bool // starts before the activation is ready
		steps   []step
	}{
		{"answers leave in publish order whatever order Raft answers in", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2", "propose p2 ok"},
			{1, "done p2 committed", ""},
			{2, "done p1 committed", "answer p1 committed; answer p2 committed"},
		}},
		{"an empty publish is answered in turn", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2 empty", ""},
			{1, "done p1 committed", "answer p1 committed; answer p2 empty"},
		}},
		{"an empty publish behind a blocked one waits its turn (a new channel's first publish, then an oversize one)", false, []step{
			{0, "next busy", ""},
			{0, "pub p1", "propose p1 busy; arm retry 2ms"},
			{1, "pub p2 empty", ""},
			{2, "retry", "propose p1 ok"},
			{3, "done p1 committed", "answer p1 committed; answer p2 empty"},
		}},
		{"back-pressure: a busy proposal waits, later publishes queue behind it, order kept", false, []step{
			{0, "next busy", ""},
			{0, "pub p1", "propose p1 busy; arm retry 2ms"},
			{1, "pub p2", ""},
			{2, "next busy", ""},
			{2, "retry", "propose p1 busy; arm retry 2ms"},
			{4, "retry", "propose p1 ok; propose p2 ok"},
			{5, "done p1 committed", "answer p1 committed"},
			{5, "done p2 committed", "answer p2 committed"},
		}},
		{"back-pressure past the proposal timeout: answered busy, not held for ever", false, []step{
			{0, "next busy", ""},
			{0, "pub p1", "propose p1 busy; arm retry 2ms"},
			{10000, "next busy", ""},
			{10000, "retry", "propose p1 busy; answer p1 err"},
		}},
		{"a leadership transfer drops everything in flight: all proposed again, in order; new ones wait", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2", "propose p2 ok"},
			{0, "pub p3", "propose p3 ok"},
			{1, "done p1 dropped", ""},
			{1, "pub p4", "arm retry 2ms"},
			{2, "done p2 dropped", ""},
			{2, "done p3 dropped", "repropose p1 ok; repropose p2 ok; repropose p3 ok"},
			{3, "retry", "propose p4 ok"},
			{4, "stale p1 committed", ""},
			{5, "done p1 committed", "answer p1 committed"},
			{5, "done p2 committed", "answer p2 committed"},
			{5, "done p3 committed", "answer p3 committed"},
			{5, "done p4 committed", "answer p4 committed"},
		}},
		{"a dropped proposal behind which one went through is answered, not proposed again", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2", "propose p2 ok"},
			{1, "done p1 dropped", ""},
			{2, "done p2 committed", "answer p1 dropped; answer p2 committed"},
		}},
		{"a dropped proposal behind one of unknown outcome is answered", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2", "propose p2 ok"},
			{1, "done p1 dropped", ""},
			{2, "done p2 timeout", "answer p1 dropped; answer p2 timeout"},
		}},
		{"a redo whose proposing fails answers the failed one at once", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{0, "pub p2", "propose p2 ok"},
			{1, "done p1 dropped", ""},
			{1, "next err ok", ""},
			{2, "done p2 dropped", "repropose p1 err; repropose p2 ok; answer p1 err"},
			{3, "done p2 committed", "answer p2 committed"},
		}},
		{"publishes wait while a leadership transfer this actor asked for runs", false, []step{
			{0, "pull 1", ""},
			{0, "leader 2", ""},
			{1, "pub p1", "arm retry 2ms"},
			{3, "retry", "arm retry 2ms"},
			{5, "leader 1", ""},
			{5, "retry", "propose p1 ok"},
		}},
		{"a transfer that never completes holds publishes for pullHold only", false, []step{
			{0, "leader 2", ""},
			{0, "pull 1", ""},
			{1, "pub p1", "arm retry 2ms"},
			{499, "retry", "arm retry 2ms"},
			{500, "retry", "propose p1 ok"},
		}},
		{"a leader change strands proposals made before it: answered outcome unknown after abandonAfter", false, []step{
			{0, "leader 1", ""},
			{0, "pub p1", "propose p1 ok"},
			{10, "leader 2", "arm abandon 250ms"},
			{10, "pub p2", "propose p2 ok"},
			{200, "abandon", ""},
			{260, "abandon", "answer p1 abandoned"},
			{261, "done p1 committed", ""},
			{262, "done p2 committed", "answer p2 committed"},
		}},
		{"no leader, or the same leader again, strands nothing", false, []step{
			{0, "leader 1", ""},
			{0, "pub p1", "propose p1 ok"},
			{10, "leader 0", ""},
			{20, "leader 1", ""},
			{30, "done p1 committed", "answer p1 committed"},
		}},
		{"a proposal made before the replica's first tick is expired by the pipeline", false, []step{
			{0, "next expires", ""},
			{0, "pub p1", "propose p1 expires; arm expire 10.001s"},
			{0, "pub p2", "propose p2 ok"},
			{9999, "expire", ""},
			{10000, "expire", "answer p1 expired"},
			{10001, "done p2 committed", "answer p2 committed"},
		}},
		{"the replica is gone: the publish is answered and the actor stops", false, []step{
			{0, "next gone", ""},
			{0, "pub p1", "propose p1 gone; answer p1 err; stop"},
		}},
		{"a publish during activation waits for it, then is proposed in order", true, []step{
			{0, "pub p1", ""},
			{1, "pub p2", ""},
			{5, "activate", "propose p1 ok; propose p2 ok"},
			{6, "done p1 committed", "answer p1 committed"},
		}},
		{"a hand-off under load: in-flight ones answered, then stop; what waited is left to the sessions", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{1, "handoff", ""},
			{2, "pub p2", "arm retry 2ms"},
			{4, "retry", "arm retry 2ms"},
			{5, "done p1 committed", "answer p1 committed; stop"},
			{5, "blocked", "blocked p2"},
		}},
		{"a hand-off with nothing in flight stops at once", false, []step{
			{0, "handoff", "stop"},
		}},
		{"stopping: a dropped proposal is answered, not proposed again", false, []step{
			{0, "pub p1", "propose p1 ok"},
			{1, "stopping", ""},
			{2, "done p1 dropped", "answer p1 dropped"},
		}},
		{"a publish during passivation's drain: what was blocked is returned for answering", false, []step{
			{0, "next busy", ""},
			{0, "pub p1", "propose p1 busy; arm retry 2ms"},
			{1, "stopping", ""},
			{1, "blocked", "blocked p1"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			prop := &scriptProposer{log: &log}
			c := pipeline{timeout: 10 * time.Second, prop: prop, ready: !tc.unready}
			t0 := time.Unix(1000, 0)
			byName := map[string]*proposal{}
			leader := uint64(0)
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(st.ms) * time.Millisecond)
				f := strings.Fields(st.do)
				var extra []string
				switch f[0] {
				case "pub":
					p := &proposal{msg: &Publish{Channel: f[1]}, empty: len(f) > 2 && f[2] == "empty"}
					byName[f[1]] = p
					c.publish(now, leader, p)
				case "done", "stale":
					p := byName[f[1]]
					attempt := p.attempt
					if f[0] == "stale" {
						attempt--
					}
					c.done(now, p, attempt, map[string]resultCode{"committed": codeCommitted, "dropped": codeDropped,
						"timeout": codeTimeout, "terminated": codeTerminated, "rejected": codeRejected}[f[2]])
				case "next":
					prop.next = append(prop.next, f[1:]...)
				case "retry":
					c.retry(now, leader)
				case "activate":
					c.activated(now, leader)
				case "leader":
					fmt.Sscan(f[1], &leader)
					c.leaderChanged(now, leader)
				case "pull":
					var r uint64
					fmt.Sscan(f[1], &r)
					c.pull(now, r)
				case "abandon":
					c.abandonCheck(now)
				case "expire":
					c.expireCheck(now)
				case "handoff":
					c.handOff()
				case "stopping":
					c.stopping = true
				case "blocked":
					for _, p := range c.takeBlocked() {
						extra = append(extra, "blocked "+p.msg.Channel)
					}
				default:
					t.Fatalf("step %d: unknown event %q", i, st.do)
				}
				got := append(log, describe(c.take())...)
				got = append(got, extra...)
				log = nil
				if g := strings.Join(got, "; "); g != st.want {
					t.Fatalf("step %d (%d ms, %q):\n got: %s\nwant: %s", i, st.ms, st.do, g, st.want)
				}
			}
		})
	}
}

func describe(effects []effect) []string {
	var out []string
	for _, e := range effects {
		switch e.kind {
		case effAnswer:
			p, how := e.p, ""
			switch {
			case p.empty:
				how = "empty"
			case p.expired:
				how = "expired"
			case p.abandoned:
				how = "abandoned"
			case p.err != nil:
				how = "err"
			default:
				how = map[resultCode]string{codeCommitted: "committed", codeDropped: "dropped", codeTimeout: "timeout",
					codeTerminated: "terminated", codeRejected: "rejected"}[p.code]
			}
			out = append(out, "answer "+p.msg.Channel+" "+how)
		case effArm:
			out = append(out, fmt.Sprintf("arm %s %v", map[timerKind]string{retryTimer: "retry", abandonTimer: "abandon", expireTimer: "expire"}[e.timer], e.after))
		case effStop:
			out = append(out, "stop")
		}
	}
	return out
}
