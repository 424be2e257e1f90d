package loadtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serverless-data-platform/sdp/event"
)

// Defaults of GenConfig's zero fields.
const (
	// DefaultKeys is how many distinct subjects (partition keys) a Generator draws from.
	DefaultKeys = 1000
	// DefaultPoisonPrefix starts the subject of a poison event: the prefix that a processing rule such as
	// `sdp up --rule poison:/subject^=poison-` quarantines.
	DefaultPoisonPrefix = "poison-"
)

// paddingAttribute is the CloudEvents extension attribute that carries the padding an event's data has no
// room for. The envelope schema allows extension attributes; the pipeline ignores this one.
const paddingAttribute = "padding"

// ErrInvalidConfig is wrapped by the errors of constructors given settings they cannot work with.
var ErrInvalidConfig = errors.New("loadtest: invalid configuration")

// GenConfig configures a Generator. Its zero value generates the built-in event types, uniformly over
// DefaultKeys subjects, at their natural size (300 to 500 bytes), all valid, with seed 0.
type GenConfig struct {
	// Types are the event types to generate; empty means every type of GeneratedTypes.
	Types []string
	// Seed makes the output reproducible: the same seed, sequence number, count and stamp give the same
	// bytes. Event ids are derived from it, so two runs against the same table need different seeds.
	Seed uint64
	// Size is the approximate size of one event in bytes; 0 keeps each event at its natural size. Padding
	// goes into optional text fields the type's schema allows (a page title, a user agent, a coupon, a
	// firmware string) up to their maximum length, then into a "padding" extension attribute.
	Size int
	// Keys is the number of distinct subjects, which are the partition keys (DefaultKeys when 0).
	Keys int
	// Zipf, when above 1, draws subjects from a Zipf distribution with this exponent, so that a few keys (and
	// the shards they hash to) are hot; 0 draws them uniformly. Values in (0, 1] are refused.
	Zipf float64
	// InvalidRatio is the share of events that break their schema (ingest rejects them).
	InvalidRatio float64
	// PoisonRatio is the share of events that are valid but whose subject starts with PoisonPrefix, so that
	// a processing rule quarantines them (they end in the dead-letter queue, never in the curated table).
	PoisonRatio float64
	// PoisonPrefix starts a poison event's subject (DefaultPoisonPrefix when empty).
	PoisonPrefix string
}

// EventInfo describes one generated event.
type EventInfo struct {
	// ID is the event's id, unique within a run: it is derived from the seed, the sequence number and the
	// event's index in its batch.
	ID string `json:"id"`
	// Type is the event type; Key the subject, which is the partition key.
	Type string `json:"type"`
	Key  string `json:"key"`
	// Invalid is true for an event that breaks its schema; Poison for a valid event a rule quarantines.
	Invalid bool `json:"invalid,omitempty"`
	Poison  bool `json:"poison,omitempty"`
}

// Generator makes batches of realistic CloudEvents. It holds no mutable state: each batch is derived from the
// seed and the batch's sequence number alone, so a Generator is safe for concurrent use and its output does
// not depend on the order in which workers ask for batches.
type Generator struct {
	cfg     GenConfig
	types   []typeBuilder
	weights []float64 // cumulative, ending at 1
	seedTag uint32    // the seed's share of every event id
}

// typeBuilder draws one event of a type. draw consumes randomness and returns the event's subject (before
// any poison prefix) and a renderer of its data object: render appends the data object to dst, spending at
// most pad bytes on optional text, and returns the padding it could not place.
type typeBuilder struct {
	name   string
	weight float64
	source []string
	draw   func(r *rand.Rand, key int) (subject string, render func(dst []byte, pad int) ([]byte, int))
}

// GeneratedTypes lists the event types a Generator can make, sorted.
func GeneratedTypes() []string {
	var out []string
	for _, b := range builders() {
		out = append(out, b.name)
	}
	slices.Sort(out)
	return out
}

