package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// maxInvokePayload is Lambda's limit for a synchronous invocation's request and response.
const maxInvokePayload = 6 * 1024 * 1024

// function is a Lambda function of local mode: the same handler AWS runs, with the settings of the template.
//
// Like a Lambda execution environment, a handler serves one invocation at a time (the aws-lambda-go handler
// reuses its response buffer between calls), so concurrent invocations each take a handler from a pool of
// environments that grows as needed.
type function struct {
	name         string
	arn          string
	timeout      time.Duration
	environments sync.Pool // of lambda.Handler
}

// newFunction makes a function whose execution environments are made by newHandler as invocations need them.
func newFunction(name, arn string, timeout time.Duration, newHandler func() lambda.Handler) *function {
	f := &function{name: name, arn: arn, timeout: timeout}
	f.environments.New = func() any { return newHandler() }
	return f
}

// invoke calls the function in-process with a Lambda context (request id, function ARN, deadline).
func (f *function) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: event.NewID(), InvokedFunctionArn: f.arn})
	ctx = telemetry.Invocation(ctx, f.name)
	h := f.environments.Get().(lambda.Handler)
	out, err := h.Invoke(ctx, payload)
	out = bytes.Clone(out) // the handler's buffer is reused by its next invocation
	f.environments.Put(h)
	return out, err
}

// Invoke lets a function serve as a workflow task or any other in-process caller.
func (f *function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f.invoke(ctx, payload)
}

// invokeAPI answers the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations) as Lambda does, so
// `aws lambda invoke --endpoint-url` and the AWS SDKs work against local mode.
type invokeAPI struct {
	functions map[string]*function
	region    string
	account   string
	log       *slog.Logger
	// background runs Event (asynchronous) invocations; it is the stack's context. async counts those in
	// flight, so that shutdown waits for them.
	background context.Context
	async      *sync.WaitGroup
}

// ServeHTTP answers one Invoke call. It follows the service's rules in this order: the function must exist
// (404 ResourceNotFoundException), the payload must be at most 6 MB (413 RequestTooLargeException) and JSON
// (400 InvalidRequestContentException); then X-Amz-Invocation-Type picks a synchronous call (200 with the
// function's answer, or its error marked by X-Amz-Function-Error), an asynchronous one (202) or a dry run (204).
func (a *invokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		lambdaError(w, http.StatusMethodNotAllowed, "InvalidRequestContentException", "use POST to invoke a function")
		return
	}
	name := r.PathValue("name")
	fn := a.lookup(name)
	if fn == nil {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException",
			fmt.Sprintf("Function not found: arn:aws:lambda:%s:%s:function:%s", a.region, a.account, name))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxInvokePayload+1))
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "cannot read the request body: "+err.Error())
		return
	}
	if len(payload) > maxInvokePayload {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", maxInvokePayload))
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if !json.Valid(payload) {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException",
			"Could not parse request body into json: the payload is not valid JSON")
		return
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		a.async.Go(func() {
			if _, err := fn.invoke(context.WithoutCancel(a.background), payload); err != nil {
				a.log.Warn("asynchronous invocation failed", "function", fn.name, "error", err)
			}
		})
		w.WriteHeader(http.StatusAccepted)
		return
	case "", "RequestResponse":
	default:
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("X-Amz-Invocation-Type %q: use RequestResponse, Event or DryRun", typ))
		return
	}
	out, err := fn.invoke(r.Context(), payload)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		body, _ := json.Marshal(struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}{errorMessage(err), errorType(err)})
		w.WriteHeader(http.StatusOK)
		w.Write(body)
		return
	}
	if len(out) > maxInvokePayload {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"errorMessage":"Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).","errorType":"Function.ResponseSizeTooLarge"}`, len(out), maxInvokePayload)
		return
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// lookup accepts a function's name, its ARN, or a partial ARN, with an optional qualifier.
func (a *invokeAPI) lookup(name string) *function {
	return a.functions[functionName(name)]
}

// functionName returns the name in a function's name, full or partial ARN, without its qualifier.
func functionName(s string) string {
	if i := strings.LastIndex(s, ":function:"); i >= 0 {
		s = s[i+len(":function:"):]
	} else {
		s = strings.TrimPrefix(s, "function:")
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}

// localLambda is the Lambda port of the workflow interpreter over local mode's functions: a Task state
// invokes the same function, with the same error shapes, as the Invoke API would.
type localLambda map[string]*function

var _ asl.Lambda = localLambda(nil)

// Invoke calls the named function. A function's error is an *asl.FunctionError with the type the Lambda
// runtime would report; an unknown function is Lambda.ResourceNotFoundException, an oversized payload
// Lambda.RequestTooLargeException.
func (l localLambda) Invoke(ctx context.Context, name string, payload []byte) ([]byte, error) {
	fn := l[functionName(name)]
	if fn == nil {
		return nil, asl.Errorf(asl.ErrorLambdaResourceNotFound, "Function not found: %s", name)
	}
	if len(payload) > maxInvokePayload {
		return nil, asl.Errorf(asl.ErrorLambdaRequestTooLarge,
			"Request must be smaller than %d bytes for the InvokeFunction operation", maxInvokePayload)
	}
	out, err := fn.invoke(ctx, payload)
	if err != nil {
		return nil, &asl.FunctionError{Type: errorType(err), Message: errorMessage(err)}
	}
	return out, nil
}

// lambdaError writes an error of the Lambda service itself (not of the function), as the service does.
func lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	body, _ := json.Marshal(struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}{"User", msg})
	w.Write(body)
}

// errorType names an error as the Lambda Go runtime does: the Type of a messages.InvokeResponse_Error, else
// the name of the error's dynamic type.
func errorType(err error) string {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return ive.Type
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "error"
	}
	return t.Name()
}

// errorMessage is an error's errorMessage as the Lambda Go runtime reports it.
func errorMessage(err error) string {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return ive.Message
	}
	return err.Error()
}
