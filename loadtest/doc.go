// Package loadtest drives load against the pipeline and reports what it saw.
//
// The shape is vegeta's: a Pacer says when each hit is due, an Attacker sends
// the hits to a Target from a pool of workers that grows on demand, each hit
// comes back as a Result, Metrics aggregates the results into a Summary, and
// the reports (Summary.Text, Summary.JSON, LiveLine, WriteHTML) and an SLO
// check read the Summary.
//
// The model is open and free of coordinated omission: the schedule never
// waits for a response, every hit keeps the time the schedule intended it to
// be sent, and its latency is measured from that time. A target that stalls
// for a second under 1000 hits/s shows a thousand hits with latencies spread
// up to a second, not one slow request; an attacker that runs out of workers
// says so (Attacker.Saturated) and the wait shows in the latencies.
//
// A minimal attack:
//
//	p, err := loadtest.ParsePacer("ramp:100-5000/60s")
//	...
//	a := loadtest.NewAttacker(loadtest.WithWorkers(10, 5000), loadtest.WithTimeout(5*time.Second))
//	m := loadtest.NewMetrics()
//	for r := range a.Attack(ctx, target, p, 2*time.Minute) {
//		m.Add(r)
//	}
//	sum := m.Summary()
//	sum.Target, sum.Saturated, sum.Workers = "ingest", a.Saturated(), a.Workers()
//	err = sum.Text(os.Stdout)
package loadtest