// NewGenerator checks cfg and returns a Generator. It does no I/O.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if cfg.Keys == 0 {
		cfg.Keys = DefaultKeys
	}
	if cfg.PoisonPrefix == "" {
		cfg.PoisonPrefix = DefaultPoisonPrefix
	}
	switch {
	case cfg.Keys < 0:
		return nil, fmt.Errorf("%w: keys %d: want at least 1", ErrInvalidConfig, cfg.Keys)
	case cfg.Zipf != 0 && !(cfg.Zipf > 1):
		return nil, fmt.Errorf("%w: zipf exponent %g: want 0 (uniform) or above 1", ErrInvalidConfig, cfg.Zipf)
	case cfg.Size < 0:
		return nil, fmt.Errorf("%w: size %d: want 0 (natural) or a number of bytes", ErrInvalidConfig, cfg.Size)
	case cfg.Size > event.MaxRecordBytes/2:
		return nil, fmt.Errorf("%w: size %d: an event stays under %d bytes", ErrInvalidConfig, cfg.Size, event.MaxRecordBytes/2)
	case !(cfg.InvalidRatio >= 0 && cfg.InvalidRatio <= 1), !(cfg.PoisonRatio >= 0 && cfg.PoisonRatio <= 1):
		return nil, fmt.Errorf("%w: ratios must be within [0, 1] (invalid %g, poison %g)", ErrInvalidConfig, cfg.InvalidRatio, cfg.PoisonRatio)
	case cfg.InvalidRatio+cfg.PoisonRatio > 1:
		return nil, fmt.Errorf("%w: invalid ratio %g and poison ratio %g add up to more than 1", ErrInvalidConfig, cfg.InvalidRatio, cfg.PoisonRatio)
	case len(cfg.PoisonPrefix) > 64 || strings.ContainsAny(cfg.PoisonPrefix, "\"\\\x00\n"):
		return nil, fmt.Errorf("%w: poison prefix %q: want at most 64 plain characters", ErrInvalidConfig, cfg.PoisonPrefix)
	}
	all := builders()
	g := &Generator{cfg: cfg}
	if len(cfg.Types) == 0 {
		g.types = all
	} else {
		for _, t := range cfg.Types {
			i := slices.IndexFunc(all, func(b typeBuilder) bool { return b.name == t })
			if i < 0 {
				return nil, fmt.Errorf("%w: no generator for event type %q (known: %s)", ErrInvalidConfig, t, strings.Join(GeneratedTypes(), ", "))
			}
			g.types = append(g.types, all[i])
		}
	}
	total := 0.0
	for _, b := range g.types {
		total += b.weight
	}
	acc := 0.0
	for _, b := range g.types {
		acc += b.weight / total
		g.weights = append(g.weights, acc)
	}
	g.weights[len(g.weights)-1] = 1
	g.seedTag = uint32(mix(cfg.Seed) >> 32)
	return g, nil
}

// Config returns the generator's settings, with the defaults filled in.
func (g *Generator) Config() GenConfig { return g.cfg }

// Batch returns n events as one JSON array (the body of an application/cloudevents-batch+json request) and
// what each event is, in order. Every event's time is stamp. The same generator settings, seq, n and stamp
// always give the same bytes.
func (g *Generator) Batch(seq uint64, n int, stamp time.Time) (body []byte, ids []EventInfo) {
	body, _, ids = g.generate(seq, n, stamp)
	return body, ids
}

// Records returns n events as stream records, keyed by subject, and what each event is, in order. The
// records' data are the events of Batch(seq, n, stamp).
func (g *Generator) Records(seq uint64, n int, stamp time.Time) ([]event.Record, []EventInfo) {
	body, spans, infos := g.generate(seq, n, stamp)
	recs := make([]event.Record, n)
	for i, s := range spans {
		recs[i] = event.Record{PartitionKey: infos[i].Key, Data: body[s[0]:s[1]:s[1]]}
	}
	return recs, infos
}

// generate writes n events into one JSON array and returns it with each event's byte span.
func (g *Generator) generate(seq uint64, n int, stamp time.Time) ([]byte, [][2]int, []EventInfo) {
	n = max(n, 0)
	r := rand.New(rand.NewPCG(g.cfg.Seed, mix(seq)))
	var zipf *rand.Zipf
	if g.cfg.Zipf > 1 && g.cfg.Keys > 1 {
		zipf = rand.NewZipf(r, g.cfg.Zipf, 1, uint64(g.cfg.Keys-1))
	}
	ts := stamp.UTC().AppendFormat(nil, time.RFC3339Nano)
	size := g.cfg.Size
	if size == 0 {
		size = 400
	}
	body := make([]byte, 0, 2+n*(size+64))
	body = append(body, '[')
	spans := make([][2]int, n)
	infos := make([]EventInfo, n)
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		start := len(body)
		body, infos[i] = g.appendEvent(body, r, zipf, seq, i, ts)
		spans[i] = [2]int{start, len(body)}
	}
	body = append(body, ']')
	return body, spans, infos
}

