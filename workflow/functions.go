package workflow

import (
	"context"
	"fmt"
)

// notFoundError is the type of ErrFunctionNotFound: invoking a function that does not exist cannot succeed on
// a retry.
type notFoundError struct{}

func (notFoundError) Error() string   { return "function not found" }
func (notFoundError) Permanent() bool { return true }

// ErrFunctionNotFound is wrapped by the error about invoking a function that is not there (Lambda's
// ResourceNotFoundException). It is permanent: the steps do not retry it.
var ErrFunctionNotFound error = notFoundError{}

// FunctionMap is the in-process Functions: each name maps to a handler with the shape of
// lambda.Handler.Invoke (JSON payload in, JSON result out).
type FunctionMap map[string]func(ctx context.Context, payload []byte) ([]byte, error)

var _ Functions = FunctionMap(nil)

// Invoke calls the named function with payload and returns its result. An unknown name gives an error
// wrapping ErrFunctionNotFound; a function's error is returned wrapped with its name.
func (m FunctionMap) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	fn, ok := m[function]
	if !ok {
		return nil, fmt.Errorf("invoke %q: %w", function, ErrFunctionNotFound)
	}
	out, err := fn(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", function, err)
	}
	return out, nil
}
