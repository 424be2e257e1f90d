package asl

import (
	"encoding/json"
	"reflect"
	"unsafe"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// History event types, as Step Functions names them.
const (
	EventExecutionStarted        = "ExecutionStarted"
	EventExecutionSucceeded      = "ExecutionSucceeded"
	EventExecutionFailed         = "ExecutionFailed"
	EventExecutionTimedOut       = "ExecutionTimedOut"
	EventExecutionAborted        = "ExecutionAborted"
	EventTaskScheduled           = "TaskScheduled"
	EventTaskStarted             = "TaskStarted"
	EventTaskSucceeded           = "TaskSucceeded"
	EventTaskFailed              = "TaskFailed"
	EventTaskTimedOut            = "TaskTimedOut"
	EventLambdaFunctionScheduled = "LambdaFunctionScheduled"
	EventLambdaFunctionStarted   = "LambdaFunctionStarted"
	EventLambdaFunctionSucceeded = "LambdaFunctionSucceeded"
	EventLambdaFunctionFailed    = "LambdaFunctionFailed"
	EventLambdaFunctionTimedOut  = "LambdaFunctionTimedOut"
	EventMapStateStarted         = "MapStateStarted"
	EventMapStateSucceeded       = "MapStateSucceeded"
	EventMapStateFailed          = "MapStateFailed"
	EventMapStateAborted         = "MapStateAborted"
	EventMapIterationStarted     = "MapIterationStarted"
	EventMapIterationSucceeded   = "MapIterationSucceeded"
	EventMapIterationFailed      = "MapIterationFailed"
	EventMapIterationAborted     = "MapIterationAborted"
	EventParallelStateStarted    = "ParallelStateStarted"
	EventParallelStateSucceeded  = "ParallelStateSucceeded"
	EventParallelStateFailed     = "ParallelStateFailed"
	EventParallelStateAborted    = "ParallelStateAborted"
)

// noData marks an event field that has no data (as opposed to the JSON null).
type noData struct{}

// emit reports an event of the thread to the observer: it takes the next ID of the execution, links to the
// thread's previous event and encodes in and out (unless they are noData{}) when the observer includes data.
// It returns the event's ID (0 without an observer).
func (t *thread) emit(ev HistoryEvent, in, out any) int64 {
	e := t.e
	if e.obs == nil {
		return 0
	}
	ev.ID = e.ids.Add(1)
	ev.PreviousID = t.prev
	ev.Timestamp = e.clock.Now()
	if e.includeData {
		ev.Input = t.eventData(in)
		ev.Output = t.eventData(out)
	}
	t.prev = ev.ID
	e.obs.Event(e.arn, ev)
	return ev.ID
}

// eventData encodes the data of an event. The encoding of the last object or array is kept: a state's output
// is the next state's input, and a task's input often its state's.
func (t *thread) eventData(v any) json.RawMessage {
	if _, none := v.(noData); none {
		return nil
	}
	var key sizeKey
	switch x := v.(type) {
	case map[string]any:
		key = sizeKey{reflect.ValueOf(x).UnsafePointer(), -1}
	case []any:
		key = sizeKey{unsafe.Pointer(unsafe.SliceData(x)), len(x)}
	case *dataflow.Raw:
		key = sizeKey{unsafe.Pointer(x), -2}
	}
	if key.p != nil && key == t.lastKey {
		return t.lastData
	}
	b, err := marshal(v)
	if err != nil {
		return nil
	}
	if key.p != nil {
		t.lastKey, t.lastData = key, b
	}
	return b
}
