// Package stream holds what the platform's stream stages share, whatever runs the stream: Kinesis's mapping of
// partition keys to shards (MD5 hash keys and the even hash key ranges CreateStream assigns) and a batch
// processor for Lambda-style consumers that reports partial batch failures for Kinesis and SQS events.
//
// The adapters live in sub-packages: the embedded sharded log (stream/shardlog), the dead-letter queue
// (stream/dlq), the event source mapping and the consumer. They meet the rest of the platform through the leaf
// package event and through the small interfaces each of them defines.
package stream
