// Package workflow is the workflow stage of the pipeline: the Amazon States Language definition that one
// Step Functions Express execution per consumer batch runs, and the task handlers it calls.
//
// The definition (definition.asl.json, embedded) is the single source of truth: the infrastructure deploys it
// as the Express state machine, and local mode runs the same file with the interpreter of package asl. One
// execution takes an event.Batch and returns an event.BatchResult:
//
//	Enrich -> AnythingCurated? -> Persist -> Analytics -> Done
//	   | catch     | none            | catch      | catch
//	EnrichFailed  Done         PersistFailed  AnalyticsFailed -> MergeFailures -> Failures
//
// Enrich (the Enricher function) decodes and checks each event, applies the processing rules, derives fields
// and looks up reference data; Persist (the Persister function) writes the curated events to the curated table,
// put-if-absent; Analytics (package analytics) counts them. Transient errors are retried by the states' Retry
// policies (backoff with full jitter); a step that still fails is caught and fails exactly the items it was
// given, so the consumer reports exactly those records as batch item failures. Every write is idempotent by
// event id: an execution may be retried or replayed whole without changing the table or the aggregates.
package workflow

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Error names of the item failures an execution reports (event.ItemFailure.Error).
const (
	// ErrorInvalidEvent: the item's event cannot be decoded, or lacks its id, type, source or time.
	ErrorInvalidEvent = "Enrich.InvalidEvent"
	// ErrorRuleViolation: the event matches a processing rule (it is quarantined); the cause names the rule.
	ErrorRuleViolation = "Enrich.RuleViolation"
	// ErrorEnrich: the enrich function failed as a whole, after retries.
	ErrorEnrich = "Enrich.Failed"
	// ErrorPersist: the curated table did not take the event, after retries.
	ErrorPersist = "Persist.Failed"
	// ErrorAnalytics: the analytics function did not count the event, after retries. The event is in the
	// curated table; counting it again later is safe (analytics skips events it has counted).
	ErrorAnalytics = "Analytics.Failed"
)

// Error types of the task functions (Lambda's errorType), which the definition's Retry policies name.
const (
	// ErrorTypeStoreUnavailable: the persist function could not write for a reason that may pass (throttling, a
	// timeout, an unavailable table); the state retries it.
	ErrorTypeStoreUnavailable = "Persist.StoreUnavailable"
	// ErrorTypeInvalidItem: the curated table refuses an item whatever the retries (too large, no id).
	ErrorTypeInvalidItem = "Persist.InvalidItem"
)

// Names of the definition's substitution variables: the ARNs (or, locally, the names) of the functions its
// Task states invoke. The SAM template sets them with DefinitionSubstitutions.
const (
	VarEnrichFunction    = "EnrichFunctionArn"
	VarPersistFunction   = "PersistFunctionArn"
	VarAnalyticsFunction = "AnalyticsFunctionArn"
)

//go:embed definition.asl.json
var definition []byte

// Definition returns the state machine definition as deployed, with its ${Name} substitution variables.
func Definition() []byte { return slices.Clone(definition) }

// ErrSubstitution is wrapped by the error of Substitute when a variable has no value.
var ErrSubstitution = errors.New("definition substitution")

// variable matches a definition substitution variable, as CloudFormation's DefinitionSubstitutions do.
var variable = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Substitute replaces each ${Name} of def with vars[Name], as the SAM template's DefinitionSubstitutions do.
// Values are inserted into JSON strings and must not need escaping. A variable without a value is an error
// naming it.
func Substitute(def []byte, vars map[string]string) ([]byte, error) {
	var missing []string
	out := variable.ReplaceAllFunc(def, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := vars[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no value for %v", ErrSubstitution, missing)
	}
	return out, nil
}
