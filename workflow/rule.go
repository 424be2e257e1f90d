package workflow

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is a processing rule: an event whose value at Pointer equals Equals, or starts with Prefix, fails
// enrichment with ErrorRuleViolation. Operators use rules to quarantine a misbehaving producer or device: its
// events go to the dead-letter queue instead of the curated table.
//
// A string value compares by its text; a number, boolean or null compares by its JSON text (so "/data/value"
// equals "42" matches the number 42). Objects, arrays and absent values never match.
type Rule struct {
	// Name identifies the rule in the failure's cause.
	Name string `json:"name"`
	// Pointer is a JSON Pointer (RFC 6901) into the event, such as "/subject" or "/data/device_id".
	Pointer string `json:"pointer"`
	// Equals matches a value equal to it; Prefix matches a value starting with it. An empty one is not used.
	Equals string `json:"equals,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// ErrInvalidRule is wrapped by the errors of ParseRule and Rule.Validate.
var ErrInvalidRule = errors.New("invalid rule")

// ruleSyntax is the form ParseRule accepts, for error messages.
const ruleSyntax = "want name:/pointer=value or name:/pointer^=prefix"

// ParseRule parses a rule in the form of a command-line flag: "name:/pointer=value" (the value at the
// pointer equals value) or "name:/pointer^=prefix" (it starts with prefix). The pointer ends at the first
// "=" or "^="; the value is the rest, taken as it is. For example:
//
//	quarantine-device:/data/device_id=device-ht-0042
//	block-test-sources:/source^=urn:test:
func ParseRule(s string) (Rule, error) {
	name, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Rule{}, fmt.Errorf("%w %q: no ':' after the name; %s", ErrInvalidRule, s, ruleSyntax)
	}
	i := strings.IndexByte(rest, '=')
	if i < 0 {
		return Rule{}, fmt.Errorf("%w %q: no '=' or '^=' after the pointer; %s", ErrInvalidRule, s, ruleSyntax)
	}
	r := Rule{Name: name}
	if i > 0 && rest[i-1] == '^' {
		r.Pointer, r.Prefix = rest[:i-1], rest[i+1:]
	} else {
		r.Pointer, r.Equals = rest[:i], rest[i+1:]
	}
	if err := r.Validate(); err != nil {
		return Rule{}, fmt.Errorf("%q: %w; %s", s, err, ruleSyntax)
	}
	return r, nil
}

// Validate reports what makes r unusable: no name, a name with ':' or spaces, a pointer that is not a JSON
// Pointer to a member or that ParseRule's form cannot carry (one with '=' or ending with '^'), or neither an
// Equals nor a Prefix value.
func (r Rule) Validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidRule)
	case strings.ContainsAny(r.Name, ": \t\r\n"):
		return fmt.Errorf("%w: name %q has ':' or white space", ErrInvalidRule, r.Name)
	case !strings.HasPrefix(r.Pointer, "/"):
		return fmt.Errorf("%w %q: pointer %q must start with '/'", ErrInvalidRule, r.Name, r.Pointer)
	case strings.Contains(r.Pointer, "=") || strings.HasSuffix(r.Pointer, "^"):
		return fmt.Errorf("%w %q: pointer %q contains '=' or ends with '^'", ErrInvalidRule, r.Name, r.Pointer)
	case r.Equals == "" && r.Prefix == "":
		return fmt.Errorf("%w %q: empty value to match", ErrInvalidRule, r.Name)
	}
	for tok := range strings.SplitSeq(r.Pointer[1:], "/") {
		if err := checkToken(tok); err != nil {
			return fmt.Errorf("%w %q: pointer %q: %w", ErrInvalidRule, r.Name, r.Pointer, err)
		}
	}
	return nil
}

// String returns the rule in ParseRule's form.
func (r Rule) String() string {
	if r.Equals != "" {
		return r.Name + ":" + r.Pointer + "=" + r.Equals
	}
	return r.Name + ":" + r.Pointer + "^=" + r.Prefix
}

// match reports whether the value v (found at the pointer) makes the rule fire, and how, for the cause.
func (r *Rule) match(v string) (string, bool) {
	if r.Equals != "" && v == r.Equals {
		return fmt.Sprintf("rule %q: %s equals %q", r.Name, r.Pointer, r.Equals), true
	}
	if r.Prefix != "" && strings.HasPrefix(v, r.Prefix) {
		return fmt.Sprintf("rule %q: %s has prefix %q", r.Name, r.Pointer, r.Prefix), true
	}
	return "", false
}

// checkToken checks a pointer's reference token: '~' only as "~0" or "~1".
func checkToken(tok string) error {
	for i := 0; i < len(tok); i++ {
		if tok[i] == '~' && (i+1 == len(tok) || (tok[i+1] != '0' && tok[i+1] != '1')) {
			return fmt.Errorf("bad escape in %q: '~' must be followed by 0 or 1", tok)
		}
	}
	return nil
}

// unescapeToken decodes a reference token's "~1" and "~0".
func unescapeToken(tok string) string {
	if !strings.Contains(tok, "~") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}
