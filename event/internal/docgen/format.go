package docgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// formatValue returns a string valid for the format. Dates and times keep to what Go's time.Parse accepts
// for RFC 3339 too (upper-case T and Z, seconds below 60), so that valid documents also decode; the
// format's other valid spellings are left to formatMiss.
func formatValue(r *rand.Rand, format string) string {
	switch format {
	case "date-time":
		return date(r) + "T" + clock(r)
	case "date":
		return date(r)
	case "time":
		return clock(r)
	case "uri":
		return uri(r)
	case "uri-reference":
		if r.IntN(2) == 0 {
			return uri(r)
		}
		return relativeRef(r)
	case "uuid":
		return uuid(r)
	}
	return ""
}

// date returns a valid full-date between 1970 and 2099.
func date(r *rand.Rand) string {
	y, m := 1970+r.IntN(130), 1+r.IntN(12)
	days := time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return fmt.Sprintf("%04d-%02d-%02d", y, m, 1+r.IntN(days))
}

// clock returns a valid full-time: hh:mm:ss, an optional fraction, then Z or an offset.
func clock(r *rand.Rand) string {
	s := fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60))
	if r.IntN(3) == 0 {
		s += "." + digits(r, 1+r.IntN(9))
	}
	if r.IntN(3) == 0 {
		return s + offset(r, 14)
	}
	return s + "Z"
}