// invalidKinds are the ways an invalid event breaks its schema, each a rule ingest reports.
const (
	invalidExtraField  = iota // data gains a property its schema does not allow (additionalProperties)
	invalidUnknownType        // the type has no schema (unknownType)
	invalidMissingTime        // the required time attribute is missing (required)
	invalidSpecVersion        // specversion is not 1.0 (const)
	invalidKinds
)

// appendEvent draws and appends the index-th event of batch seq.
func (g *Generator) appendEvent(dst []byte, r *rand.Rand, zipf *rand.Zipf, seq uint64, index int, ts []byte) ([]byte, EventInfo) {
	u := r.Float64()
	pick := r.Float64()
	b := &g.types[len(g.types)-1]
	for k, w := range g.weights {
		if pick < w {
			b = &g.types[k]
			break
		}
	}
	var key int
	if zipf != nil {
		key = int(zipf.Uint64())
	} else {
		key = r.IntN(g.cfg.Keys)
	}
	source := b.source[r.IntN(len(b.source))]
	subject, render := b.draw(r, key)
	info := EventInfo{ID: g.id(seq, index), Type: b.name}
	invalid := -1
	switch {
	case u < g.cfg.InvalidRatio:
		info.Invalid = true
		invalid = r.IntN(invalidKinds)
	case u < g.cfg.InvalidRatio+g.cfg.PoisonRatio:
		info.Poison = true
		subject = g.cfg.PoisonPrefix + subject
	}
	info.Key = subject

	start := len(dst)
	write := func(dst []byte, pad int) ([]byte, int) {
		dst = append(dst, `{"specversion":`...)
		if invalid == invalidSpecVersion {
			dst = append(dst, `"0.3"`...)
		} else {
			dst = append(dst, `"1.0"`...)
		}
		dst = append(dst, `,"id":"`...)
		dst = append(dst, info.ID...)
		dst = append(dst, `","source":"`...)
		dst = append(dst, source...)
		dst = append(dst, `","type":"`...)
		if invalid == invalidUnknownType {
			dst = append(dst, "click"...)
		} else {
			dst = append(dst, b.name...)
		}
		if invalid != invalidMissingTime {
			dst = append(dst, `","time":"`...)
			dst = append(dst, ts...)
		}
		dst = append(dst, `","subject":"`...)
		dst = append(dst, subject...)
		dst = append(dst, `","datacontenttype":"application/json","data":`...)
		dataStart := len(dst)
		dst, pad = render(dst, pad)
		if invalid == invalidExtraField {
			dst = slices.Insert(dst, dataStart+1, []byte(`"colour":"red",`)...)
		}
		return dst, pad
	}
	dst, _ = write(dst, 0)
	if need := g.cfg.Size - (len(dst) - start) - 1; need > 0 {
		dst = dst[:start]
		var left int
		dst, left = write(dst, need)
		// The extension attribute costs its name and quotes before it carries anything.
		if cost := len(`,"` + paddingAttribute + `":""`); left > cost {
			dst = append(dst, `,"`+paddingAttribute+`":"`...)
			dst = appendFiller(dst, left-cost)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}'), info
}

// id returns the event id of the index-th event of batch seq: a version 4 UUID whose bits hold a hash of the
// seed (32 bits), seq (60 bits) and index (28 bits), so ids never repeat within a run of one seed.
func (g *Generator) id(seq uint64, index int) string {
	i := uint64(index)
	var u [16]byte
	put := func(b []byte, v uint64) {
		for k := len(b) - 1; k >= 0; k-- {
			b[k] = byte(v)
			v >>= 8
		}
	}
	put(u[0:4], uint64(g.seedTag))
	put(u[4:6], seq>>44)
	put(u[6:8], (seq>>32)&0xfff) // the version nibble is overwritten
	put(u[8:10], i&0xfff)        // the variant bits are overwritten; 12 bits of index remain
	put(u[10:16], (seq&0xffffffff)<<16|(i>>12)&0xffff)
	return event.UUID(u)
}

// mix is SplitMix64's finaliser: it spreads the bits of x, so that neighbouring seeds and sequence numbers
// give unrelated streams.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// filler is the text that padding repeats: plain words, which JSON needs no escapes for.
const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "

// appendFiller appends n bytes of filler text.
func appendFiller(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(filler))
		dst = append(dst, filler[:k]...)
		n -= k
	}
	return dst
}

