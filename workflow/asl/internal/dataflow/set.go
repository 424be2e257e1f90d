package dataflow

import (
	"fmt"
	"maps"
)

// Set returns doc with v placed at reference path p, as ResultPath does: "$" replaces doc with v; other paths
// copy doc along the path (never mutating it), creating objects for missing names. Only the objects and arrays
// on the path are copied (raw ones decoded one level: their members stay raw); everything else is shared with
// doc.
//
// Placing a name into a value that is not an object (null included), or an index into a value that is not an
// array or out of its range, is a States.ResultPathMatchFailure *Error. p must come from ParseReferencePath
// (any definite input path works).
func Set(doc any, p *Path, v any) (any, error) {
	if p.root != rootInput || !p.definite || p.length {
		return nil, fmt.Errorf("path %q: %w: not a reference path", p.src, ErrSyntax)
	}
	out, ok := setAt(doc, true, p.steps, v)
	if !ok {
		return nil, &Error{
			Name:  StatesResultPathMatchFailure,
			Cause: fmt.Sprintf("Unable to apply ReferencePath %s to input %s", p.src, jsonForMessage(doc)),
		}
	}
	return out, nil
}

// setAt returns node with v placed at steps; present says whether node exists (a missing member becomes a new
// object when a name is placed into it).
func setAt(node any, present bool, steps []step, v any) (any, bool) {
	if len(steps) == 0 {
		return v, true
	}
	st := steps[0]
	// A raw object or array on the path is decoded one level and copied like a decoded one.
	node = Resolve(node)
	if st.isIndex {
		arr, ok := node.([]any)
		if !ok {
			return nil, false
		}
		i := st.index
		if i < 0 {
			i += len(arr)
		}
		if i < 0 || i >= len(arr) {
			return nil, false
		}
		child, ok := setAt(arr[i], true, steps[1:], v)
		if !ok {
			return nil, false
		}
		out := make([]any, len(arr))
		copy(out, arr)
		out[i] = child
		return out, true
	}
	var obj map[string]any
	if present {
		var ok bool
		if obj, ok = node.(map[string]any); !ok {
			return nil, false
		}
	}
	old, had := obj[st.name]
	child, ok := setAt(old, had, steps[1:], v)
	if !ok {
		return nil, false
	}
	out := make(map[string]any, len(obj)+1)
	maps.Copy(out, obj)
	out[st.name] = child
	return out, true
}