// offset returns a numeric offset of at most maxHours hours.
func offset(r *rand.Rand, maxHours int) string {
	return fmt.Sprintf("%c%02d:%02d", "+-"[r.IntN(2)], r.IntN(maxHours+1), 15*r.IntN(4))
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

func word(r *rand.Rand, lo, hi int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, lo+r.IntN(hi-lo+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// hosts are authorities of valid URIs: names, IPv4, bracketed IPv6, ports.
var hosts = []string{
	"example.com", "shop.example.com", "a-b.example.org", "127.0.0.1", "[::1]", "[2001:db8::1]:8443",
	"example.com:8080", "xn--bcher-kva.example", "user@example.net", "localhost",
}

// uri returns a valid absolute URI.
func uri(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return "urn:uuid:" + uuid(r)
	case 1:
		return "mailto:" + word(r, 1, 8) + "@example.com"
	}
	var sb strings.Builder
	sb.WriteString([]string{"https", "http", "s3", "ftp"}[r.IntN(4)] + "://")
	sb.WriteString(hosts[r.IntN(len(hosts))])
	for range r.IntN(4) {
		sb.WriteString("/" + word(r, 1, 10))
		if r.IntN(6) == 0 {
			sb.WriteString("%20" + word(r, 1, 3))
		}
	}
	if r.IntN(3) == 0 {
		sb.WriteString("?" + word(r, 1, 5) + "=" + word(r, 0, 5))
	}
	if r.IntN(4) == 0 {
		sb.WriteString("#" + word(r, 0, 6))
	}
	return sb.String()
}

// relativeRef returns a valid relative reference.
func relativeRef(r *rand.Rand) string {
	w := word(r, 1, 8)
	return []string{"/" + w, w + "/" + w, "../" + w, "?q=" + w, "#" + w, "//example.com/" + w, "./" + w, w}[r.IntN(8)]
}

// uuid returns a random UUID in its hyphenated form.
func uuid(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := []byte("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx")
	for i, c := range b {
		if c == 'x' {
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

// formatMiss returns a string at the edge of the format: some valid only under a strict reading of the
// format's RFC (lower-case t and z, offsets of 23:59, leap seconds at 23:59:60 UTC), most invalid.
func formatMiss(r *rand.Rand, format string) string {
	switch format {
	case "date-time":
		return dateTimeMiss(r)
	case "date":
		return pick(r, dateMisses)
	case "time":
		t := strings.TrimPrefix(dateTimeMiss(r), "2026-11-26T")
		return strings.TrimPrefix(t, "2026-11-26t")
	case "uri":
		return pick(r, uriMisses)
	case "uri-reference":
		if r.IntN(2) == 0 {
			return pick(r, uriMisses)
		}
		return pick(r, uriReferenceMisses)
	case "uuid":
		return pick(r, uuidMisses)
	}
	return ""
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

// dateMisses are full-dates at the edge of validity: February 30th, February 29th of a common year and of
// a leap year (valid), month 13 and 0, day 0, a one-digit month (the first seven are used in date-times),
// then a two-digit year, slashes, a trailing T, full-width digits, a five-digit year, year 0 (valid) and a
// trailing space.
var dateMisses = []string{
	"2026-02-30", "2025-02-29", "2024-02-29", "2026-13-01", "2026-00-10", "2026-11-00", "2026-1-05",
	"26-11-26", "2026/11/26", "2026-11-26T", "２０２６-11-26", "12026-11-26", "0000-01-01", "2026-11-26 ",
}

// dateTimeMiss returns a date-time at the edge of validity.
func dateTimeMiss(r *rand.Rand) string {
	d, t := "2026-11-26", fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60))
	switch r.IntN(20) {
	case 0: // lower-case separators: valid (RFC 3339 allows them), though time.Parse refuses them
		return d + "t" + t + "z"
	case 1: // the widest offsets, and the "unknown local offset" -00:00: valid
		return d + "T" + t + []string{"+23:59", "-23:59", "-00:00", "+00:00"}[r.IntN(4)]
	case 2: // a leap second at the end of a UTC day: valid for the format, refused by time.Parse
		return d + "T23:59:60" + []string{"Z", "z", ".5Z", "+00:00"}[r.IntN(4)]
	case 3: // a leap second at noon: invalid
		return d + "T12:00:60Z"
	case 4: // leap seconds whose validity depends on the offset (23:59 UTC or not), and second 61
		return d + []string{"T23:59:60+01:00", "T15:59:60-08:00", "T00:59:60+01:00", "T23:59:61Z"}[r.IntN(4)]
	case 5: // no seconds: invalid
		return d + "T" + t[:5] + "Z"
	case 6: // an impossible or malformed date (February 30th, month 13, day 0, one-digit month)
		return pick(r, dateMisses[:7]) + "T" + t + "Z"
	case 7: // a space for the T, as RFC 3339 notes but the format refuses
		return d + " " + t + "Z"
	case 8: // no offset at all
		return d + "T" + t
	case 9: // fractions: empty, longer than nanoseconds (valid), with a comma, twice
		return d + "T" + t + []string{".Z", ".123456789012Z", ",5Z", ".5.5Z"}[r.IntN(4)]
	case 10: // hour 24, minute 60, a negative hour
		return d + []string{"T24:00:00Z", "T23:60:00Z", "T-1:00:00Z"}[r.IntN(3)]
	case 11: // malformed offsets; "++1:00" has the right length and a sign before the hour digits
		return d + "T" + t + []string{"+24:00", "+0100", "+01:00 ", "Z\n", "+01:60", "+1:00", "++1:00", "UTC"}[r.IntN(8)]
	case 12: // a sign inside a two-character field, which a lenient integer parser reads as a number
		return d + []string{"T+9:15:02Z", "T09:+5:02Z", "T09:15:+2Z"}[r.IntN(3)]
	case 13: // full-width digits: the right number of characters, not of bytes
		return "２０２６-11-26T" + t + "Z"
	case 14: // something after the offset
		return d + "T" + t + "Z" + []string{" ", "x", "Z"}[r.IntN(3)]
	case 15: // a fraction of up to 20 digits: valid
		return d + "T" + t + "." + digits(r, 1+r.IntN(20)) + "Z"
	case 16: // any offset up to 23 hours: valid
		return d + "T" + t + offset(r, 23)
	case 17: // the epoch, which decoders may take for a zero time
		return "1970-01-01T00:00:00Z"
	case 18: // a full-width Z
		return d + "T" + t + "Ｚ"
	default: // the basic format of ISO 8601 (no colons), which RFC 3339 does not allow
		return d + "T" + t[:2] + t[3:5] + t[6:] + "Z"
	}
}

// uriMisses are URIs and near-URIs: spaces (in the host, the path, the user information), bad percent
// escapes (in the path, the query, the fragment), no scheme (a relative reference, valid only as a
// uri-reference), IPv6 hosts (bracketed, with a zone, unbracketed, malformed, too long, unclosed),
// fragments (one with a second #), upper-case schemes, a scheme starting with a digit or missing before
// the colon, ports out of range or not numeric, a tab and DEL, non-ASCII hosts and paths, an empty host,
// a backslash.
var uriMisses = []string{
	" https://example.com/", "https://exa mple.com/", "https://example.com/a b", "https://example.com/%zz",
	"https://example.com/%2", "example.com/path", "//example.com/x", "https://[::1]:8080/p",
	"https://[fe80::1%25eth0]/", "https://::1/", "https://[::g]/", "https://[1:2:3:4:5:6:7:8:9]/",
	"https://example.com/#frag", "https://example.com/#a#b", "https://example.com/p?q#f", "mailto:ops@example.com",
	"urn:isbn:0451450523", "HTTPS://EXAMPLE.COM/", ":foo", "1http://x", "https://example.com:port/",
	"https://example.com:99999/", "http://user:pa ss@host/", "https://example.com/\t", "https://exaémple.com/",
	"https://example.com/é", "http:///path", "a:b", "https:", "https://example.com\\path", "https://[::1/",
	"https://example.com/%41", "https://example.com/?q=%zz", "http://[::ffff:127.0.0.1]/", "http://1.2.3.4.5/",
	"https://example.com/#%zz", "https://example.com/\x7f", "https://xn--.com/",
}

// uriReferenceMisses are references at the edge of validity: backslashes (invalid for the format, whatever
// a URL parser makes of them), spaces, the empty reference (valid), bad escapes, colons in the first
// segment, network-path references with IPv6 hosts, two fragments, dot segments and non-ASCII text.
var uriReferenceMisses = []string{
	"\\path", "https://example.com\\x", "/a b", "../x", "?q", "#f", "", " ", "%zz", "a:b:c", "://x",
	"/p\\q", "//[::1]/x", "//::1/x", "#a#b", "/%41", "é", "/a/./b/../c",
}

// uuidMisses are UUIDs at the edge of validity: upper case (valid), no hyphens, braces, a non-hex digit,
// a digit short, the nil UUID (valid).
var uuidMisses = []string{
	"9B2F6F0E-4D0A-4C55-9A51-1F2E7F0C0001", "9b2f6f0e4d0a4c559a511f2e7f0c0001", "{9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0001}",
	"9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c000g", "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c000", "00000000-0000-0000-0000-000000000000",
}