// appendText appends a JSON string field ,"name":"text" followed by up to pad bytes of filler (never more
// than maxLen characters in all) and returns the padding left.
func appendText(dst []byte, name, text string, maxLen, pad int) ([]byte, int) {
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":"`...)
	dst = append(dst, text...)
	sep := 0
	if text != "" {
		sep = 1 // a space between the text and the filler
	}
	if extra := min(pad, maxLen-len(text)) - sep; extra > 0 {
		dst = append(dst, " "[:sep]...)
		dst = appendFiller(dst, extra)
		pad -= extra + sep
	}
	return append(dst, '"'), pad
}

// appendNumber appends a JSON number rounded to the given decimals.
func appendNumber(dst []byte, v float64, decimals int) []byte {
	p := math.Pow10(decimals)
	return strconv.AppendFloat(dst, math.Round(v*p)/p, 'f', -1, 64)
}

// keyName returns prefix followed by the key, zero-padded to six digits.
func keyName(prefix string, key int) string {
	s := strconv.Itoa(key)
	if len(s) < 6 {
		s = strings.Repeat("0", 6-len(s)) + s
	}
	return prefix + s
}

// Vocabulary of the built-in event types; countries and currencies are those of the enrich step's default
// reference data.
var (
	pages = []struct{ path, title string }{
		{"/", "Home"}, {"/products/trail-runner-2", "Trail Runner 2"}, {"/products/merino-socks", "Merino Socks"},
		{"/products/rain-shell", "Rain Shell Jacket"}, {"/products/daypack-22", "Daypack 22 L"},
		{"/category/shoes", "Shoes"}, {"/category/outdoor", "Outdoor"}, {"/search", "Search results"},
		{"/cart", "Your cart"}, {"/checkout", "Checkout"}, {"/account/orders", "Your orders"}, {"/help/returns", "Returns"},
	}
	referrers = []string{"https://www.example.org/search?q=trail+shoes", "https://news.example.net/outdoor-gear-2026",
		"https://social.example.com/post/8812", "https://shop.example.com/"}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
	}
	countries  = []string{"US", "DE", "GB", "FR", "NL", "SE", "CH", "CA", "BR", "IN", "JP", "AU"}
	currencies = []string{"EUR", "USD", "GBP", "CHF", "SEK", "JPY", "CAD", "AUD"}
	skus       = []struct {
		sku   string
		price float64
	}{{"TR2-42-BLU", 149.9}, {"SOCK-MERINO-M", 20}, {"SHELL-L-RED", 219}, {"PACK-22-GRY", 89.5}, {"CAP-WOOL", 24.9},
		{"BOTTLE-750", 19.95}, {"GLOVE-M", 34}, {"LAMP-HEAD", 59}}
	payments = []string{"card", "card", "card", "paypal", "bank_transfer", "gift_card"}
	metrics  = []struct {
		metric, unit string
		mean, sd     float64
	}{{"temperature", "celsius", 21, 4}, {"humidity", "percent", 45, 12}, {"pressure", "hpa", 1013, 9}, {"co2", "ppm", 650, 180}}
)

// builders returns the built-in event types: one per schema of the embedded registry.
func builders() []typeBuilder {
	return []typeBuilder{
		{name: "page_view", weight: 6, source: []string{"https://shop.example.com/web", "https://shop.example.com/app"}, draw: drawPageView},
		{name: "purchase", weight: 1, source: []string{"https://shop.example.com/checkout"}, draw: drawPurchase},
		{name: "sensor_reading", weight: 3, source: []string{"urn:sdp:plant:hamburg:line-3", "urn:sdp:plant:lyon:line-1"}, draw: drawSensorReading},
	}
}

// drawPageView draws a page_view; its padding goes to the title, then the user agent.
func drawPageView(r *rand.Rand, key int) (string, func([]byte, int) ([]byte, int)) {
	page := pages[r.IntN(len(pages))]
	referrer := ""
	if r.IntN(3) == 0 {
		referrer = referrers[r.IntN(len(referrers))]
	}
	session := r.Uint32()
	ua := userAgents[r.IntN(len(userAgents))]
	country := countries[r.IntN(len(countries))]
	duration := int(r.ExpFloat64() * 30000)
	scroll := r.Float64()
	return keyName("visitor-", key), func(dst []byte, pad int) ([]byte, int) {
		dst = append(dst, `{"url":"https://shop.example.com`...)
		dst = append(dst, page.path...)
		dst = append(dst, `","session_id":"s-`...)
		dst = strconv.AppendUint(dst, uint64(session), 16)
		dst = append(dst, '"')
		if referrer != "" {
			dst = append(dst, `,"referrer":"`...)
			dst = append(dst, referrer...)
			dst = append(dst, '"')
		}
		dst, pad = appendText(dst, "title", page.title, 512, pad)
		dst, pad = appendText(dst, "user_agent", ua, 512, pad)
		dst = append(dst, `,"country":"`...)
		dst = append(dst, country...)
		dst = append(dst, `","duration_ms":`...)
		dst = strconv.AppendInt(dst, int64(min(duration, 86400000)), 10)
		dst = append(dst, `,"scroll_depth":`...)
		dst = appendNumber(dst, scroll, 2)
		return append(dst, '}'), pad
	}
}

