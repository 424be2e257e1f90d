package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
)

// sample is the ingest counters at one time.
type sample struct {
	at                 time.Time
	accepted, rejected int64
}

// sample reads the ingest counters into the ring.
func (d *Dashboard) sample(now time.Time) {
	st := d.src.Ingest.Stats()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ring[d.next] = sample{at: now, accepted: st.Accepted, rejected: st.Rejected}
	d.next = (d.next + 1) % ringSize
	d.n = min(d.n+1, ringSize)
}

// samples returns the samples in the ring, oldest first.
func (d *Dashboard) samples() []sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]sample, 0, d.n)
	for i := range d.n {
		out = append(out, d.ring[(d.next-d.n+i+ringSize)%ringSize])
	}
	return out
}

// rate is the events per second accepted and rejected over span.
type rate struct {
	accepted, rejected float64
	span               time.Duration
}

// rateOver computes the rates between the newest sample and the oldest one at most window (give or take
// half an interval, the ticker's jitter) before it. ok is false when there is no such pair.
func rateOver(samples []sample, window, every time.Duration) (r rate, ok bool) {
	if len(samples) < 2 {
		return rate{}, false
	}
	newest := samples[len(samples)-1]
	from := -1
	for i := len(samples) - 2; i >= 0; i-- {
		if newest.at.Sub(samples[i].at) > window+every/2 {
			break
		}
		from = i
	}
	if from < 0 {
		return rate{}, false
	}
	oldest := samples[from]
	span := newest.at.Sub(oldest.at)
	if span <= 0 {
		return rate{}, false
	}
	return rate{
		accepted: perSecond(newest.accepted-oldest.accepted, span),
		rejected: perSecond(newest.rejected-oldest.rejected, span),
		span:     span,
	}, true
}

// series is the rate between each two consecutive samples.
func series(samples []sample) []RatePoint {
	out := make([]RatePoint, 0, max(len(samples)-1, 0))
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		span := b.at.Sub(a.at)
		if span <= 0 {
			continue
		}
		out = append(out, RatePoint{T: b.at.UnixMilli(), Accepted: perSecond(b.accepted-a.accepted, span),
			Rejected: perSecond(b.rejected-a.rejected, span)})
	}
	return out
}

// perSecond is n over span, per second; a counter that went back (a new process) counts as 0.
func perSecond(n int64, span time.Duration) float64 {
	return float64(max(n, 0)) / span.Seconds()
}

// frame is one event of the stream: a snapshot's JSON and its sequence number.
type frame struct {
	id   uint64
	data []byte
}

// subscriber is one client of the stream. Its channel holds the newest frame not yet sent: a slow client
// skips snapshots rather than holding the others up.
type subscriber struct {
	ch chan frame
}

// subscribe adds a subscriber; false once Run has returned.
func (d *Dashboard) subscribe() (*subscriber, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, false
	}
	s := &subscriber{ch: make(chan frame, 1)}
	d.subs[s] = struct{}{}
	return s, true
}

// unsubscribe removes s.
func (d *Dashboard) unsubscribe(s *subscriber) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subs, s)
}

// subscribers returns the number of subscribers.
func (d *Dashboard) subscribers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

// broadcast takes one snapshot and hands it to every subscriber, in place of a frame it has not sent yet.
func (d *Dashboard) broadcast(ctx context.Context) {
	b, err := json.Marshal(d.Snapshot(ctx))
	if err != nil {
		d.log.Warn("dashboard: encoding a snapshot", "error", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	f := frame{id: d.seq, data: b}
	for s := range d.subs {
		select {
		case <-s.ch:
		default:
		}
		s.ch <- f
	}
}

// closeStreams ends every stream and refuses new ones.
func (d *Dashboard) closeStreams() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for s := range d.subs {
		close(s.ch)
		delete(d.subs, s)
	}
}

// streamRetry is the reconnection delay the stream asks of EventSource clients.
const streamRetry = 2 * time.Second

// writeTimeout bounds each write to a stream, so that a client that stopped reading is let go of.
const writeTimeout = 10 * time.Second

// serveStream answers GET /v1/dashboard/stream: a snapshot at once, then each one Run takes, as server-sent
// events, until the client leaves or Run returns.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	sub, ok := d.subscribe()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "the dashboard is stopping; poll GET /v1/dashboard instead")
		return
	}
	defer d.unsubscribe(sub)
	first, err := json.Marshal(d.Snapshot(r.Context()))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the snapshot: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(prefix string, f frame) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(appendEvent([]byte(prefix), f)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	d.mu.Lock()
	seq := d.seq
	d.mu.Unlock()
	if !send("retry: "+strconv.FormatInt(streamRetry.Milliseconds(), 10)+"\n", frame{id: seq, data: first}) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case f, ok := <-sub.ch:
			if !ok || !send("", f) {
				return
			}
		}
	}
}

// appendEvent appends f as a server-sent event named "snapshot" to b. The data is JSON, which holds no
// line break, so it is one data line.
func appendEvent(b []byte, f frame) []byte {
	b = append(b, "event: snapshot\nid: "...)
	b = strconv.AppendUint(b, f.id, 10)
	b = append(b, "\ndata: "...)
	b = append(b, f.data...)
	return append(b, "\n\n"...)
}

// serveSnapshot answers GET /v1/dashboard: one Snapshot, taken now.
func (d *Dashboard) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(d.Snapshot(r.Context()))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the snapshot: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// writeError writes {"message": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