// drawPurchase draws a purchase whose amount is the sum of its items; its padding goes to the coupon.
func drawPurchase(r *rand.Rand, key int) (string, func([]byte, int) ([]byte, int)) {
	order := r.Uint64() % 1e9
	currency := currencies[r.IntN(len(currencies))]
	payment := payments[r.IntN(len(payments))]
	type line struct {
		sku   string
		qty   int
		price float64
	}
	lines := make([]line, 1+r.IntN(4))
	amount, count := 0.0, 0
	for i := range lines {
		s := skus[r.IntN(len(skus))]
		lines[i] = line{s.sku, 1 + r.IntN(3), s.price}
		amount += float64(lines[i].qty) * s.price
		count += lines[i].qty
	}
	coupon := ""
	if r.IntN(5) == 0 {
		coupon = "WINTER26"
	}
	return keyName("customer-", key), func(dst []byte, pad int) ([]byte, int) {
		dst = append(dst, `{"order_id":"ord-`...)
		dst = strconv.AppendUint(dst, order, 10)
		dst = append(dst, `","currency":"`...)
		dst = append(dst, currency...)
		dst = append(dst, `","amount":`...)
		dst = appendNumber(dst, amount, 2)
		dst = append(dst, `,"item_count":`...)
		dst = strconv.AppendInt(dst, int64(count), 10)
		dst = append(dst, `,"payment_method":"`...)
		dst = append(dst, payment...)
		dst = append(dst, '"')
		if coupon != "" || pad > 0 {
			dst, pad = appendText(dst, "coupon", coupon, 64, pad)
		}
		dst = append(dst, `,"items":[`...)
		for i, l := range lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"sku":"`...)
			dst = append(dst, l.sku...)
			dst = append(dst, `","quantity":`...)
			dst = strconv.AppendInt(dst, int64(l.qty), 10)
			dst = append(dst, `,"unit_price":`...)
			dst = appendNumber(dst, l.price, 2)
			dst = append(dst, '}')
		}
		return append(dst, "]}"...), pad
	}
}

// drawSensorReading draws a sensor_reading; its padding goes to the firmware string.
func drawSensorReading(r *rand.Rand, key int) (string, func([]byte, int) ([]byte, int)) {
	m := metrics[r.IntN(len(metrics))]
	value := m.mean + r.NormFloat64()*m.sd
	battery := 100 * math.Sqrt(r.Float64())
	firmware := "3.4." + strconv.Itoa(r.IntN(4))
	device := keyName("device-", key)
	return device, func(dst []byte, pad int) ([]byte, int) {
		dst = append(dst, `{"device_id":"`...)
		dst = append(dst, device...)
		dst = append(dst, `","metric":"`...)
		dst = append(dst, m.metric...)
		dst = append(dst, `","value":`...)
		dst = appendNumber(dst, max(value, 0), 2)
		dst = append(dst, `,"unit":"`...)
		dst = append(dst, m.unit...)
		dst = append(dst, `","battery_pct":`...)
		dst = appendNumber(dst, battery, 1)
		dst, pad = appendText(dst, "firmware", firmware, 32, pad)
		return append(dst, '}'), pad
	}
}
